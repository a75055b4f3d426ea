"""STS exchange: RoleSessionName rules, masking, and error translation at botocore's seam.

Error translation is tested with botocore's Stubber on a real (unsigned) STS client:
the request parameters are validated against the service model, and the error
responses are those AWS documents.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore
import pytest
from botocore.stub import ANY, Stubber

from qbizfed.aws.sts import (
    CONCURRENT_CALLS,
    IdentityTokenExpiredError,
    IdpCommunicationError,
    MissingEmailTagError,
    OidcProviderNotFoundError,
    RoleTrustError,
    SamlRoleNotOfferedError,
    StsError,
    StsFederation,
    StsThrottledError,
    StsUnavailableError,
    TagSessionNotAllowedError,
    TokenAudienceError,
    federation_client,
    role_session_name,
)
from qbizfed.credentials import AwsCredentials
from qbizfed.identity.federated import FederatedIdentity, SamlRole
from tests.support.calls_at_once import CallsAtOnce

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/TestIdp"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
ISSUER = "https://idp.example.test/oauth2/default"


def oidc_identity(**kwargs: Any) -> FederatedIdentity:
    base: dict[str, Any] = {
        "protocol": "oidc",
        "email": "alice@example.com",
        "subject": "user-alice",
        "issuer": ISSUER,
        "credential": TOKEN,
        "session_tags": (("Email", "alice@example.com"),),
        "audiences": ("client-123",),
    }
    base.update(kwargs)
    return FederatedIdentity(**base)


def saml_identity(*roles: SamlRole) -> FederatedIdentity:
    return FederatedIdentity(
        protocol="saml",
        email="alice@example.com",
        subject="alice@example.com",
        issuer="https://idp.example.test/saml",
        credential="PHNhbWxwOlJlc3BvbnNlLz4=",
        session_tags=(("Email", "alice@example.com"),),
        roles=roles or (SamlRole(ROLE, PROVIDER),),
        role_session_name="alice@example.com",
    )


def sts_answer(role_arn: str = ROLE) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "SecretAccessKey": "secret-access-key-example-0000000000000",
            "SessionToken": "session-token-example-" + "x" * 40,
            "Expiration": datetime.now(UTC) + timedelta(hours=1),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLE:alice@example.com",
            "Arn": "arn:aws:sts::123456789012:assumed-role/QBizWeb/alice@example.com",
        },
    }


@pytest.fixture
def stubbed() -> tuple[StsFederation, Stubber]:
    client = federation_client(region="us-east-1", max_attempts=1)
    stubber = Stubber(client)
    stubber.activate()
    return StsFederation(client=client), stubber


# -- RoleSessionName ------------------------------------------------------------------

SESSION_NAMES = [
    ("alice@example.com", "alice@example.com"),
    ("o'brien@example.com", None),
    ("ünïcode@example.com", None),
    ("a b@example.com", None),
    ("x" * 80 + "@example.com", None),
    ("a", None),
    ("", None),
]


@pytest.mark.parametrize(("email", "expected"), SESSION_NAMES)
def test_role_session_name_follows_sts_rules(email: str, expected: str | None) -> None:
    name = role_session_name(email)
    assert re.fullmatch(r"[A-Za-z0-9_+=,.@-]{2,64}", name)
    assert role_session_name(email) == name  # deterministic
    if expected is not None:
        assert name == expected


def test_role_session_names_of_similar_emails_differ() -> None:
    assert role_session_name("a b@example.com") != role_session_name("a-b@example.com")
    long_a, long_b = "x" * 70 + "a@example.com", "x" * 70 + "b@example.com"
    assert role_session_name(long_a) != role_session_name(long_b)
    assert role_session_name("o'brien@example.com").startswith("o-brien@example.com")


# -- values ---------------------------------------------------------------------------


def test_credentials_repr_masks_secret_and_token() -> None:
    creds = AwsCredentials(
        access_key_id="ASIAEXAMPLE",
        secret_access_key="top-secret-value",
        session_token="session-token-value",
        expiration=datetime.now(UTC),
        assumed_role_arn=ROLE,
    )
    for text in (repr(creds), str(creds), f"{creds}"):
        assert "top-secret-value" not in text
        assert "session-token-value" not in text
        assert "**********" in text


# -- successful calls -----------------------------------------------------------------


def test_web_identity_call_sends_token_role_and_session_name(
    stubbed: tuple[StsFederation, Stubber],
) -> None:
    sts, stubber = stubbed
    stubber.add_response(
        "assume_role_with_web_identity",
        sts_answer(),
        {
            "RoleArn": ROLE,
            "RoleSessionName": "alice@example.com",
            "WebIdentityToken": TOKEN,
            "DurationSeconds": 900,
        },
    )
    creds = sts.assume(oidc_identity(), ROLE, duration_seconds=900)
    stubber.assert_no_pending_responses()
    assert creds.access_key_id == "ASIAEXAMPLEEXAMPLE01"
    assert str(creds.assumed_role_arn).endswith("/QBizWeb/alice@example.com")
    assert creds.role_session_name == "alice@example.com"
    assert creds.tags == {"Email": "alice@example.com"}


def test_saml_call_uses_the_offered_role_pair(stubbed: tuple[StsFederation, Stubber]) -> None:
    sts, stubber = stubbed
    stubber.add_response(
        "assume_role_with_saml",
        sts_answer(),
        {"RoleArn": ROLE, "PrincipalArn": PROVIDER, "SAMLAssertion": ANY},
    )
    creds = sts.assume(saml_identity())
    assert creds.session_token.startswith("session-token-example-")


def test_saml_role_not_offered_is_refused_before_calling_sts(
    stubbed: tuple[StsFederation, Stubber],
) -> None:
    sts, stubber = stubbed
    other = "arn:aws:iam::123456789012:role/Other"
    with pytest.raises(SamlRoleNotOfferedError, match="does not offer role"):
        sts.assume(saml_identity(SamlRole(ROLE, PROVIDER), SamlRole(other + "2", PROVIDER)), other)
    stubber.assert_no_pending_responses()


def test_unsigned_requests_carry_no_credentials() -> None:
    client = federation_client(region="us-east-1")
    seen: list[dict[str, Any]] = []

    def capture(request: Any, **_: Any) -> None:
        seen.append(dict(request.headers))

    client.meta.events.register("before-send.sts.*", capture)
    stubber = Stubber(client)
    stubber.add_response("assume_role_with_web_identity", sts_answer())
    with stubber:
        StsFederation(client=client).assume(oidc_identity(), ROLE)
    assert client.meta.config.signature_version is botocore.UNSIGNED
    assert client.meta.config.retries["mode"] == "standard"
    assert all("Authorization" not in headers for headers in seen)


def test_async_variant_does_not_block_the_event_loop() -> None:
    client = federation_client(region="us-east-1")

    def slow(**_: Any) -> None:
        time.sleep(0.3)  # a slow STS round trip, inside botocore's call path

    client.meta.events.register("before-parameter-build.sts.AssumeRoleWithWebIdentity", slow)
    stubber = Stubber(client)
    stubber.add_response("assume_role_with_web_identity", sts_answer())
    sts = StsFederation(client=client)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        with stubber:
            await sts.assume_async(oidc_identity(), ROLE)
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 10


# -- error translation ----------------------------------------------------------------

ERRORS: list[tuple[str, str, str, int, type[Exception], str]] = [
    (
        "tag_session_missing",
        "AccessDenied",
        f"User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: "
        f"sts:TagSession on resource: {ROLE}",
        403,
        TagSessionNotAllowedError,
        "trust policy lacks sts:TagSession",
    ),
    (
        "trust_policy_refuses",
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        403,
        RoleTrustError,
        "idp.example.test/oauth2/default:aud",
    ),
    (
        "incorrect_audience",
        "InvalidIdentityToken",
        "Incorrect token audience",
        400,
        TokenAudienceError,
        "add client id client-123 to the IAM OIDC provider",
    ),
    (
        "issuer_mismatch",
        "InvalidIdentityToken",
        f"No OpenIDConnect provider found in your account for {ISSUER}",
        400,
        OidcProviderNotFoundError,
        f"--url {ISSUER}",
    ),
    ("expired", "ExpiredTokenException", "Token expired: current date/time", 400,
     IdentityTokenExpiredError, "sign in again"),
    ("idp_unreachable", "IDPCommunicationError", "Couldn't retrieve verification key", 400,
     IdpCommunicationError, "jwks_uri"),
    ("throttled", "Throttling", "Rate exceeded", 400, StsThrottledError, "wait"),
    ("sts_failing", "InternalFailure", "internal error", 500, StsUnavailableError,
     "try again in a minute"),
    ("other_token_problem", "InvalidIdentityToken", f"Bad token {TOKEN}", 400, StsError,
     "trust policy"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "message", "status", "error_type", "remedy"),
    [pytest.param(*row[1:], id=row[0]) for row in ERRORS],
)
def test_sts_errors_name_cause_and_fix(
    stubbed: tuple[StsFederation, Stubber],
    code: str,
    message: str,
    status: int,
    error_type: type[Exception],
    remedy: str,
) -> None:
    sts, stubber = stubbed
    stubber.add_client_error(
        "assume_role_with_web_identity",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )
    with pytest.raises(StsError) as info:
        sts.assume(oidc_identity(), ROLE)
    assert type(info.value) is error_type
    assert info.value.code == code
    assert remedy in info.value.remedy
    assert TOKEN not in info.value.diagnostics()


def test_access_denied_without_email_tag_points_at_the_idp(
    stubbed: tuple[StsFederation, Stubber],
) -> None:
    sts, stubber = stubbed
    stubber.add_client_error(
        "assume_role_with_web_identity",
        service_error_code="AccessDenied",
        service_message="Not authorized to perform sts:AssumeRoleWithWebIdentity",
        http_status_code=403,
    )
    with pytest.raises(MissingEmailTagError) as info:
        sts.assume(oidc_identity(session_tags=()), ROLE)
    assert "https://aws.amazon.com/tags" in info.value.remedy


def test_many_sign_ins_reach_sts_at_once_not_only_the_default_pools_few() -> None:
    """asyncio's default pool has min(32, cores + 4) threads (6 on 2 cores): with STS
    answering in 100 ms that capped a broker near 60 sign-ins/s. StsFederation runs
    CONCURRENT_CALLS at once, with as many pooled connections."""
    client = federation_client(region="us-east-1")
    at_once = CallsAtOnce()

    def slow(**_: Any) -> None:
        at_once.hold(0.2)

    client.meta.events.register("before-parameter-build.sts.AssumeRoleWithWebIdentity", slow)
    stubber = Stubber(client)
    calls = 20
    for _ in range(calls):
        stubber.add_response("assume_role_with_web_identity", sts_answer())
    sts = StsFederation(client=client)

    async def main() -> None:
        await asyncio.gather(*(sts.assume_async(oidc_identity(), ROLE) for _ in range(calls)))

    with stubber:
        asyncio.run(main())
    assert at_once.most == calls <= CONCURRENT_CALLS
    assert client.meta.config.max_pool_connections >= CONCURRENT_CALLS
