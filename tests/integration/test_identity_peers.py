"""qbizfed's relying party and service provider against third-party identity providers.

* OIDC: the OpenID-certified npm ``oidc-provider`` (tests/peers/oidc_provider): a whole
  authorization-code login with PKCE, state and nonce through
  :class:`~qbizfed.identity.oidc.OidcRelyingParty`, then a refresh grant.
* SAML: pysaml2's IdP (tests/peers/pysaml2_idp.py): an SP-initiated login whose
  AuthnRequest comes from :class:`~qbizfed.identity.saml.SamlServiceProvider`, and whose
  signed Response that SP validates.

The peers are started by the fixtures of tests/peers/conftest.py (skipped locally, and
failed under CI, when node/npm/xmlsec1 are missing).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.oidc import OidcRelyingParty, TokenSet
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from qbizfed.settings.oidc import OidcRegistration
from tests.peers.conftest import (  # fixtures, registered by importing them
    OidcPeer,
    Pysaml2Factory,
    oidc_provider_peer,  # noqa: F401
    pysaml2_peer_factory,  # noqa: F401
)
from tests.peers.flows import login_for_code, login_for_saml

pytestmark = pytest.mark.peers

SP_ENTITY = "https://sp.rp-test.example/saml/metadata"
ACS = "https://sp.rp-test.example/saml/acs"
ROLE = "arn:aws:iam::123456789012:role/peer,arn:aws:iam::123456789012:saml-provider/peer"


def test_oidc_provider_login_and_refresh(oidc_provider_peer: OidcPeer) -> None:  # noqa: F811
    peer = oidc_provider_peer
    settings = OidcRegistration(
        issuer=peer.issuer,
        client_id=peer.client_id,
        client_secret=peer.client_secret,
        redirect_uri=peer.redirect_uri,
        scopes=("openid", "email", "profile", "aws", "offline_access"),
        allow_insecure_loopback_http=True,
    )

    async def main() -> tuple[TokenSet, TokenSet | None]:
        async with httpx.AsyncClient(timeout=10) as http:
            rp = await OidcRelyingParty.discover(settings, http=http)
            pending = rp.authorization_request(prompt="consent")
            with httpx.Client(timeout=10) as browser:
                callback = await asyncio.to_thread(
                    login_for_code, browser, pending.url,
                    redirect_uri=peer.redirect_uri, username="bob", password="demo",
                )  # fmt: skip
            tokens = await rp.complete(pending, callback)
            refreshed = await rp.refresh(tokens.refresh_token) if tokens.refresh_token else None
            return tokens, refreshed

    tokens, refreshed = asyncio.run(main())
    assert tokens.identity.email == "bob@example.com"
    assert tokens.identity.issuer == peer.issuer
    assert tokens.identity.tags == {"Email": "bob@example.com"}
    assert refreshed is not None, "oidc-provider issued no refresh token"
    assert refreshed.identity.subject == tokens.identity.subject
    assert refreshed.identity.email == "bob@example.com"


def _pysaml2_sp(idp: Any) -> tuple[SamlServiceProvider, str]:
    metadata = httpx.get(idp.url + "/metadata").text
    settings = SamlSpSettings.from_idp_metadata(metadata, sp_entity_id=SP_ENTITY, acs_url=ACS)
    sp = SamlServiceProvider(settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache())
    return sp, metadata


def test_pysaml2_sp_initiated_login(pysaml2_peer_factory: Pysaml2Factory) -> None:  # noqa: F811
    from tests.peers.pysaml2_idp import PeerSp

    idp = pysaml2_peer_factory([PeerSp(SP_ENTITY, ACS, ROLE)])
    sp, _ = _pysaml2_sp(idp)
    redirect = sp.authn_request(relay_state="/chat")
    with httpx.Client(timeout=10) as browser:
        posted = login_for_saml(browser, redirect.url, username="carol", password="demo")
    assert posted.acs_url == ACS
    raw = base64.b64encode(posted.saml_response_xml).decode()
    identity = sp.validate_response(raw)
    assert identity.email == "carol@example.com"
    assert identity.role_session_name == "carol@example.com"
    assert [f"{r.role_arn},{r.provider_arn}" for r in identity.roles] == [ROLE]
    with pytest.raises(SamlResponseError):
        sp.validate_response(raw)  # the same response again: replay / request already used
