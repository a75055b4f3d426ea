"""Tests written because a mutant of ``qbizfed.identity`` survived ``make mutate``.

Each test names the behaviour it pins; the mutants it kills are listed in the README's
"Mutation testing" section. They run against the same real parts as the other identity
tests (a loopback OIDC IdP over HTTP, python3-saml with signed responses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbizfed.errors import ConfigError
from qbizfed.identity.discovery import ProviderMetadata
from qbizfed.identity.errors import IdTokenError, TokenEndpointError
from qbizfed.identity.oidc import OidcClientSettings, OidcRelyingParty
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from tests.support.rp_idp import CertifiedKey, LoopbackOidcIdp, SamlIdp

T = TypeVar("T")
SP_ENTITY = "https://app.rp-test.example/saml/metadata"
ACS = "https://app.rp-test.example/saml/acs"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def run(use: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(timeout=5) as http:
            return await use(http)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def oidc_idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


def oidc_settings(idp: LoopbackOidcIdp) -> OidcClientSettings:
    return OidcClientSettings(
        issuer=idp.issuer,
        client_id=idp.client_id,
        client_secret=idp.client_secret,
        redirect_uri="http://127.0.0.1:8765/callback",
        allow_insecure_loopback_http=True,
    )


def offline_rp(**metadata: object) -> OidcRelyingParty:
    """A relying party built from given metadata; nothing here touches the network."""
    fields: dict[str, object] = {
        "issuer": "https://idp.example.test",
        "authorization_endpoint": "https://idp.example.test/authorize",
        "token_endpoint": "https://idp.example.test/token",
        "jwks_uri": "https://idp.example.test/jwks",
        "id_token_signing_alg_values_supported": ("RS256",),
    }
    fields.update(metadata)
    settings = OidcClientSettings(
        issuer="https://idp.example.test", client_id="cid", redirect_uri="https://app/cb"
    )
    return OidcRelyingParty(
        settings,
        ProviderMetadata(**fields),
        http=httpx.AsyncClient(),  # type: ignore[arg-type]
    )


# -- errors -------------------------------------------------------------------------


def test_token_endpoint_error_defaults_to_no_oauth_error_and_no_remedy() -> None:
    error = TokenEndpointError("the IdP's token endpoint refused the request")
    assert error.error == ""
    assert error.remedy == ""
    assert str(error) == "the IdP's token endpoint refused the request"
    assert error.message == "the IdP's token endpoint refused the request"


# -- OIDC: refresh, logout, token-endpoint remedies ----------------------------------


def test_refresh_keeps_a_rotated_refresh_token(oidc_idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> object:
        rp = await OidcRelyingParty.discover(oidc_settings(oidc_idp), http=http)
        oidc_idp.token_response = {
            "id_token": oidc_idp.mint(oidc_idp.claims(nonce=None)),
            "refresh_token": "rt-rotated",
        }
        return await rp.refresh("rt-old")

    tokens = run(use)
    assert tokens.refresh_token == "rt-rotated"  # type: ignore[attr-defined]


def test_refresh_naming_another_user_says_so(oidc_idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> object:
        rp = await OidcRelyingParty.discover(oidc_settings(oidc_idp), http=http)
        oidc_idp.token_response = {
            "id_token": oidc_idp.mint(oidc_idp.claims(nonce=None, sub="user-mallory"))
        }
        return await rp.refresh("rt-old", expected_subject="user-alice")

    with pytest.raises(IdTokenError) as info:
        run(use)
    assert info.value.reason == "sub"
    assert "refreshed ID token names another user" in str(info.value)
    assert "sign in again" in info.value.remedy


def test_end_session_url_carries_state_and_keeps_the_endpoints_own_query() -> None:
    rp = offline_rp(end_session_endpoint="https://idp.example.test/logout?tenant=t1")
    url = rp.end_session_url(state="s-123")
    assert url is not None
    assert url.startswith("https://idp.example.test/logout?tenant=t1&")
    assert parse_qs(urlsplit(url).query) == {
        "tenant": ["t1"],
        "client_id": ["cid"],
        "state": ["s-123"],
    }


def test_end_session_url_is_none_without_an_end_session_endpoint() -> None:
    assert offline_rp().end_session_url(state="s") is None


@pytest.mark.parametrize(
    ("oauth_error", "remedy_fragment"),
    [
        ("invalid_client", "client authentication method configured at the IdP"),
        ("invalid_grant", "another redirect URI: sign in again"),
        ("unauthorized_client", "refresh-token) grant for this client at the IdP"),
        ("temporarily_unavailable", "check the client's settings at the IdP and sign in again"),
    ],
)
def test_token_endpoint_refusal_remedy_fits_the_oauth_error(
    oidc_idp: LoopbackOidcIdp, oauth_error: str, remedy_fragment: str
) -> None:
    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(oidc_settings(oidc_idp), http=http)
        oidc_idp.token_response, oidc_idp.token_status = {"error": oauth_error}, 400
        try:
            await rp.refresh("rt-old")
        finally:
            oidc_idp.token_status = 200

    with pytest.raises(TokenEndpointError) as info:
        run(use)
    assert info.value.error == oauth_error
    assert remedy_fragment in info.value.remedy


# -- SAML: settings from IdP metadata, SP construction --------------------------------


def _metadata(
    *,
    entity_id: str | None = "https://idp.rp-test.example/saml",
    certificates: tuple[str, ...] = (),
    sso: bool = True,
) -> str:
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>'
        f"<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        "</md:KeyDescriptor>"
        for cert in certificates
    )
    service = (
        f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{entity_id}/sso"/>' if sso else ""
    )
    entity = f' entityID="{entity_id}"' if entity_id is not None else ""
    return (
        f'<md:EntityDescriptor xmlns:md="{MD}"{entity}><md:IDPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}{service}</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def test_settings_from_idp_metadata_keep_every_signing_certificate_and_our_own_values() -> None:
    old, new = CertifiedKey.generate("old"), CertifiedKey.generate("new")
    settings = SamlSpSettings.from_idp_metadata(
        _metadata(certificates=(old.cert_b64, new.cert_b64)),
        sp_entity_id=SP_ENTITY,
        acs_url=ACS,
        allow_unsolicited=True,
    )
    assert settings.idp_certificates == (old.cert_b64, new.cert_b64)
    assert settings.sp_entity_id == SP_ENTITY
    assert settings.acs_url == ACS
    assert settings.allow_unsolicited is True


def test_settings_from_idp_metadata_without_a_redirect_sso_service_leave_the_url_empty() -> None:
    cert = CertifiedKey.generate().cert_b64
    settings = SamlSpSettings.from_idp_metadata(
        _metadata(certificates=(cert,), sso=False), sp_entity_id=SP_ENTITY, acs_url=ACS
    )
    assert settings.idp_sso_url == ""
    assert settings.idp_certificates == (cert,)


def test_idp_metadata_without_a_signing_certificate_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        SamlSpSettings.from_idp_metadata(_metadata(), sp_entity_id=SP_ENTITY, acs_url=ACS)
    assert "the IdP metadata lacks an entityID or a signing certificate" in str(info.value)
    assert "the IdP's full metadata document" in info.value.remedy


def test_metadata_that_is_not_idp_metadata_is_refused() -> None:
    sp_only = f'<md:EntityDescriptor xmlns:md="{MD}" entityID="{SP_ENTITY}"/>'
    with pytest.raises(ConfigError) as info:
        SamlSpSettings.from_idp_metadata(sp_only, sp_entity_id=SP_ENTITY, acs_url=ACS)
    assert "lacks an entityID or a signing certificate" in str(info.value)


def test_unreadable_idp_metadata_is_refused_with_a_remedy() -> None:
    with pytest.raises(ConfigError) as info:
        SamlSpSettings.from_idp_metadata("<not metadata", sp_entity_id=SP_ENTITY, acs_url=ACS)
    assert "the IdP metadata could not be read" in str(info.value)
    assert "the IdP's SAML metadata XML again" in info.value.remedy


def test_invalid_sp_settings_name_the_problem_and_what_to_check() -> None:
    idp = SamlIdp()
    settings = SamlSpSettings(
        sp_entity_id=SP_ENTITY,
        acs_url=ACS,
        idp_entity_id=idp.entity_id,
        idp_sso_url="not a url",
        idp_certificates=(idp.key.cert_pem,),
    )
    with pytest.raises(ConfigError) as info:
        SamlServiceProvider(settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache())
    assert "the SAML settings are invalid: " in str(info.value)
    assert "idp_sso_url" in str(info.value)
    assert "SSO URL and certificate (from the IdP's metadata) and the SP entity ID" in (
        info.value.remedy
    )


# -- SAML stores: exact expiry ----------------------------------------------------------


def test_request_id_is_refused_at_the_exact_end_of_its_ttl() -> None:
    now = [100.0]
    store = MemoryRequestIdStore(clock=lambda: now[0])
    store.remember_request("_early", 10)
    store.remember_request("_late", 10)
    now[0] = 109.999
    assert store.consume_request("_early") is True
    now[0] = 110.0
    assert store.consume_request("_late") is False


def test_replay_cache_remembers_an_assertion_for_ten_minutes_past_its_expiry() -> None:
    not_on_or_after = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    clock = [not_on_or_after.timestamp()]
    cache = MemoryReplayCache(clock=lambda: clock[0])
    assert cache.seen("_a1", not_on_or_after) is False
    clock[0] = not_on_or_after.timestamp() + 599
    assert cache.seen("_a1", not_on_or_after) is True
    clock[0] = not_on_or_after.timestamp() + 600
    assert cache.seen("_a1", not_on_or_after) is False  # forgotten: it expired long ago
