"""IAM permission policies: statements, documents, and the decision for one request.

Pure functions over data, following the IAM user guide's "Policy evaluation logic" for
a principal in one account: an explicit ``Deny`` in any applicable policy wins; else an
``Allow`` in the identity-based policies grants, and when the session has session
policies (the ``Policy`` / ``PolicyArns`` of an ``AssumeRole*`` call) an ``Allow`` there
is needed too: the effective permissions are the intersection. A statement applies when
its ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), its
``Resource``/``NotResource`` (ARN matching, wildcards within each of the six ARN parts)
and its ``Condition`` (``qbizfed.iam.conditions``) all match.

The local Q Business emulator decides every call of temporary credentials with
:func:`evaluate`; ``qbizfed doctor`` asks the same function whether a role allows the
chat actions, so the two cannot disagree. Not modelled: resource-based policies,
permissions boundaries, SCPs/RCPs, policy variables (``${aws:username}``) in
``Resource``.

Malformed documents raise ``PolicyError`` (IAM would not have stored them); callers
refuse the request rather than guess.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from qbizfed.iam.conditions import (
    Clause,
    PolicyError,
    RequestContext,
    any_arn,
    any_wildcard,
    parse_condition_block,
)

__all__ = [
    "AccessRequest",
    "Decision",
    "PermissionPolicy",
    "PolicyError",
    "PolicyType",
    "RequestContext",
    "Statement",
    "Verdict",
    "action_matches",
    "denial_message",
    "evaluate",
    "listed",
    "string_list",
]


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit-deny"
    EXPLICIT_DENY = "explicit-deny"


class PolicyType(Enum):
    """The policy type an access-denied message names (IAM's wording)."""

    IDENTITY = "identity-based"
    SESSION = "session"


def listed(raw: object, what: str) -> list[object]:
    """A policy element that may be one value or a list of them."""
    if isinstance(raw, list):
        return raw
    if raw is None:
        raise PolicyError(f"{what} is missing")
    return [raw]


def string_list(raw: object, what: str) -> list[str]:
    values = listed(raw, what)
    if not all(isinstance(value, str) for value in values):
        raise PolicyError(f"{what} must be a string or a list of strings")
    return [str(value) for value in values]


def action_matches(patterns: Sequence[str], action: str) -> bool:
    """IAM action matching: case-insensitive, with ``*`` and ``?`` wildcards."""
    return any_wildcard(tuple(patterns), ignore_case=True).fullmatch(action) is not None


@dataclass(frozen=True)
class AccessRequest:
    """One authorization question: may the principal do ``action`` on ``resource``?"""

    action: str
    resource: str
    context: RequestContext


@dataclass(frozen=True)
class Statement:
    """One permission statement, validated."""

    allow: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: tuple[Clause, ...]

    @classmethod
    def parse(cls, raw: object) -> Statement:
        if not isinstance(raw, Mapping):
            raise PolicyError("each Statement must be an object")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError("Effect must be Allow or Deny")
        if ("Action" in raw) == ("NotAction" in raw):
            raise PolicyError("a statement needs exactly one of Action and NotAction")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise PolicyError("a statement needs exactly one of Resource and NotResource")
        if "Principal" in raw or "NotPrincipal" in raw:
            raise PolicyError("an identity-based policy statement cannot name a Principal")
        condition = parse_condition_block(raw.get("Condition"))
        not_action = "NotAction" in raw
        not_resource = "NotResource" in raw
        return cls(
            allow=effect == "Allow",
            actions=tuple(string_list(raw["NotAction" if not_action else "Action"], "Action")),
            not_action=not_action,
            resources=tuple(
                string_list(raw["NotResource" if not_resource else "Resource"], "Resource")
            ),
            not_resource=not_resource,
            condition=condition,
        )

    def applies(self, request: AccessRequest) -> bool:
        action_hit = any_wildcard(self.actions, ignore_case=True).fullmatch(request.action)
        if (action_hit is not None) is self.not_action:
            return False
        resource_hit = any_arn(self.resources).fullmatch(request.resource)
        if (resource_hit is not None) is self.not_resource:
            return False
        return all(clause.holds(request.context) for clause in self.condition)


@dataclass(frozen=True)
class PermissionPolicy:
    """A parsed permission policy document. Build it with :meth:`parse`."""

    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, document: str | Mapping[str, object]) -> PermissionPolicy:
        if isinstance(document, str):
            return _parse_text(document)
        return cls._from_mapping(document)

    @classmethod
    def _from_mapping(cls, document: Mapping[str, object]) -> PermissionPolicy:
        statements = listed(document.get("Statement"), "Statement")
        return cls(statements=tuple(Statement.parse(s) for s in statements))

    def decide(self, request: AccessRequest) -> Decision:
        allowed = False
        for statement in self.statements:
            if not statement.applies(request):
                continue
            if not statement.allow:
                return Decision.EXPLICIT_DENY
            allowed = True
        return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


@lru_cache(maxsize=512)
def _parse_text(document: str) -> PermissionPolicy:
    # IAM stores documents as text and they rarely change: parse each text once, so a
    # request costs only the evaluation (the benchmark in bench/ measures that).
    try:
        parsed = json.loads(document)
    except ValueError as exc:
        raise PolicyError("the policy is not JSON") from exc
    if not isinstance(parsed, Mapping):
        raise PolicyError("the policy must be a JSON object")
    return PermissionPolicy._from_mapping(parsed)


@dataclass(frozen=True)
class Verdict:
    """The outcome, and which policy type refused (for the error message)."""

    decision: Decision
    policy_type: PolicyType = PolicyType.IDENTITY

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


_ALLOWED = Verdict(Decision.ALLOW)


def evaluate(
    request: AccessRequest,
    identity_policies: Sequence[PermissionPolicy],
    session_policies: Sequence[PermissionPolicy] | None = None,
) -> Verdict:
    """IAM's decision for a role session: identity policies ∩ session policies.

    ``session_policies`` is None when the session was issued without any (then the
    identity policies alone decide); an empty sequence would allow nothing.
    """
    identity = [policy.decide(request) for policy in identity_policies]
    if Decision.EXPLICIT_DENY in identity:
        return Verdict(Decision.EXPLICIT_DENY, PolicyType.IDENTITY)
    session = (
        None if session_policies is None else [p.decide(request) for p in session_policies]
    )
    if session is not None and Decision.EXPLICIT_DENY in session:
        return Verdict(Decision.EXPLICIT_DENY, PolicyType.SESSION)
    if Decision.ALLOW not in identity:
        return Verdict(Decision.IMPLICIT_DENY, PolicyType.IDENTITY)
    if session is not None and Decision.ALLOW not in session:
        return Verdict(Decision.IMPLICIT_DENY, PolicyType.SESSION)
    return _ALLOWED


def denial_message(principal_arn: str, request: AccessRequest, verdict: Verdict) -> str:
    """AWS's access-denied wording (IAM user guide, "Troubleshoot access denied error
    messages"), e.g. ``User: <arn> is not authorized to perform: qbusiness:ChatSync on
    resource: <arn> because no identity-based policy allows the qbusiness:ChatSync action``.
    """
    head = (
        f"User: {principal_arn} is not authorized to perform: {request.action} "
        f"on resource: {request.resource}"
    )
    kind = verdict.policy_type.value
    if verdict.decision is Decision.EXPLICIT_DENY:
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{head} with an explicit deny in {article} {kind} policy"
    return f"{head} because no {kind} policy allows the {request.action} action"

