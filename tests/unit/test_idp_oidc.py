"""The dev IdP's OIDC protocol logic, without HTTP, on a fake clock."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from qbizfed.local.idp.keys import generate_signing_material
from qbizfed.local.idp.oidc import (
    AuthorizeRedirectError,
    AuthorizeRefusedError,
    OAuthError,
    OidcProvider,
    TokenLifetimes,
    pkce_challenge,
)
from qbizfed.local.idp.users import Directory, OidcClient, Secret

KEYS = generate_signing_material()
REDIRECT = "http://127.0.0.1:9/cb"


@dataclass
class FakeClock:
    now: float = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def provider(clock: FakeClock) -> OidcProvider:
    directory = Directory(clients=[OidcClient("app", Secret("app-secret"), (REDIRECT,))])
    return OidcProvider(
        issuer="http://127.0.0.1:9000/",
        keys=KEYS,
        directory=directory,
        lifetimes=TokenLifetimes(code_seconds=60, id_token_seconds=300),
        clock=clock,
    )


def code(p: OidcProvider, **params: str) -> str:
    request = p.parse_authorization_request(
        {"client_id": "app", "redirect_uri": REDIRECT, "response_type": "code",
         "scope": "openid email offline_access", **params}
    )  # fmt: skip
    user = Directory().user("alice")
    assert user is not None
    location = p.issue_code(request, user, auth_time=123, sid="sid-1")
    return location.split("code=")[1].split("&")[0]


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_issuer_has_no_trailing_slash_and_discovery_points_below_it() -> None:
    p = provider(FakeClock())
    assert p.issuer == "http://127.0.0.1:9000"
    doc = p.discovery()
    assert doc["issuer"] == p.issuer
    assert all(
        doc[k].startswith(p.issuer + "/")
        for k in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")
    )


def test_id_token_claims() -> None:
    clock = FakeClock()
    p = provider(clock)
    tokens = p.token(
        {"grant_type": "authorization_code", "code": code(p, nonce="n1"), "redirect_uri": REDIRECT},
        "Basic " + base64.b64encode(b"app:app-secret").decode(),
    )
    keys = KeySet.import_key_set({"keys": KEYS.public_jwks()["keys"]})
    decoded = jwt.decode(tokens["id_token"], keys)
    claims = decoded.claims
    assert decoded.header["kid"] == KEYS.kid
    assert claims["iss"] == "http://127.0.0.1:9000"
    assert claims["aud"] == "app"
    assert claims["sub"] == "alice"
    assert claims["nonce"] == "n1"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 300
    assert claims["auth_time"] == 123
    assert claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice Anders"
    assert claims["https://aws.amazon.com/tags"] == {
        "principal_tags": {"Email": ["alice@example.com"]}
    }
    assert "refresh_token" in tokens


def test_code_expires_after_its_lifetime() -> None:
    clock = FakeClock()
    p = provider(clock)
    c = code(p)
    clock.now += 60
    with pytest.raises(OAuthError) as err:
        p.token(
            {"grant_type": "authorization_code", "code": c, "redirect_uri": REDIRECT,
             "client_id": "app", "client_secret": "app-secret"},
            None,
        )  # fmt: skip
    assert err.value.error == "invalid_grant"


def test_code_just_before_expiry_still_works() -> None:
    clock = FakeClock()
    p = provider(clock)
    c = code(p)
    clock.now += 59
    answer = p.token(
        {"grant_type": "authorization_code", "code": c, "redirect_uri": REDIRECT,
         "client_id": "app", "client_secret": "app-secret"},
        None,
    )  # fmt: skip
    assert answer["token_type"] == "Bearer"


def test_basic_credentials_are_form_urlencoded_before_base64() -> None:
    """RFC 6749 §2.3.1: a secret with ':' or '%' arrives percent-encoded."""
    directory = Directory(clients=[OidcClient("a:b", Secret("p%w:d"), (REDIRECT,))])
    p = OidcProvider(issuer="http://127.0.0.1:1", keys=KEYS, directory=directory)
    header = "Basic " + base64.b64encode(b"a%3Ab:p%25w%3Ad").decode()
    assert p.authenticate_client({}, header).client_id == "a:b"


def test_refusals_and_redirect_errors_are_distinct() -> None:
    p = provider(FakeClock())
    with pytest.raises(AuthorizeRefusedError):
        p.parse_authorization_request({"client_id": "app", "redirect_uri": "http://evil/"})
    with pytest.raises(AuthorizeRedirectError) as err:
        p.parse_authorization_request(
            {"client_id": "app", "redirect_uri": REDIRECT, "response_type": "token",
             "scope": "openid", "state": "a b&c"}
        )  # fmt: skip
    assert err.value.location.startswith(REDIRECT + "?error=unsupported_response_type")
    assert "state=a+b%26c" in err.value.location


def test_userinfo_stops_when_the_access_token_expires() -> None:
    clock = FakeClock()
    p = provider(clock)
    tokens = p.token(
        {"grant_type": "authorization_code", "code": code(p), "redirect_uri": REDIRECT,
         "client_id": "app", "client_secret": "app-secret"},
        None,
    )  # fmt: skip
    bearer = "Bearer " + tokens["access_token"]
    assert p.userinfo(bearer)["email"] == "alice@example.com"
    clock.now += 3600
    with pytest.raises(OAuthError) as err:
        p.userinfo(bearer)
    assert err.value.status == 401
