"""ID-token validation in process: key selection, algorithm pinning and claim checks,
with the issuer's JWKS served through httpx's MockTransport."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from qbizfed.local.moto_backend import OidcProvider
from qbizfed.local.sts.jwks import JwksCache
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.web_identity import WebIdentity, validate_web_identity_token

ISSUER = "https://idp.example.test/realm"
PROVIDER = OidcProvider(
    arn="arn:aws:iam::123456789012:oidc-provider/idp.example.test/realm",
    url="idp.example.test/realm",
    client_ids=("client-1", "client-2"),
    thumbprints=(),
)


def _cache(*keys: RSAKey | ECKey) -> JwksCache:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"})
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in keys]})

    return JwksCache(client=httpx.Client(transport=httpx.MockTransport(handler)))


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": "client-1",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: RSAKey | ECKey, alg: str, *, kid: str | None = "k1", **changes: Any) -> str:
    header: dict[str, Any] = {"alg": alg}
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, _claims(**changes), key, algorithms=[alg])


def _validate(token: str, cache: JwksCache) -> WebIdentity:
    return validate_web_identity_token(
        token, providers=[PROVIDER], keys=cache, now=dt.datetime.now(dt.UTC)
    )


RSA = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})
RSA_NO_ALG = RSAKey.generate_key(2048, parameters={"kid": "k1"})
RSA_OTHER = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256"})
EC = ECKey.generate_key("P-256", parameters={"kid": "k1"})


def test_rs256_token_is_accepted() -> None:
    identity = _validate(_token(RSA, "RS256", amr=["pwd", "mfa"]), _cache(RSA))
    assert identity.subject == "user-1"
    assert identity.audience == "client-1"
    assert identity.amr == ("pwd", "mfa")
    assert identity.provider == PROVIDER
    assert not identity.tags


def test_audience_list_matches_any_client_id() -> None:
    identity = _validate(_token(RSA, "RS256", aud=["other", "client-2"]), _cache(RSA))
    assert identity.audience == "client-2"


def test_es256_token_is_accepted() -> None:
    assert _validate(_token(EC, "ES256"), _cache(EC)).subject == "user-1"


def test_key_without_alg_allows_the_rsa_family() -> None:
    assert _validate(_token(RSA_NO_ALG, "PS256"), _cache(RSA_NO_ALG)).subject == "user-1"


def test_no_kid_with_a_single_published_key() -> None:
    assert _validate(_token(RSA, "RS256", kid=None), _cache(RSA)).subject == "user-1"


REFUSALS: list[tuple[str, Any, tuple[RSAKey | ECKey, ...], str]] = [
    ("no_kid_with_two_keys", lambda: _token(RSA, "RS256", kid=None), (RSA, RSA_OTHER), "kid"),
    (
        "signed_by_other_published_key",
        lambda: _token(RSA_OTHER, "RS256", kid="k1"),
        (RSA, RSA_OTHER),
        "signature",
    ),
    ("ec_alg_against_rsa_key", lambda: _token(EC, "ES256"), (RSA,), "algorithm"),
    ("exp_as_string", lambda: _token(RSA, "RS256", exp="tomorrow"), (RSA,), "exp"),
    ("exp_as_boolean", lambda: _token(RSA, "RS256", exp=True), (RSA,), "exp"),
    ("iss_not_a_string", lambda: _token(RSA, "RS256", iss=["x"]), (RSA,), "iss"),
    (
        "iss_http_remote",
        lambda: _token(RSA, "RS256", iss="http://idp.example.test/realm"),
        (RSA,),
        "No OpenIDConnect provider",
    ),
    (
        "iss_other_case",
        lambda: _token(RSA, "RS256", iss="https://IDP.example.test/realm"),
        (RSA,),
        "No OpenIDConnect provider",
    ),
    ("aud_missing", lambda: _token(RSA, "RS256", aud=None), (RSA,), "Incorrect token audience"),
    ("sub_empty", lambda: _token(RSA, "RS256", sub=""), (RSA,), "sub"),
    ("jwe_shaped", lambda: "a.b.c.d.e", (RSA,), "parse"),
    (
        "sub_with_control_character",
        lambda: _token(RSA, "RS256", sub="ada\u0000"),
        (RSA,),
        "invalid characters",
    ),
]


@pytest.mark.parametrize(
    ("make", "keys", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refused(make: Any, keys: tuple[RSAKey | ECKey, ...], message: str) -> None:
    with pytest.raises(StsRefusalError) as info:
        _validate(make(), _cache(*keys))
    assert info.value.code == "InvalidIdentityToken"
    assert message in info.value.message


@pytest.mark.parametrize("value", ["a", "x" * 65, "has space", "aws:admin"])
def test_bad_source_identity_claim(value: str) -> None:
    token = _token(RSA, "RS256", **{"https://aws.amazon.com/source_identity": value})
    with pytest.raises(StsRefusalError) as info:
        _validate(token, _cache(RSA))
    assert info.value.code == "ValidationError"


def test_source_identity_claim_is_read() -> None:
    token = _token(RSA, "RS256", **{"https://aws.amazon.com/source_identity": "ada@example"})
    assert _validate(token, _cache(RSA)).source_identity == "ada@example"


def test_token_too_long_is_a_validation_error() -> None:
    with pytest.raises(StsRefusalError) as info:
        _validate("a" * 20001, _cache(RSA))
    assert info.value.code == "ValidationError"
