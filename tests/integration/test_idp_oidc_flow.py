"""The dev IdP's OIDC provider end to end over loopback HTTP, driven like a browser.

ID tokens are validated here with joserfc against the JWKS the IdP publishes.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from tests.peers.flows import Pkce, authorize_url, login_for_code, new_browser, stateless_client

HTTP = stateless_client()  # one pooled client for plain requests

CLIENT_ID = "web-app"
CLIENT_SECRET = "web-app-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
LOGOUT_URI = "http://127.0.0.1:8765/signed-out"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    client = OidcClient(
        client_id=CLIENT_ID,
        client_secret=Secret(CLIENT_SECRET),
        redirect_uris=(REDIRECT_URI,),
        post_logout_redirect_uris=(LOGOUT_URI,),
    )
    with DevIdp(DevIdpSettings(port=0, clients=(client,))) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with new_browser() as client:
        yield client


def discovery(idp: DevIdp) -> dict[str, Any]:
    response = HTTP.get(idp.discovery_url)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def validate_id_token(idp: DevIdp, token: str, *, nonce: str | None) -> dict[str, Any]:
    """What a careful relying party does: JWKS from discovery, pinned alg, claims checked."""
    doc = discovery(idp)
    keys = KeySet.import_key_set(HTTP.get(doc["jwks_uri"]).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": doc["issuer"]},
        aud={"essential": True, "value": CLIENT_ID},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.header["alg"] == "RS256"
    assert decoded.claims.get("nonce") == nonce
    return dict(decoded.claims)


def log_in(
    idp: DevIdp, browser: httpx.Client, username: str = "alice", **kw: Any
) -> dict[str, str]:
    doc = discovery(idp)
    url = authorize_url(
        doc["authorization_endpoint"], client_id=CLIENT_ID, redirect_uri=REDIRECT_URI, **kw
    )
    return login_for_code(
        browser, url, redirect_uri=REDIRECT_URI, username=username, password="demo"
    )


def redeem(idp: DevIdp, code: str, **form: str) -> httpx.Response:
    return HTTP.post(
        discovery(idp)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            **form,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
    )


def test_discovery_uses_fixed_paths_and_base_url_issuer(idp: DevIdp) -> None:
    doc = discovery(idp)
    assert doc["issuer"] == idp.url
    assert doc["authorization_endpoint"].startswith(idp.url + "/")
    assert "S256" in doc["code_challenge_methods_supported"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = HTTP.get(doc["jwks_uri"]).json()
    assert all("d" not in key and "p" not in key for key in jwks["keys"]), "private parts leaked"


@pytest.mark.parametrize(
    ("username", "email"), [("alice", "alice@example.com"), ("bob", "bob@example.com")]
)
def test_code_flow_with_pkce_gives_a_valid_id_token_with_aws_tags(
    idp: DevIdp, browser: httpx.Client, username: str, email: str
) -> None:
    pkce, state, nonce = Pkce.new(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    callback = log_in(idp, browser, username, state=state, nonce=nonce, pkce=pkce)
    assert callback["state"] == state
    assert callback["iss"] == idp.issuer

    response = redeem(idp, callback["code"], code_verifier=pkce.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body, "no offline_access was asked"
    claims = validate_id_token(idp, body["id_token"], nonce=nonce)
    assert claims["email"] == email
    assert claims["name"]
    assert claims["https://aws.amazon.com/tags"] == {"principal_tags": {"Email": [email]}}


def test_userinfo_answers_for_the_access_token(idp: DevIdp, browser: httpx.Client) -> None:
    callback = log_in(idp, browser, "bob")
    tokens = redeem(idp, callback["code"]).json()
    info = HTTP.get(
        discovery(idp)["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert info.status_code == 200
    assert info.json()["email"] == "bob@example.com"
    assert info.json()["groups"] == ["finance"]


def test_client_secret_post_works_too(idp: DevIdp, browser: httpx.Client) -> None:
    callback = log_in(idp, browser, "carol")
    response = HTTP.post(
        discovery(idp)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    claims = validate_id_token(idp, response.json()["id_token"], nonce=None)
    assert claims["email"] == "carol@example.com"
    assert claims["groups"] == []


def test_refresh_token_with_offline_access_rotates(idp: DevIdp, browser: httpx.Client) -> None:
    callback = log_in(idp, browser, scope="openid email offline_access")
    first = redeem(idp, callback["code"]).json()
    refresh = first["refresh_token"]
    token_endpoint = discovery(idp)["token_endpoint"]
    renewed = HTTP.post(
        token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["refresh_token"] != refresh
    assert validate_id_token(idp, body["id_token"], nonce=None)["email"] == "alice@example.com"
    replay = HTTP.post(
        token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_second_login_uses_the_idp_session_unless_prompt_login(
    idp: DevIdp, browser: httpx.Client
) -> None:
    log_in(idp, browser, "bob")
    url = authorize_url(
        discovery(idp)["authorization_endpoint"], client_id=CLIENT_ID, redirect_uri=REDIRECT_URI
    )
    silent = browser.get(url)
    assert silent.status_code == 302
    assert silent.headers["location"].startswith(REDIRECT_URI + "?code=")
    forced = browser.get(url + "&prompt=login")
    assert forced.status_code == 200
    assert 'name="password"' in forced.text


def test_prompt_none_without_session_says_login_required(idp: DevIdp) -> None:
    url = authorize_url(
        discovery(idp)["authorization_endpoint"],
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        state="s1",
        prompt="none",
    )
    response = HTTP.get(url)
    assert response.status_code == 302
    assert "error=login_required" in response.headers["location"]
    assert "state=s1" in response.headers["location"]


def test_end_session_redirects_to_registered_uri_and_forgets_the_session(
    idp: DevIdp, browser: httpx.Client
) -> None:
    callback = log_in(idp, browser, "alice")
    id_token = redeem(idp, callback["code"]).json()["id_token"]
    end = discovery(idp)["end_session_endpoint"]
    response = browser.get(
        end,
        params={"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_URI, "state": "bye"},
    )
    assert response.status_code == 302
    assert response.headers["location"] == LOGOUT_URI + "?state=bye"
    url = authorize_url(
        discovery(idp)["authorization_endpoint"], client_id=CLIENT_ID, redirect_uri=REDIRECT_URI
    )
    assert browser.get(url).status_code == 200, "signed out: the login form again"


def test_wrong_password_shows_the_form_again(idp: DevIdp, browser: httpx.Client) -> None:
    url = authorize_url(
        discovery(idp)["authorization_endpoint"], client_id=CLIENT_ID, redirect_uri=REDIRECT_URI
    )
    page = browser.get(url)
    interaction = page.text.split('name="interaction" value="')[1].split('"')[0]
    response = browser.post(
        idp.url + "/login",
        data={"interaction": interaction, "username": "alice", "password": "not-demo"},
    )
    assert response.status_code == 401
    assert "wrong user name or password" in response.text
    assert "location" not in response.headers


def test_id_token_is_not_an_unsigned_or_symmetric_token(idp: DevIdp, browser: httpx.Client) -> None:
    callback = log_in(idp, browser)
    token = redeem(idp, callback["code"]).json()["id_token"]
    header = token.split(".")[0]
    padded = header + "=" * (-len(header) % 4)
    assert b'"alg":"RS256"' in base64.urlsafe_b64decode(padded).replace(b" ", b"")


def test_unknown_scopes_are_left_out_of_the_grant(idp: DevIdp, browser: httpx.Client) -> None:
    callback = log_in(idp, browser, scope="openid email admin:all")
    body = redeem(idp, callback["code"]).json()
    assert body["scope"] == "openid email"
