"""The federation-validating STS of ``qbizfed local aws``.

Handles what moto's STS gets wrong: AssumeRoleWithWebIdentity and
AssumeRoleWithSAML (validated as AWS does, see ``web_identity`` and
``saml_response``; authorised by the role's trust policy, see ``authorization``),
and GetCallerIdentity for the sessions it issued. Every session is recorded in the
``SessionRegistry`` with its tags. Any other STS call returns None so moto answers.

Every refusal is an AWS-style query-protocol error; an unexpected exception becomes
``InternalFailure`` rather than a crash. Tokens and assertions are never logged or
echoed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

from qbizfed.iam.conditions import RequestContext
from qbizfed.local.moto_backend import IamView, RoleView
from qbizfed.local.sessions import IssuedSession, SessionRegistry
from qbizfed.local.sigv4 import SignatureError, SigV4Verifier, request_credential_scope
from qbizfed.local.sts import parameters
from qbizfed.local.sts.authorization import authorize_federation
from qbizfed.local.sts.jwks import JwksCache
from qbizfed.local.sts.refusal import StsRefusalError, access_denied, invalid_token
from qbizfed.local.sts.responses import (
    caller_identity_response,
    saml_response,
    web_identity_response,
)
from qbizfed.local.sts.saml_response import SamlIdentity, validate_saml_response
from qbizfed.local.sts.session_tags import SessionTags, tag_context_keys
from qbizfed.local.sts.web_identity import WebIdentity, validate_web_identity_token
from qbizfed.local.wire import error_response

WEB_IDENTITY = "AssumeRoleWithWebIdentity"
SAML = "AssumeRoleWithSAML"
CALLER_IDENTITY = "GetCallerIdentity"

Clock = Callable[[], datetime]
_log = logging.getLogger(__name__)

# The SigV4 verifier speaks the JSON protocols' codes; STS (query protocol) has its own.
_STS_SIGNATURE_CODES = {
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "ExpiredTokenException": "ExpiredToken",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _form(request: Request) -> dict[str, str]:
    return {key: str(request.values.get(key, "")) for key in request.values}


class FederationSts:
    """The ``ServiceHandler`` for ``sts`` in front of moto."""

    def __init__(
        self,
        *,
        iam: IamView,
        registry: SessionRegistry,
        jwks: JwksCache | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self._iam = iam
        self._registry = registry
        self._jwks = jwks or JwksCache()
        self._clock = clock
        self._verifier = SigV4Verifier(registry=registry, clock=clock)

    @property
    def jwks(self) -> JwksCache:
        return self._jwks

    def reset(self) -> None:
        """Forget cached JWKS (sessions live in the registry, reset by the stack)."""
        self._jwks.reset()

    def operation_name(self, request: Request) -> str | None:
        action = request.values.get("Action")
        return str(action) if action else None

    def handle(self, request: Request) -> Response | None:
        request.get_data(cache=True)  # keep the body for signature checks after form parsing
        action = request.values.get("Action")
        try:
            if action == WEB_IDENTITY:
                return self._assume_role_with_web_identity(_form(request))
            if action == SAML:
                return self._assume_role_with_saml(_form(request))
            if action == CALLER_IDENTITY:
                return self._get_caller_identity(request)
        except StsRefusalError as refusal:
            return error_response(
                "sts", status=refusal.status, code=refusal.code, message=refusal.message
            )
        except Exception as exc:  # never crash on hostile input; never echo it either
            # Only the exception's type: its message or traceback could quote the token.
            _log.error("federation STS failed on %s: %s", action, type(exc).__name__)
            return error_response(
                "sts",
                status=500,
                code="InternalFailure",
                message="The request processing has failed because of an unknown error.",
                sender_fault=False,
            )
        return None

    # -- AssumeRoleWithWebIdentity -------------------------------------------------

    def _assume_role_with_web_identity(self, form: Mapping[str, str]) -> Response:
        role_arn = parameters.role_arn(parameters.required(form, "RoleArn"))
        session_name = parameters.role_session_name(parameters.required(form, "RoleSessionName"))
        token = parameters.required(form, "WebIdentityToken")
        requested = parameters.requested_duration(form.get("DurationSeconds"))
        policy = parameters.session_policy(form.get("Policy"))
        policy_arns = parameters.session_policy_arns(form)
        if form.get("ProviderId"):
            # OAuth 2.0 access tokens of Amazon/Facebook: not an OIDC ID token.
            raise invalid_token("ProviderId is not supported: pass an OpenID Connect ID token.")
        now = self._clock()
        account_id = role_arn.split(":")[4]
        identity = validate_web_identity_token(
            token, providers=self._iam.oidc_providers(account_id), keys=self._jwks, now=now
        )
        role = self._role(role_arn, WEB_IDENTITY)
        context = self._web_identity_context(identity, session_name)
        authorize_federation(
            role=role,
            provider_arn=identity.provider.arn,
            action="sts:" + WEB_IDENTITY,
            context=context,
            passes_tags=bool(identity.tags),
            passes_source_identity=identity.source_identity is not None,
        )
        duration = parameters.check_against_role(requested, role.max_session_duration)
        session = self._issue(
            role,
            session_name,
            duration,
            identity.tags,
            subject=identity.subject,
            federated_by=identity.provider.arn,
            session_policies=(policy, policy_arns),
            now=now,
        )
        return web_identity_response(
            session,
            subject=identity.subject,
            audience=identity.audience,
            provider=identity.issuer,
            source_identity=identity.source_identity,
        )

    @staticmethod
    def _web_identity_context(identity: WebIdentity, session_name: str) -> RequestContext:
        prefix = identity.provider.url
        context = RequestContext(
            {
                f"{prefix}:aud": identity.audience,
                f"{prefix}:sub": identity.subject,
                "aws:FederatedProvider": identity.provider.arn,
                "sts:RoleSessionName": session_name,
                **tag_context_keys(identity.tags),
            }
        )
        if identity.amr:
            context.set(f"{prefix}:amr", identity.amr)
        if identity.source_identity:
            context.set("sts:SourceIdentity", identity.source_identity)
        return context

    # -- AssumeRoleWithSAML --------------------------------------------------------

    def _assume_role_with_saml(self, form: Mapping[str, str]) -> Response:
        role_arn = parameters.role_arn(parameters.required(form, "RoleArn"))
        provider_arn = parameters.saml_provider_arn(parameters.required(form, "PrincipalArn"))
        assertion = parameters.required(form, "SAMLAssertion")
        requested = parameters.requested_duration(form.get("DurationSeconds"))
        policy = parameters.session_policy(form.get("Policy"))
        policy_arns = parameters.session_policy_arns(form)
        if provider_arn.split(":")[4] != role_arn.split(":")[4]:
            raise invalid_token("The SAML provider must be in the same account as the role.")
        provider = self._iam.saml_provider(provider_arn)
        if provider is None:
            # Unconfirmed wording; AWS refuses an unknown PrincipalArn as an invalid token.
            raise invalid_token(f"SAML provider {provider_arn} does not exist in this account.")
        now = self._clock()
        identity = validate_saml_response(assertion, provider=provider, role_arn=role_arn, now=now)
        role = self._role(role_arn, SAML)
        context = self._saml_context(identity, provider_arn)
        authorize_federation(
            role=role,
            provider_arn=provider_arn,
            action="sts:" + SAML,
            context=context,
            passes_tags=bool(identity.tags),
            passes_source_identity=identity.source_identity is not None,
        )
        duration = parameters.check_against_role(requested, role.max_session_duration)
        if identity.duration_cap_seconds is not None:
            duration = min(duration, identity.duration_cap_seconds)
        session = self._issue(
            role,
            identity.session_name,
            duration,
            identity.tags,
            subject=identity.subject,
            federated_by=provider_arn,
            session_policies=(policy, policy_arns),
            now=now,
        )
        return saml_response(
            session,
            subject=identity.subject,
            subject_type=identity.subject_type,
            issuer=identity.issuer,
            audience=identity.audience,
            name_qualifier=identity.name_qualifier,
            source_identity=identity.source_identity,
        )

    @staticmethod
    def _saml_context(identity: SamlIdentity, provider_arn: str) -> RequestContext:
        context = RequestContext(
            {
                "SAML:aud": identity.audience,
                "SAML:sub": identity.subject,
                "SAML:sub_type": identity.subject_type,
                "SAML:iss": identity.issuer,
                "SAML:namequalifier": identity.name_qualifier,
                "aws:FederatedProvider": provider_arn,
                "sts:RoleSessionName": identity.session_name,
                **tag_context_keys(identity.tags),
            }
        )
        if identity.source_identity:
            context.set("sts:SourceIdentity", identity.source_identity)
        return context

    # -- shared --------------------------------------------------------------------

    def _role(self, role_arn: str, operation: str) -> RoleView:
        role = self._iam.role(role_arn)
        if role is None:
            # AWS does not reveal whether the role exists.
            raise access_denied(f"Not authorized to perform sts:{operation}")
        return role

    def _issue(
        self,
        role: RoleView,
        session_name: str,
        duration: int,
        tags: SessionTags,
        *,
        subject: str,
        federated_by: str,
        session_policies: tuple[str | None, tuple[str, ...]],
        now: datetime,
    ) -> IssuedSession:
        return self._registry.issue(
            account_id=role.account_id,
            role_arn=role.arn,
            role_id=role.role_id,
            session_name=session_name,
            duration_seconds=duration,
            tags=tags.tags,
            transitive_tag_keys=tags.transitive_keys,
            federated_by=federated_by,
            subject=subject,
            session_policy=session_policies[0],
            session_policy_arns=session_policies[1],
            now=now,
        )

    # -- GetCallerIdentity ---------------------------------------------------------

    def _get_caller_identity(self, request: Request) -> Response | None:
        key = request_credential_scope(request).access_key_id
        if not key or self._registry.lookup(key) is None:
            return None  # an admin or moto-issued key: moto answers
        try:
            caller = self._verifier.verify(request)
        except SignatureError as exc:
            code = _STS_SIGNATURE_CODES.get(exc.code, exc.code)
            raise StsRefusalError(code, exc.message, status=exc.status) from exc
        if caller.session is None:  # pragma: no cover - the key was looked up above
            return None
        return caller_identity_response(caller.session)
