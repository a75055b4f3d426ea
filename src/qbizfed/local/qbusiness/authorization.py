"""IAM authorization of Q Business calls made with the local STS's temporary credentials.

AWS evaluates the caller's IAM policies before the service does anything else with
the request (after the signature, before identity, subscription or resource checks).
The emulator does the same for every session the local STS issued: the role's
identity-based policies as moto's IAM stores them (inline ``PutRolePolicy`` documents
and the default version of each attached managed policy), intersected with the
session policies of the ``AssumeRoleWith*`` call (``Policy``, ``PolicyArns``), decided
by ``qbizfed.iam.policy`` for each action and resource ARN that
``qbizfed.iam.qbusiness`` says the operation needs. A refusal is
``AccessDeniedException`` with AWS's wording.

Long-term keys (the account administrator, as documented) and moto's own
``AssumeRole`` sessions are not evaluated. The request context carries the global
keys a role session has: ``aws:RequestedRegion``, ``aws:PrincipalArn`` (the role),
``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:userid``,
``aws:PrincipalTag/<key>`` for each session tag, ``aws:FederatedProvider``,
``aws:SourceIp``, ``aws:CurrentTime``, ``aws:EpochTime``. Not supplied (so a
condition on them sees the key as absent): ``aws:ResourceTag/*``,
``aws:SecureTransport`` (the local endpoint is plain http).

The streaming chat endpoint calls :meth:`IamAuthorizer.authorize` with
``qbusiness:Chat`` and the application's ARN; everything else goes through
:meth:`IamAuthorizer.authorize_operation` from the emulator's dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from qbizfed.iam.policy import (
    AccessRequest,
    Decision,
    PermissionPolicy,
    PolicyError,
    RequestContext,
    Verdict,
    denial_message,
    evaluate,
)
from qbizfed.iam.qbusiness import required_permissions
from qbizfed.local.moto_backend import IamPolicies
from qbizfed.local.qbusiness.api_errors import AccessDeniedError
from qbizfed.local.sessions import IssuedSession
from qbizfed.local.sigv4 import Caller


def session_context(
    session: IssuedSession, *, region: str, now: datetime, source_ip: str | None = None
) -> RequestContext:
    """The global condition keys of a request made with ``session``'s credentials."""
    values: dict[str, str] = {
        "aws:RequestedRegion": region,
        "aws:PrincipalArn": session.role_arn,
        "aws:PrincipalAccount": session.account_id,
        "aws:PrincipalType": "AssumedRole",
        "aws:userid": session.assumed_role_id,
        "aws:CurrentTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
    }
    for key, value in session.tags.items():
        values[f"aws:PrincipalTag/{key}"] = value
    if session.federated_by:
        values["aws:FederatedProvider"] = session.federated_by
    if source_ip:
        values["aws:SourceIp"] = source_ip
    return RequestContext(values)


class IamAuthorizer:
    """Decides Q Business calls of local STS sessions by their IAM policies."""

    def __init__(
        self,
        *,
        policies: IamPolicies | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policies = policies or IamPolicies()
        self._clock = clock
        self._contexts: dict[tuple[str, str, str | None, int], RequestContext] = {}
        self.enabled = True
        """Internal switch (the benchmark's baseline); users cannot turn it off."""

    def authorize_operation(
        self,
        caller: Caller,
        operation: str,
        labels: Mapping[str, str],
        *,
        source_ip: str | None = None,
    ) -> None:
        """Raise ``AccessDeniedError`` unless the caller may call ``operation`` with these
        URI labels. Callers without a local STS session pass (administrator keys)."""
        session = caller.session
        if session is None or not self.enabled:
            return
        needed = required_permissions(
            operation, labels, region=caller.region, account_id=session.account_id
        )
        self._check(session, needed, region=caller.region, source_ip=source_ip)

    def authorize(
        self,
        session: IssuedSession,
        action: str,
        resource_arn: str,
        *,
        region: str,
        source_ip: str | None = None,
    ) -> None:
        """Raise ``AccessDeniedError`` unless ``session`` may do ``action`` on
        ``resource_arn`` (e.g. ``qbusiness:Chat`` on the application's ARN)."""
        if self.enabled:
            self._check(session, ((action, resource_arn),), region=region, source_ip=source_ip)

    def _check(
        self,
        session: IssuedSession,
        needed: Sequence[tuple[str, str]],
        *,
        region: str,
        source_ip: str | None,
    ) -> None:
        context = self._context(session, region=region, source_ip=source_ip)
        for action, resource in needed:
            request = AccessRequest(action=action, resource=resource, context=context)
            try:
                verdict = self._decide(session, request)
            except PolicyError as exc:
                # IAM would not hold a policy it cannot evaluate; refuse, and say why.
                raise AccessDeniedError(
                    denial_message(
                        session.assumed_role_arn, request, Verdict(Decision.IMPLICIT_DENY)
                    )
                    + f" (qbizfed local cannot evaluate a policy of this session: {exc})"
                ) from exc
            if not verdict.allowed:
                raise AccessDeniedError(
                    denial_message(session.assumed_role_arn, request, verdict)
                )

    def _context(
        self, session: IssuedSession, *, region: str, source_ip: str | None
    ) -> RequestContext:
        # Everything in a session's context but the time is fixed for its lifetime, and
        # the time keys have a resolution of one second: build it once per second.
        now = self._clock()
        key = (session.access_key_id, region, source_ip, int(now.timestamp()))
        context = self._contexts.get(key)
        if context is None:
            if len(self._contexts) > 4096:
                self._contexts.clear()
            context = session_context(session, region=region, now=now, source_ip=source_ip)
            self._contexts[key] = context
        return context

    def _decide(self, session: IssuedSession, request: AccessRequest) -> Verdict:
        documents = self._policies.role_policies(session.role_arn) or ()
        identity = [PermissionPolicy.parse(document) for document in documents]
        session_policies: list[PermissionPolicy] | None = None
        if session.has_session_policies:
            session_policies = []
            if session.session_policy is not None:
                session_policies.append(PermissionPolicy.parse(session.session_policy))
            for arn in session.session_policy_arns:
                document = self._policies.managed_policy(arn, account_id=session.account_id)
                if document:
                    session_policies.append(PermissionPolicy.parse(document))
        return evaluate(request, identity, session_policies)
