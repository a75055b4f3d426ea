"""A role's trust policy, and whether it lets a federated principal do an action.

IAM's evaluation for a resource-based policy on its own: an explicit ``Deny`` that
applies wins; otherwise an ``Allow`` that applies grants; otherwise the request is
implicitly denied. A statement applies when its principal, action and condition
all match. For web identity and SAML federation the principal is ``Federated``:
the IAM identity provider's ARN (or ``*``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from qbizfed.iam.conditions import PolicyError, RequestContext, evaluate_condition_block
from qbizfed.iam.policy import Decision, action_matches, listed, string_list

__all__ = ["Decision", "FederatedRequest", "TrustPolicy"]


@dataclass(frozen=True)
class FederatedRequest:
    """Who asks (the identity provider's ARN) to do what, with which context."""

    provider_arn: str
    action: str
    context: RequestContext


def _principal_matches(principal: object, provider_arn: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise PolicyError('Principal must be "*" or an object')
    for kind, raw in principal.items():
        values = string_list(raw, f"Principal.{kind}")
        if kind == "Federated" and provider_arn in values:
            return True
        if kind == "AWS" and "*" in values:
            return True
    return False


def _statement_applies(statement: Mapping[str, object], request: FederatedRequest) -> bool:
    if "Principal" in statement:
        principal_ok = _principal_matches(statement["Principal"], request.provider_arn)
    elif "NotPrincipal" in statement:
        principal_ok = not _principal_matches(statement["NotPrincipal"], request.provider_arn)
    else:
        raise PolicyError("a trust policy statement needs a Principal")
    if not principal_ok:
        return False
    if "Action" in statement:
        action_ok = action_matches(string_list(statement["Action"], "Action"), request.action)
    elif "NotAction" in statement:
        action_ok = not action_matches(
            string_list(statement["NotAction"], "NotAction"), request.action
        )
    else:
        raise PolicyError("a statement needs an Action")
    if not action_ok:
        return False
    return evaluate_condition_block(statement.get("Condition"), request.context)


@dataclass(frozen=True)
class TrustPolicy:
    """A parsed trust policy document. Build it with ``TrustPolicy.parse``."""

    statements: tuple[Mapping[str, object], ...]

    @classmethod
    def parse(cls, document: str) -> TrustPolicy:
        try:
            parsed = json.loads(document)
        except ValueError as exc:
            raise PolicyError("the trust policy is not JSON") from exc
        if not isinstance(parsed, Mapping):
            raise PolicyError("the trust policy must be a JSON object")
        statements = listed(parsed.get("Statement"), "Statement")
        checked: list[Mapping[str, object]] = []
        for statement in statements:
            if not isinstance(statement, Mapping):
                raise PolicyError("each Statement must be an object")
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise PolicyError("Effect must be Allow or Deny")
            checked.append(statement)
        return cls(statements=tuple(checked))

    def decide(self, request: FederatedRequest) -> Decision:
        allowed = False
        for statement in self.statements:
            if not _statement_applies(statement, request):
                continue
            if statement["Effect"] == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
        return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
