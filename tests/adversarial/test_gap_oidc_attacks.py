"""OIDC attacks the other catalogue files do not cover, each case named after its attack.

Relying party (``OidcRelyingParty.complete``, used by ``serve`` and ``login``) against a
real loopback IdP: IdP mix-up, tokens delivered in the callback instead of a code
(the implicit/fragment response), callbacks without or with another login's
``state``, a reused code, a nonce replayed from an earlier login, and an ``exp`` that
never comes. Local STS (``AssumeRoleWithWebIdentity`` over boto3 against
``qbizfed local aws``): oversized tokens, a ``kid`` naming another issuer's key, and
the same never-ending ``exp``.

Every refusal: the right error, no code redeemed when the callback itself is wrong, no
credentials, nothing secret in the message.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.identity.errors import AuthorizationError, IdTokenError, TokenEndpointError
from qbizfed.identity.oidc import OidcRelyingParty, TokenSet
from qbizfed.local.stack import LocalAws
from qbizfed.settings.oidc import OidcRegistration
from tests.support.oidc_issuer import (
    OidcIssuer,
    new_rsa_key,
    register_oidc_role,
    running_oidc_issuer,
)
from tests.support.rp_idp import LoopbackOidcIdp

OTHER_ISSUER = "https://other-idp.example.test"


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


def rp_settings(idp: LoopbackOidcIdp) -> OidcRegistration:
    return OidcRegistration(
        issuer=idp.issuer, client_id=idp.client_id, client_secret=idp.client_secret,
        redirect_uri="http://127.0.0.1:1/cb", allow_insecure_loopback_http=True,
    )  # fmt: skip


def run_login(idp: LoopbackOidcIdp, make_params: Any, *, claims: dict[str, Any] | None = None,
              earlier_nonce: bool = False) -> TokenSet:  # fmt: skip
    """Start a login, have the IdP answer with ``claims`` and call back with ``make_params``."""

    async def main() -> TokenSet:
        async with httpx.AsyncClient(timeout=5) as http:
            rp = await OidcRelyingParty.discover(rp_settings(idp), http=http)
            earlier = rp.authorization_request()
            pending = rp.authorization_request()
            nonce = earlier.nonce if earlier_nonce else pending.nonce
            idp.token_response = {"access_token": "at", "token_type": "Bearer",
                                  "id_token": idp.mint({**idp.claims(nonce=nonce),
                                                        **(claims or {})})}  # fmt: skip
            return await rp.complete(pending, make_params(pending, earlier))

    return asyncio.run(main())


def test_control_a_genuine_callback_signs_in(idp: LoopbackOidcIdp) -> None:
    tokens = run_login(idp, lambda p, _: {"state": p.state, "code": "c-1", "iss": idp.issuer})
    assert tokens.identity.email == "alice@example.com"


CALLBACK_ATTACKS: dict[str, tuple[Any, str]] = {
    "mix_up_callback_names_another_issuer": (
        lambda p, _: {"state": p.state, "code": "c-1", "iss": OTHER_ISSUER}, "iss mismatch"),
    "token_in_callback_instead_of_code_implicit_response": (
        lambda p, _: {"state": p.state, "id_token": "eyJhbGciOiJub25lIn0.e30.",
                      "access_token": "at", "token_type": "Bearer"}, "no authorization code"),
    "token_in_fragment_reaches_server_as_empty_callback": (
        lambda p, _: {}, "state mismatch"),
    "state_missing": (lambda p, _: {"code": "c-1"}, "state mismatch"),
    "state_of_another_login": (lambda p, e: {"state": e.state, "code": "c-1"}, "state mismatch"),
    "state_prefix_only": (lambda p, _: {"state": p.state[:8], "code": "c-1"}, "state mismatch"),
    "code_missing_with_valid_state": (lambda p, _: {"state": p.state}, "no authorization code"),
}  # fmt: skip


@pytest.mark.parametrize(("make_params", "says"), list(CALLBACK_ATTACKS.values()),
                         ids=list(CALLBACK_ATTACKS))  # fmt: skip
def test_hostile_callback_is_refused_before_any_code_is_redeemed(
    idp: LoopbackOidcIdp, make_params: Any, says: str
) -> None:
    idp.token_requests.clear()
    with pytest.raises(AuthorizationError) as refusal:
        run_login(idp, make_params)
    assert says in refusal.value.message
    assert refusal.value.remedy
    assert idp.token_requests == []  # the code never reached the token endpoint


def test_code_reused_is_refused_with_the_idps_invalid_grant(idp: LoopbackOidcIdp) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            rp = await OidcRelyingParty.discover(rp_settings(idp), http=http)
            pending = rp.authorization_request()
            idp.token_response = {"error": "invalid_grant"}  # what an IdP says to a used code
            idp.token_status = 400
            try:
                await rp.complete(pending, {"state": pending.state, "code": "used-code"})
            finally:
                idp.token_status = 200

    with pytest.raises(TokenEndpointError) as refusal:
        asyncio.run(main())
    assert refusal.value.error == "invalid_grant"
    assert "sign in again" in refusal.value.remedy
    assert "used-code" not in refusal.value.diagnostics()


def test_nonce_replayed_from_an_earlier_login_is_refused(idp: LoopbackOidcIdp) -> None:
    with pytest.raises(IdTokenError) as refusal:
        run_login(idp, lambda p, _: {"state": p.state, "code": "c-1"}, earlier_nonce=True)
    assert refusal.value.reason == "nonce"


NEVER_EXPIRING = {"exp_nan_never_expires": math.nan, "exp_infinity_never_expires": math.inf}


@pytest.mark.parametrize("exp", list(NEVER_EXPIRING.values()), ids=list(NEVER_EXPIRING))
def test_id_token_that_never_expires_is_refused_by_the_relying_party(
    idp: LoopbackOidcIdp, exp: float
) -> None:
    with pytest.raises(IdTokenError) as refusal:
        run_login(idp, lambda p, _: {"state": p.state, "code": "c-1"}, claims={"exp": exp})
    assert refusal.value.reason == "bad_exp", str(refusal.value)


# --- the local STS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


def sts_client(local_aws: LocalAws) -> Any:
    return boto3.session.Session(region_name="us-east-1").client(
        "sts",
        endpoint_url=local_aws.url,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def assume(local_aws: LocalAws, role_arn: str, token: str) -> dict[str, Any]:
    return dict(sts_client(local_aws).assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName="attacker", WebIdentityToken=token))  # fmt: skip


def refused(local_aws: LocalAws, role_arn: str, token: str, code: str, says: str) -> None:
    with pytest.raises(ClientError) as refusal:
        assume(local_aws, role_arn, token)
    error = refusal.value.response["Error"]
    assert error["Code"] == code, error
    assert says in error["Message"], error
    assert refusal.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    assert token[:40] not in str(error.get("Message", ""))


def test_control_the_local_sts_accepts_a_genuine_token(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    answer = assume(local_aws, role.role_arn, issuer.mint())
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_oversized_token_is_refused_by_the_local_sts(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    token = issuer.mint(extra_claims={"padding": "x" * 25_000})
    assert len(token) > 20_000
    refused(local_aws, role.role_arn, token, "ValidationError",
            "Member must have length between 4 and 20000")  # fmt: skip


NO_MATCHING_KEY = "no key in the issuer's JWKS matches its kid"


def test_kid_of_another_issuers_key_is_refused_by_the_local_sts(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    with running_oidc_issuer(kid="other-issuer-key") as other:
        foreign = other.signing_key  # published by the other issuer only
        refused(local_aws, role.role_arn, issuer.mint(key=foreign), "InvalidIdentityToken",
                NO_MATCHING_KEY)  # fmt: skip
    stranger = new_rsa_key("never-published")
    refused(local_aws, role.role_arn, issuer.mint(key=stranger), "InvalidIdentityToken",
            NO_MATCHING_KEY)  # fmt: skip


@pytest.mark.parametrize("exp", list(NEVER_EXPIRING.values()), ids=list(NEVER_EXPIRING))
def test_token_that_never_expires_is_refused_by_the_local_sts(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str, exp: float
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    refused(local_aws, role.role_arn, issuer.mint(exp=exp), "InvalidIdentityToken",
            "exp claim is not a valid time")  # fmt: skip
