"""Validated identity -> temporary AWS credentials, via STS federation calls.

``StsFederation`` wraps one boto3 STS client (unsigned requests: federation calls carry
the IdP's proof, not AWS credentials; endpoint from ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_STS`` as boto3 resolves it; botocore's *standard* retry mode, which
backs off on throttling). When it builds that client itself, the calls go through
:mod:`qbizfed.aws.unsigned_sts` (botocore's parts without the client's per-call
machinery, same retries and errors). ``assume`` blocks; ``assume_async`` runs the same
call in a thread pool so that an event loop is never blocked.

STS errors become qbizfed errors with the probable cause and fix:

    AwsError (qbizfed.errors)
     +-- StsError                       any other STS refusal (``code`` is AWS's)
          +-- TagSessionNotAllowedError  trust policy lacks sts:TagSession
          +-- RoleTrustError             trust policy refuses this identity
          +-- MissingEmailTagError       no Email session tag reached STS
          +-- TokenAudienceError         client id not on the IAM OIDC provider
          +-- OidcProviderNotFoundError  no IAM OIDC provider with URL == iss
          +-- IdentityTokenExpiredError  ID token or SAML assertion expired
          +-- IdpCommunicationError      STS could not reach the IdP's JWKS
          +-- SamlRoleNotOfferedError    the assertion does not offer the role asked for
          +-- StsThrottledError          still throttled after retries
          +-- StsUnavailableError        STS failed on its side (5xx) after retries
    NetworkError (qbizfed.errors)
     +-- StsUnreachableError            no answer from the STS endpoint

Messages carry AWS's error text with anything token-like redacted; never a token,
assertion, secret or session token.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qbizfed.aws.unsigned_sts import UnsignedStsCalls
from qbizfed.credentials import AwsCredentials
from qbizfed.errors import AwsError, NetworkError
from qbizfed.identity.federated import FederatedIdentity, SamlRole

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_ATTEMPTS = 5


# -- RoleSessionName ----------------------------------------------------------------------

_SESSION_NAME_OK = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
_SESSION_NAME_BAD_CHAR = re.compile(r"[^A-Za-z0-9_+=,.@-]")


def role_session_name(email: str) -> str:
    """A per-user RoleSessionName: the email itself when STS accepts it, else a
    deterministic sanitised form with a short hash suffix (traceable in CloudTrail)."""
    if _SESSION_NAME_OK.match(email):
        return email
    digest = hashlib.sha256(email.encode("utf-8")).hexdigest()[:8]
    cleaned = _SESSION_NAME_BAD_CHAR.sub("-", email).strip("-") or "user"
    return f"{cleaned[: 64 - len(digest) - 1]}-{digest}"


# -- errors -------------------------------------------------------------------------------


class StsError(AwsError):
    """STS refused a federation call; ``code`` is AWS's error code."""


class TagSessionNotAllowedError(StsError):
    """The role's trust policy does not allow ``sts:TagSession`` for this IdP."""


class RoleTrustError(StsError):
    """The role's trust policy does not allow this identity to assume it."""


class MissingEmailTagError(StsError):
    """No Email session tag reached STS (or the trust policy requires one)."""


class TokenAudienceError(StsError):
    """The token's audience (client id) is not registered on the IAM OIDC provider."""


class OidcProviderNotFoundError(StsError):
    """No IAM OIDC provider's URL equals the token's issuer."""


class IdentityTokenExpiredError(StsError):
    """The ID token or SAML assertion expired before STS saw it."""


class IdpCommunicationError(StsError):
    """STS could not fetch the IdP's keys."""


class SamlRoleNotOfferedError(StsError):
    """The SAML assertion does not offer the role that was asked for."""


class StsThrottledError(StsError):
    """STS kept throttling after botocore's retries."""


class StsUnavailableError(StsError):
    """STS failed on its side (HTTP 5xx) even after botocore's retries."""


class StsUnreachableError(NetworkError):
    """The STS endpoint did not answer."""


_TOKENISH = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*|[A-Za-z0-9+/=_-]{80,}")


def _redact(message: str) -> str:
    return _TOKENISH.sub("[redacted]", message)[:500]


def _role_name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]


def translate_sts_error(
    exc: ClientError, *, identity: FederatedIdentity, role_arn: str
) -> StsError:
    """Map an STS ``ClientError`` to the qbizfed error naming the probable fix."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    text = _redact(str(error.get("Message", "")))
    what = f"STS refused {_role_name(role_arn)} ({code}: {text})"
    issuer = identity.issuer
    client_ids = ", ".join(identity.audiences) or "<your client id>"
    lowered = text.lower()
    federated = "sts:AssumeRoleWithWebIdentity" if identity.protocol == "oidc" else (
        "sts:AssumeRoleWithSAML"
    )  # fmt: skip

    if code == "AccessDenied" and "tagsession" in lowered:
        return TagSessionNotAllowedError(
            what,
            code=code,
            remedy=f'the role\'s trust policy lacks sts:TagSession: add "sts:TagSession" next '
            f'to "{federated}" in the statement trusting the IdP (the IdP passes session '
            "tags such as Email, and STS refuses tags the trust policy does not allow)",
        )
    if code == "AccessDenied" and ("requesttag" in lowered or "Email" not in identity.tags):
        return MissingEmailTagError(
            what,
            code=code,
            remedy="the session carries no Email tag: make the IdP release it "
            "(OIDC: the https://aws.amazon.com/tags claim; SAML: the PrincipalTag:Email "
            "attribute); Amazon Q Business identifies users by it",
        )
    if code == "AccessDenied":
        condition = (
            f'StringEquals {{"{issuer.split("://", 1)[-1]}:aud": "{client_ids}"}}'
            if identity.protocol == "oidc"
            else 'StringEquals {"SAML:aud": "<the ACS URL the response was posted to>"}'
        )
        return RoleTrustError(
            what,
            code=code,
            remedy=f"check the trust policy of {_role_name(role_arn)}: Principal.Federated must "
            f"be the IAM identity provider's ARN, Action {federated} (plus sts:TagSession), "
            f"Condition {condition}",
        )
    if "incorrect token audience" in lowered:
        return TokenAudienceError(
            what,
            code=code,
            remedy=f"add client id {client_ids} to the IAM OIDC provider for {issuer} "
            "(aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn "
            f"<arn> --client-id {client_ids.split(', ')[0]})",
        )
    if "no openidconnect provider found" in lowered:
        return OidcProviderNotFoundError(
            what,
            code=code,
            remedy=f"no IAM OIDC provider matches the token's issuer {issuer!r} exactly; create "
            f"one with --url {issuer} (scheme, host, path and trailing slash must match)",
        )
    if code in ("ExpiredTokenException", "ExpiredToken"):
        return IdentityTokenExpiredError(
            what,
            code=code,
            remedy="sign in again; if it happens right after signing in, check this host's clock",
        )
    if code == "IDPCommunicationError":
        return IdpCommunicationError(
            what,
            code=code,
            remedy=f"STS could not fetch the signing keys of {issuer}: the discovery document "
            "and jwks_uri must be reachable from AWS over https with a valid certificate; "
            "retry in a moment",
        )
    if code == "IDPRejectedClaim":
        return StsError(
            what,
            code=code,
            remedy="the IdP's claims were refused: for SAML check the Role attribute names "
            f"{role_arn} with the right provider and that the IAM SAML provider holds the "
            "IdP's current metadata",
        )
    if code in ("Throttling", "ThrottlingException", "RequestLimitExceeded"):
        return StsThrottledError(
            what, code=code, remedy="STS is throttling this account: wait a few seconds and retry"
        )
    if code == "RegionDisabledException":
        return StsError(
            what, code=code, remedy="activate STS in this region (IAM account settings)"
        )
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if status >= 500 or code in ("InternalFailure", "ServiceUnavailable", "InternalError"):
        return StsUnavailableError(
            f"STS failed on its side ({code}), even after retries",
            code=code,
            remedy="nothing to change in your setup: try again in a minute; if it persists, "
            "check the AWS Health Dashboard for STS in this region",
        )
    if code == "ValidationError" and "durationseconds" in lowered:
        return StsError(
            what,
            code=code,
            remedy="ask for a shorter session, or raise the role's MaxSessionDuration",
        )
    return StsError(
        what,
        code=code,
        remedy="check the role ARN, the IAM identity provider and the trust policy "
        "(qbizfed doctor lists what is wrong)",
    )


# -- the exchange -------------------------------------------------------------------------


def federation_client(
    *,
    region: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    endpoint_url: str | None = None,
) -> Any:
    """An unsigned STS client; without ``endpoint_url`` boto3 resolves
    ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL`` itself."""
    session = boto3.session.Session()
    config = Config(
        signature_version=botocore.UNSIGNED,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=CONCURRENT_CALLS,
    )
    return session.client(
        "sts",
        region_name=region or session.region_name or DEFAULT_REGION,
        endpoint_url=endpoint_url,
        config=config,
    )


def credentials_from_answer(
    answer: dict[str, Any],
    *,
    role_arn: str,
    region: str | None,
    session_tags: tuple[tuple[str, str], ...] = (),
) -> AwsCredentials:
    """The credentials of an AssumeRole* answer, for ``role_arn`` in ``region``."""
    creds = answer["Credentials"]
    return AwsCredentials(
        access_key_id=str(creds["AccessKeyId"]),
        secret_access_key=str(creds["SecretAccessKey"]),
        session_token=str(creds["SessionToken"]),
        expiration=creds["Expiration"],
        region=region,
        role_arn=role_arn,
        assumed_role_arn=str(answer.get("AssumedRoleUser", {}).get("Arn", "")) or None,
        session_tags=session_tags,
        subject=str(answer.get("SubjectFromWebIdentityToken") or answer.get("Subject") or "")
        or None,
    )


CONCURRENT_CALLS = 32
"""STS calls one :class:`StsFederation` makes at once from :meth:`~StsFederation.assume_async`
(its own worker threads) and the connections its client keeps to STS. asyncio's default
pool has ``min(32, cores + 4)`` threads: 6 on 2 cores, which with STS answering in 100 ms
caps a broker's sign-ins at 60/s; and botocore keeps 10 connections by default, so more
calls at once would open connections only to throw them away."""


class StsFederation:
    """Exchanges a :class:`FederatedIdentity` for :class:`AwsCredentials`.

    Share one instance: the boto3 client is created once (lazily) and is thread-safe;
    :meth:`assume_async` runs up to :data:`CONCURRENT_CALLS` calls at once in threads of
    its own (or in ``executor``, if given).
    """

    def __init__(
        self,
        *,
        client: Any | None = None,
        region: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        endpoint_url: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._max_attempts = max_attempts
        self._executor = executor
        self._lock = threading.Lock()
        self._lean: UnsignedStsCalls | None = None

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = federation_client(
                    region=self._region,
                    max_attempts=self._max_attempts,
                    endpoint_url=self._endpoint_url,
                )
                # Our own unsigned client: its calls skip boto3's per-call machinery. An
                # injected client (a stub, a test double) is always called as it is.
                self._lean = UnsignedStsCalls.of(self._client, max_attempts=self._max_attempts)
            return self._client

    def _call(self, operation: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        client = self.client
        if self._lean is not None:
            return self._lean.call(operation, params)
        answer: dict[str, Any] = getattr(client, method)(**params)
        return answer

    def assume(
        self,
        identity: FederatedIdentity,
        role_arn: str | None = None,
        *,
        provider_arn: str | None = None,
        duration_seconds: int | None = None,
    ) -> AwsCredentials:
        """AssumeRoleWithWebIdentity (OIDC) or AssumeRoleWithSAML (SAML), blocking.

        For SAML, ``role_arn``/``provider_arn`` must be one of ``identity.roles`` (when the
        assertion offers exactly one role, both may be omitted).
        """
        if identity.protocol == "saml":
            role = self._saml_role(identity, role_arn, provider_arn)
            params: dict[str, Any] = {
                "RoleArn": role.role_arn,
                "PrincipalArn": role.provider_arn,
                "SAMLAssertion": identity.credential,
            }
            operation, method = "AssumeRoleWithSAML", "assume_role_with_saml"
            target = role.role_arn
        else:
            if not role_arn:
                raise StsError(
                    "no role to assume", remedy="configure the role ARN for this application"
                )
            params = {
                "RoleArn": role_arn,
                "RoleSessionName": role_session_name(identity.email),
                "WebIdentityToken": identity.credential,
            }
            operation, method = "AssumeRoleWithWebIdentity", "assume_role_with_web_identity"
            target = role_arn
        if duration_seconds is not None:
            params["DurationSeconds"] = duration_seconds
        try:
            answer = self._call(operation, method, params)
        except ClientError as exc:
            raise translate_sts_error(exc, identity=identity, role_arn=target) from None
        except BotoCoreError as exc:
            raise StsUnreachableError(
                f"could not reach STS: {type(exc).__name__}",
                remedy="check network access to STS, or AWS_ENDPOINT_URL for a local stack",
            ) from None
        return credentials_from_answer(
            answer, role_arn=target, region=self._region, session_tags=identity.session_tags
        )

    async def assume_async(
        self,
        identity: FederatedIdentity,
        role_arn: str | None = None,
        *,
        provider_arn: str | None = None,
        duration_seconds: int | None = None,
    ) -> AwsCredentials:
        """:meth:`assume` in a worker thread (boto3 blocks; the event loop must not)."""
        call = functools.partial(
            self.assume,
            identity,
            role_arn,
            provider_arn=provider_arn,
            duration_seconds=duration_seconds,
        )
        return await asyncio.get_running_loop().run_in_executor(self._threads(), call)

    def _threads(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=CONCURRENT_CALLS, thread_name_prefix="qbizfed-sts"
                )
            return self._executor

    @staticmethod
    def _saml_role(
        identity: FederatedIdentity, role_arn: str | None, provider_arn: str | None
    ) -> SamlRole:
        offered = identity.roles
        if role_arn is None and len(offered) == 1:
            return offered[0]
        for role in offered:
            if role.role_arn == role_arn and provider_arn in (None, role.provider_arn):
                return role
        listed = ", ".join(r.role_arn for r in offered) or "none"
        raise SamlRoleNotOfferedError(
            f"the SAML assertion does not offer role {role_arn} (it offers: {listed})",
            code="RoleNotOffered",
            remedy="add '<role arn>,<saml-provider arn>' for this role to the user's Role "
            "attribute at the IdP, or pick one of the offered roles",
        )
