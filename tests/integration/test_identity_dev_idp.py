"""qbizfed's relying party and service provider against qbizfed's own dev IdP.

The dev IdP (``qbizfed local idp``) runs on loopback; a login is driven like a browser
(tests/peers/flows.py) while the qbizfed side is exactly what ``serve`` and ``login``
use: :class:`~qbizfed.identity.oidc.OidcRelyingParty` and
:class:`~qbizfed.identity.saml.SamlServiceProvider`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import httpx
import pytest

from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.oidc import OidcRelyingParty, TokenSet
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret, ServiceProvider
from qbizfed.settings.oidc import OidcRegistration
from tests.peers.flows import login_for_code, login_for_saml, new_browser

CLIENT_ID = "rp-core-app"
CLIENT_SECRET = "rp-core-app-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
SP_ENTITY = "https://rp-core.example.test/saml/metadata"
ACS = "https://rp-core.example.test/saml/acs"
ROLE = "arn:aws:iam::123456789012:role/RpCore"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/DevIdp"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    client = OidcClient(
        client_id=CLIENT_ID, client_secret=Secret(CLIENT_SECRET), redirect_uris=(REDIRECT_URI,)
    )
    sp = ServiceProvider(entity_id=SP_ENTITY, acs_urls=(ACS,), role_arn=ROLE, provider_arn=PROVIDER)
    with DevIdp(DevIdpSettings(port=0, clients=(client,), service_providers=(sp,))) as running:
        yield running


def test_oidc_login_against_the_dev_idp(idp: DevIdp) -> None:
    settings = OidcRegistration(
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        allow_insecure_loopback_http=True,
    )

    async def main() -> TokenSet:
        async with httpx.AsyncClient(timeout=10) as http:
            rp = await OidcRelyingParty.discover(settings, http=http)
            pending = rp.authorization_request()
            with new_browser() as browser:
                callback = await asyncio.to_thread(
                    login_for_code, browser, pending.url,
                    redirect_uri=REDIRECT_URI, username="alice", password="demo",
                )  # fmt: skip
            return await rp.complete(pending, callback)

    tokens = asyncio.run(main())
    assert tokens.identity.email == "alice@example.com"
    assert tokens.identity.issuer == idp.issuer
    assert tokens.identity.audiences == (CLIENT_ID,)


def test_saml_login_against_the_dev_idp(idp: DevIdp) -> None:
    settings = SamlSpSettings.from_idp_metadata(
        idp.saml_metadata_xml, sp_entity_id=SP_ENTITY, acs_url=ACS
    )
    sp = SamlServiceProvider(settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache())
    redirect = sp.authn_request(relay_state="/chat")
    with new_browser() as browser:
        posted = login_for_saml(browser, redirect.url, username="bob", password="demo")
    assert posted.acs_url == ACS
    assert posted.relay_state == "/chat"
    raw = base64.b64encode(posted.saml_response_xml).decode()
    identity = sp.validate_response(raw)
    assert identity.email == "bob@example.com"
    assert identity.role_session_name == "bob@example.com"
    assert [(r.role_arn, r.provider_arn) for r in identity.roles] == [(ROLE, PROVIDER)]
    with pytest.raises(SamlResponseError, match="already used"):
        sp.validate_response(raw)
