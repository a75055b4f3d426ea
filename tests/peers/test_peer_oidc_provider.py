"""The npm ``oidc-provider`` peer works as a second OIDC provider for the test suite.

Its ID tokens carry the ``https://aws.amazon.com/tags`` claim (custom ``aws`` scope) and
validate with joserfc against its JWKS, exactly like the dev IdP's.
"""

from __future__ import annotations

import secrets

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from tests.peers.conftest import OidcPeer
from tests.peers.flows import Pkce, authorize_url, login_for_code, new_browser, stateless_client

HTTP = stateless_client()  # one pooled client for plain requests

pytestmark = pytest.mark.peers


def test_peer_login_gives_id_token_with_aws_tags(oidc_provider_peer: OidcPeer) -> None:
    peer = oidc_provider_peer
    doc = HTTP.get(peer.discovery_url).json()
    assert doc["issuer"] == peer.issuer
    pkce, state, nonce = Pkce.new(), secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    url = authorize_url(
        doc["authorization_endpoint"],
        client_id=peer.client_id,
        redirect_uri=peer.redirect_uri,
        scope="openid email profile aws",
        state=state,
        nonce=nonce,
        pkce=pkce,
    )
    with new_browser() as browser:
        callback = login_for_code(
            browser, url, redirect_uri=peer.redirect_uri, username="bob", password="demo"
        )
    assert callback["state"] == state
    tokens = HTTP.post(
        doc["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": peer.redirect_uri,
            "code_verifier": pkce.verifier,
        },
        auth=(peer.client_id, peer.client_secret),
    )
    assert tokens.status_code == 200, tokens.text
    keys = KeySet.import_key_set(HTTP.get(doc["jwks_uri"]).json())
    decoded = jwt.decode(tokens.json()["id_token"], keys, algorithms=["RS256"])
    JWTClaimsRegistry(
        iss={"essential": True, "value": peer.issuer},
        aud={"essential": True, "value": peer.client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(decoded.claims)
    assert decoded.claims["email"] == "bob@example.com"
    assert decoded.claims["https://aws.amazon.com/tags"] == {
        "principal_tags": {"Email": ["bob@example.com"]}
    }


def test_peer_refuses_a_wrong_client_secret(oidc_provider_peer: OidcPeer) -> None:
    """Control: the peer is a real provider, not a yes-machine."""
    doc = HTTP.get(oidc_provider_peer.discovery_url).json()
    response = HTTP.post(
        doc["token_endpoint"],
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "http://x/"},
        auth=(oidc_provider_peer.client_id, "wrong"),
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
