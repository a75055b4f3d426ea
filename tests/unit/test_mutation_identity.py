"""Tests written because a mutant of ``qbizfed.identity`` survived ``make mutate``.

Each test names the behaviour it pins; the mutants it kills are listed in the README's
"Mutation testing" section. They run against the same real parts as the other identity
tests (a loopback OIDC IdP over HTTP, python3-saml with signed responses).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lxml import etree
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError

from qbizfed.errors import ConfigError
from qbizfed.identity.device_authorization import (
    DeviceAuthorization,
    DeviceAuthorizationError,
    parse_device_authorization,
    poll_for_tokens,
    start_device_authorization,
)
from qbizfed.identity.discovery import ProviderMetadata, discover, fetch_blocking
from qbizfed.identity.errors import (
    IdpUnreachableError,
    IdTokenError,
    SamlAttributeError,
    SamlResponseError,
    TokenEndpointError,
    UserInfoError,
)
from qbizfed.identity.oidc import OidcRelyingParty, SyncOidcRelyingParty
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings, _library_refusal
from qbizfed.identity.saml_attributes import PRINCIPAL_TAG, parse_principal_tags, parse_roles
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.url_policy import InsecureEndpointError
from tests.support.rp_idp import NS, CertifiedKey, LoopbackOidcIdp, SamlIdp, b64

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


def oidc_settings(idp: LoopbackOidcIdp) -> OidcRegistration:
    return OidcRegistration(
        issuer=idp.issuer,
        client_id=idp.client_id,
        client_secret=idp.client_secret,
        redirect_uri="http://127.0.0.1:8765/callback",
        allow_insecure_loopback_http=True,
    )


def offline_rp(**metadata: object) -> OidcRelyingParty:
    """A relying party built from given metadata; nothing here touches the network."""
    fields: dict[str, Any] = {
        "issuer": "https://idp.example.test",
        "authorization_endpoint": "https://idp.example.test/authorize",
        "token_endpoint": "https://idp.example.test/token",
        "jwks_uri": "https://idp.example.test/jwks",
        "id_token_signing_alg_values_supported": ("RS256",),
    }
    fields.update(metadata)
    settings = OidcRegistration(
        issuer="https://idp.example.test", client_id="cid", redirect_uri="https://app/cb"
    )
    return OidcRelyingParty(
        settings,
        ProviderMetadata(**fields),
        http=httpx.AsyncClient(),
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
    assert "the IdP metadata cannot be used: it has no signing certificate" in str(info.value)
    assert "includes the IdP's signing certificate" in info.value.remedy


def test_metadata_that_is_not_idp_metadata_is_refused() -> None:
    sp_only = f'<md:EntityDescriptor xmlns:md="{MD}" entityID="{SP_ENTITY}"/>'
    with pytest.raises(ConfigError) as info:
        SamlSpSettings.from_idp_metadata(sp_only, sp_entity_id=SP_ENTITY, acs_url=ACS)
    assert "it has no IDPSSODescriptor" in str(info.value)
    assert "the *IdP* metadata" in info.value.remedy


def test_unreadable_idp_metadata_is_refused_with_a_remedy() -> None:
    with pytest.raises(ConfigError) as info:
        SamlSpSettings.from_idp_metadata("<not metadata", sp_entity_id=SP_ENTITY, acs_url=ACS)
    assert "the IdP metadata cannot be used: it is not well-formed XML" in str(info.value)
    assert "download the metadata XML again" in info.value.remedy


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


# -- SAML: the python3-saml settings this SP is built with ------------------------------

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"


@pytest.fixture(scope="module")
def saml_idp() -> SamlIdp:
    return SamlIdp()


def make_sp(idp: SamlIdp, **kwargs: object) -> SamlServiceProvider:
    settings = SamlSpSettings(
        sp_entity_id=SP_ENTITY,
        acs_url=ACS,
        idp_entity_id=idp.entity_id,
        idp_sso_url=idp.entity_id + "/sso",
        idp_certificates=(idp.key.cert_pem,),
        **kwargs,  # type: ignore[arg-type]
    )
    return SamlServiceProvider(
        settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache()
    )


def authn_request(sp: SamlServiceProvider) -> tuple[etree._Element, dict[str, list[str]]]:
    redirect = sp.authn_request()
    query = parse_qs(urlsplit(redirect.url).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    return etree.fromstring(xml), query


def response_for(
    idp: SamlIdp,
    sp: SamlServiceProvider,
    *,
    remove: tuple[str, ...] = (),
    duplicate: str | None = None,
    edit: Callable[[etree._Element], None] | None = None,
    **spec_fields: object,
) -> str:
    """A response to a fresh AuthnRequest, edited before the IdP signs the assertion."""
    spec = idp.spec(
        sp_entity_id=SP_ENTITY,
        acs_url=ACS,
        in_response_to=sp.authn_request().request_id,
        **spec_fields,
    )
    root = etree.fromstring(idp.response_xml(spec).encode())
    for path in remove:
        for element in root.findall(path, NS):
            parent = element.getparent()
            assert parent is not None
            parent.remove(element)
    if duplicate is not None:
        attribute = root.find(f".//saml:Attribute[@Name='{duplicate}']", NS)
        assert attribute is not None
        attribute.addnext(etree.fromstring(etree.tostring(attribute)))
    if edit is not None:
        edit(root)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    idp._sign_element(root, assertion, idp.key)
    return b64(etree.tostring(root))


def test_authn_request_asks_for_an_email_name_id_and_no_authn_context(saml_idp: SamlIdp) -> None:
    request, _ = authn_request(make_sp(saml_idp))
    policy = request.find(f"{{{SAMLP}}}NameIDPolicy")
    assert policy is not None
    assert policy.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert request.find(f"{{{SAMLP}}}RequestedAuthnContext") is None


def test_sp_with_a_certificate_but_no_key_sends_unsigned_requests(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp, sp_certificate_pem=CertifiedKey.generate("sp").cert_pem)
    _, query = authn_request(sp)
    assert "Signature" not in query
    assert "SigAlg" not in query


def test_sp_that_wants_signed_messages_refuses_a_response_with_only_the_assertion_signed(
    saml_idp: SamlIdp,
) -> None:
    sp = make_sp(saml_idp, want_messages_signed=True)
    with pytest.raises(SamlResponseError) as info:
        sp.validate_response(response_for(saml_idp, sp))
    assert info.value.reason == "unsigned_response"


def test_response_without_a_name_id_is_not_accepted(saml_idp: SamlIdp) -> None:
    # Refused by python3-saml's wantNameId; which error type carries the refusal is issue
    # 14's SAML-errors work (it must become a SamlResponseError), so only the refusal and
    # its subject are pinned here.
    sp = make_sp(saml_idp)
    raw = response_for(saml_idp, sp, remove=(".//saml:NameID",))
    with pytest.raises(Exception) as info:
        sp.validate_response(raw)
    assert "NameID" in str(info.value)


def test_response_without_an_attribute_statement_is_refused_for_that(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp)
    with pytest.raises(SamlResponseError, match="AttributeStatement") as info:
        sp.validate_response(response_for(saml_idp, sp, remove=(".//saml:AttributeStatement",)))
    assert info.value.reason == "attributes"


def test_response_repeating_an_attribute_name_is_not_accepted(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp)
    raw = response_for(saml_idp, sp, duplicate="https://aws.amazon.com/SAML/Attributes/Role")
    with pytest.raises(SamlResponseError) as info:
        sp.validate_response(raw)
    assert "ttribute" in str(info.value)
    assert info.value.reason == "attributes"


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


# -- errors: the default remedies -------------------------------------------------------


def test_identity_errors_without_their_own_remedy_carry_the_default_one() -> None:
    assert "compare the IdP's SAML app settings" in SamlResponseError("m", reason="r").remedy
    assert "check the IdP and client settings" in IdTokenError("m", reason="r").remedy


def test_saml_refusal_without_its_own_remedy_carries_the_default_one(saml_idp: SamlIdp) -> None:
    with pytest.raises(SamlResponseError) as info:
        make_sp(saml_idp).validate_response("A" * (256 * 1024 + 4))
    assert info.value.reason == "size"
    assert "compare the IdP's SAML app settings" in info.value.remedy


# -- SAML attributes: exact limits ------------------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/TestIdp"


def test_principal_tags_at_their_limits_are_accepted() -> None:
    tags = {f"{PRINCIPAL_TAG}T{i:02}": ["v"] for i in range(48)}
    tags[PRINCIPAL_TAG + "K" * 128] = ["v"]
    tags[PRINCIPAL_TAG + "Email"] = ["a" * 250 + "@x.com"]
    parsed = parse_principal_tags(tags)
    assert len(parsed) == 50
    assert ("K" * 128, "v") in parsed


@pytest.mark.parametrize(
    "attribute",
    [
        (PRINCIPAL_TAG + "K" * 129, ["v"]),
        (PRINCIPAL_TAG + "Email", ["a" * 251 + "@x.com"]),
        (PRINCIPAL_TAG + "Email", ["a@x.com", "b@x.com"]),
        (PRINCIPAL_TAG, ["v"]),
    ],
    ids=["key_of_129_characters", "value_of_257_characters", "two_values", "empty_key"],
)
def test_principal_tag_beyond_its_limits_is_refused(attribute: tuple[str, list[str]]) -> None:
    name, values = attribute
    with pytest.raises(SamlAttributeError, match="must have one value of at most 256"):
        parse_principal_tags({name: values})


def test_more_than_fifty_principal_tags_are_refused() -> None:
    tags = {f"{PRINCIPAL_TAG}T{i:02}": ["v"] for i in range(51)}
    with pytest.raises(SamlAttributeError) as info:
        parse_principal_tags(tags)
    assert "more than 50 PrincipalTag attributes" in str(info.value)
    assert info.value.remedy == "release fewer"


@pytest.mark.parametrize(
    "value", [f"{ROLE},{ROLE}", f"{ROLE},not-an-arn", f"{PROVIDER},{PROVIDER}"]
)
def test_role_value_that_is_not_a_role_and_provider_pair_is_refused_as_such(value: str) -> None:
    with pytest.raises(SamlAttributeError) as info:
        parse_roles({"https://aws.amazon.com/SAML/Attributes/Role": [value]})
    assert "is not '<role arn>,<saml-provider arn>'" in str(info.value)
    assert "provider first" not in str(info.value)


# -- SAML responses: the checks qbizfed adds, and what it reads ----------------------

SCD = "saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"


def _set(path: str, attribute: str, value: str | None) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        for element in root.findall(path, NS):
            if value is None:
                element.attrib.pop(attribute, None)
            else:
                element.set(attribute, value)

    return edit


def _refusal(idp: SamlIdp, **edits: object) -> SamlResponseError:
    sp = make_sp(idp)
    with pytest.raises(SamlResponseError) as info:
        sp.validate_response(response_for(idp, sp, **edits))  # type: ignore[arg-type]
    return info.value


def test_response_naming_two_different_requests_is_refused(saml_idp: SamlIdp) -> None:
    error = _refusal(saml_idp, edit=_set(SCD, "InResponseTo", "_another-request"))
    assert error.reason == "in_response_to"
    assert "two different requests" in str(error)


@pytest.mark.parametrize("kept_on", ["Response", "SubjectConfirmationData"])
def test_in_response_to_is_read_from_either_place(saml_idp: SamlIdp, kept_on: str) -> None:
    path = "." if kept_on == "SubjectConfirmationData" else SCD
    sp = make_sp(saml_idp)
    identity = sp.validate_response(
        response_for(saml_idp, sp, edit=_set(path, "InResponseTo", None))
    )
    assert identity.email == "alice@example.com"


def test_subject_confirmation_that_is_not_bearer_is_refused(saml_idp: SamlIdp) -> None:
    method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
    error = _refusal(saml_idp, edit=_set(SCD + "/..", "Method", method))
    assert error.reason == "subject_confirmation"


def test_subject_confirmation_without_data_is_refused_for_its_recipient(saml_idp: SamlIdp) -> None:
    error = _refusal(saml_idp, remove=(SCD,))
    assert error.reason == "recipient"


def test_subject_confirmation_without_not_on_or_after_is_refused(saml_idp: SamlIdp) -> None:
    error = _refusal(saml_idp, edit=_set(SCD, "NotOnOrAfter", None))
    assert error.reason == "subject_confirmation"
    assert "lacks NotOnOrAfter" in str(error)


def test_subject_confirmation_not_on_or_after_that_is_no_time_is_refused(saml_idp: SamlIdp) -> None:
    error = _refusal(saml_idp, edit=_set(SCD, "NotOnOrAfter", "tomorrow"))
    assert error.reason == "subject_confirmation"
    assert "2026-01-01T00:05:00Z" in error.remedy


def test_session_not_on_or_after_caps_the_identitys_expiry(saml_idp: SamlIdp) -> None:
    session_end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    sp = make_sp(saml_idp)
    raw = response_for(
        saml_idp,
        sp,
        edit=_set(
            "saml:Assertion/saml:AuthnStatement",
            "SessionNotOnOrAfter",
            session_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    )
    assert sp.validate_response(raw).expires_at == session_end


def test_identity_reads_groups_display_name_transitive_keys_and_audiences(
    saml_idp: SamlIdp,
) -> None:
    sp = make_sp(saml_idp)
    raw = response_for(
        saml_idp,
        sp,
        extra_attributes={
            "groups": ["eng", "ops"],
            "displayName": ["Alice Example", "A. Example"],
            "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys": ["Email"],
        },
    )
    identity = sp.validate_response(raw)
    assert identity.groups == ("eng", "ops")
    assert identity.display_name == "Alice Example"
    assert identity.transitive_tag_keys == ("Email",)
    assert identity.audiences == (SP_ENTITY,)
    assert identity.issuer == saml_idp.entity_id


# -- the blocking facades the CLI uses ----------------------------------------------------


def test_blocking_discovery_needs_the_loud_switch_for_loopback_http(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    with pytest.raises(InsecureEndpointError):
        fetch_blocking(lambda http: discover(oidc_idp.issuer, http=http))
    metadata = fetch_blocking(
        lambda http: discover(oidc_idp.issuer, http=http, allow_insecure_loopback_http=True),
        timeout=5,
    )
    assert metadata.issuer == oidc_idp.issuer
    assert metadata.jwks_uri == f"{oidc_idp.base_url}/jwks"


def test_blocking_refresh_sends_the_token_and_checks_the_subject(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    rp = SyncOidcRelyingParty(oidc_settings(oidc_idp))
    oidc_idp.token_response = {"id_token": oidc_idp.mint(oidc_idp.claims(nonce=None))}
    tokens = rp.refresh("rt-sync", expected_subject="user-alice")
    assert oidc_idp.token_requests[-1].form["refresh_token"] == "rt-sync"
    assert tokens.identity.email == "alice@example.com"
    with pytest.raises(IdTokenError) as info:
        rp.refresh("rt-sync", expected_subject="user-bob")
    assert info.value.reason == "sub"


def test_blocking_end_session_url_is_the_async_one(oidc_idp: LoopbackOidcIdp) -> None:
    url = SyncOidcRelyingParty(oidc_settings(oidc_idp)).end_session_url(state="s1")
    assert url is not None
    assert url.startswith(f"{oidc_idp.base_url}/session/end?")
    assert parse_qs(urlsplit(url).query)["state"] == ["s1"]


def test_saml_response_size_limit_is_exact(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp)
    limit = 256 * 1024
    with pytest.raises(SamlResponseError) as too_large:
        sp.validate_response("A" * (limit + 1))
    assert too_large.value.reason == "size"
    assert f"larger than {limit} bytes" in str(too_large.value)
    with pytest.raises(SamlResponseError) as at_limit:
        sp.validate_response("A" * limit)
    assert at_limit.value.reason != "size"


def test_line_wrapped_base64_from_the_idp_is_accepted(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp)
    raw = response_for(saml_idp, sp)
    wrapped = "\r\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))
    assert sp.validate_response(wrapped).email == "alice@example.com"


def test_replayed_assertion_is_refused_with_what_to_do(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp)
    raw = response_for(saml_idp, sp)
    sp.validate_response(raw)
    with pytest.raises(SamlResponseError) as info:
        sp.validate_response(raw)
    assert info.value.reason == "replay"
    assert info.value.remedy == "start the login again"


# -- Device sign-in (RFC 8628): the IdP's answer, starting, polling ----------------------

DEVICE_DOC: dict[str, Any] = {
    "device_code": "dc-0123456789",
    "user_code": "BCDF-GHJK",
    "verification_uri": "https://idp.example.test/device",
    "verification_uri_complete": "https://idp.example.test/device?user_code=BCDF-GHJK",
    "expires_in": 600,
    "interval": 7,
}


def parse_device(**change: object) -> DeviceAuthorization:
    doc = {k: v for k, v in {**DEVICE_DOC, **change}.items() if v is not None}
    return parse_device_authorization(doc, allow_insecure_loopback_http=False)


def device_refusal(**change: object) -> DeviceAuthorizationError:
    with pytest.raises(DeviceAuthorizationError) as info:
        parse_device(**change)
    assert info.value.reason == "invalid_response"
    assert info.value.remedy == "check the IdP's device flow settings"
    return info.value


def test_device_authorization_keeps_every_field_of_a_genuine_answer() -> None:
    parsed = parse_device()
    assert parsed == DeviceAuthorization(
        device_code="dc-0123456789",
        user_code="BCDF-GHJK",
        verification_uri="https://idp.example.test/device",
        verification_uri_complete="https://idp.example.test/device?user_code=BCDF-GHJK",
        expires_in=600,
        interval=7,
    )


@pytest.mark.parametrize("key", ["device_code", "user_code", "verification_uri"])
@pytest.mark.parametrize("value", [None, "", 42])
def test_device_authorization_without_a_required_string_is_refused(key: str, value: object) -> None:
    error = device_refusal(**{key: value})
    assert f"lacks {key!r}" in str(error)


def test_device_user_code_of_64_printable_characters_is_accepted() -> None:
    assert parse_device(user_code="A" * 64).user_code == "A" * 64
    assert "short printable code" in str(device_refusal(user_code="A" * 65))
    assert "short printable code" in str(device_refusal(user_code="AB\nCD"))


def test_device_verification_uri_complete_is_optional() -> None:
    assert parse_device(verification_uri_complete=None).verification_uri_complete is None
    assert parse_device(verification_uri_complete=7).verification_uri_complete is None


def test_device_verification_uris_must_be_https_unless_loopback_is_allowed() -> None:
    with pytest.raises(InsecureEndpointError, match="verification_uri"):
        parse_device(verification_uri_complete="http://idp.example.test/device?c=1")
    loopback = {**DEVICE_DOC, "verification_uri": "http://127.0.0.1:9/device"}
    del loopback["verification_uri_complete"]
    parsed = parse_device_authorization(loopback, allow_insecure_loopback_http=True)
    assert parsed.verification_uri == "http://127.0.0.1:9/device"


def test_device_interval_defaults_to_five_seconds_and_both_times_are_capped() -> None:
    assert parse_device(interval=None).interval == 5
    assert parse_device(interval=0).interval == 0
    assert parse_device(interval=60).interval == 60
    assert parse_device(interval=61).interval == 60
    assert parse_device(expires_in=3600).expires_in == 3600
    assert parse_device(expires_in=3601).expires_in == 3600
    assert parse_device(expires_in=1).expires_in == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [("expires_in", None), ("expires_in", -1), ("expires_in", "600"), ("expires_in", 1.5),
     ("interval", True), ("interval", -1), ("interval", "5")],
)  # fmt: skip
def test_device_times_that_are_not_whole_seconds_are_refused(key: str, value: object) -> None:
    error = device_refusal(**{key: value})
    assert f"has no valid {key!r}" in str(error)


def test_device_code_that_expires_immediately_is_refused() -> None:
    assert "expires immediately (expires_in = 0)" in str(device_refusal(expires_in=0))


def test_device_authorization_error_carries_its_reason_and_remedy() -> None:
    error = DeviceAuthorizationError("msg", reason="access_denied", remedy="do this")
    assert (str(error), error.reason, error.remedy) == ("msg", "access_denied", "do this")


@pytest.fixture
def device_idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp()
    advertised = server.discovery_document

    def with_device_endpoint() -> dict[str, Any]:
        return {**advertised(), "device_authorization_endpoint": f"{server.base_url}/device"}

    server.discovery_document = with_device_endpoint  # type: ignore[method-assign]
    server.start()
    yield server
    server.stop()


def test_device_authorization_asks_for_openid_first_with_client_authentication(
    device_idp: LoopbackOidcIdp,
) -> None:
    async def use(http: httpx.AsyncClient) -> DeviceAuthorization:
        settings = OidcRegistration(
            issuer=device_idp.issuer,
            client_id=device_idp.client_id,
            client_secret=device_idp.client_secret,
            redirect_uri="http://127.0.0.1:8765/callback",
            allow_insecure_loopback_http=True,
            scopes=("email", "openid", "email", "aws_tags"),
        )
        rp = await OidcRelyingParty.discover(settings, http=http)
        device_idp.token_response = {
            **DEVICE_DOC,
            "verification_uri": f"{device_idp.base_url}/verify",
            "verification_uri_complete": None,
        }
        return await start_device_authorization(rp)

    authorization = run(use)
    assert authorization.verification_uri == f"{device_idp.base_url}/verify"
    (request,) = device_idp.token_requests
    assert request.form == {"scope": "openid email aws_tags"}
    assert request.authorization is not None
    assert request.authorization.startswith("Basic ")


def test_device_sign_in_without_a_device_endpoint_says_what_to_do(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    async def use(http: httpx.AsyncClient) -> DeviceAuthorization:
        rp = await OidcRelyingParty.discover(oidc_settings(oidc_idp), http=http)
        return await start_device_authorization(rp)

    with pytest.raises(ConfigError) as info:
        run(use)
    assert f"the IdP {oidc_idp.issuer} does not advertise a device_authorization_endpoint" in str(
        info.value
    )
    assert "qbizfed login without --device" in info.value.remedy


def _poll(
    idp: LoopbackOidcIdp,
    answers: list[tuple[int, dict[str, Any]]],
    *,
    expires_in: int = 600,
    interval: int = 5,
    clock_step: float = 0.0,
) -> tuple[list[float], list[int], object]:
    """Poll ``idp`` whose token endpoint gives ``answers`` in turn; the sleeps and the
    slow-down callbacks seen, and the tokens (or the error raised)."""
    sleeps: list[float] = []
    slowed: list[int] = []
    now = [1000.0]
    authorization = DeviceAuthorization(
        device_code="dc-secret", user_code="U", verification_uri="https://x/d",
        verification_uri_complete=None, expires_in=expires_in, interval=interval,
    )  # fmt: skip

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += clock_step
        idp.token_status, idp.token_response = answers.pop(0)

    async def use(http: httpx.AsyncClient) -> object:
        rp = await OidcRelyingParty.discover(oidc_settings(idp), http=http)
        try:
            return await poll_for_tokens(
                rp, authorization, sleep=sleep, clock=lambda: now[0], on_slow_down=slowed.append
            )
        except Exception as exc:  # returned for the test to inspect
            return exc
        finally:
            idp.token_status = 200

    idp.token_requests.clear()
    return sleeps, slowed, run(use)


def test_device_polling_waits_on_pending_slows_down_and_returns_validated_tokens(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    token = oidc_idp.mint(oidc_idp.claims(nonce=None))
    answers = [
        (400, {"error": "authorization_pending"}),
        (400, {"error": "slow_down"}),
        (400, {"error": "slow_down"}),
        (200, {"id_token": token}),
    ]
    sleeps, slowed, tokens = _poll(oidc_idp, answers)
    assert sleeps == [5, 5, 10, 15]
    assert slowed == [10, 15]
    assert tokens.identity.subject == "user-alice"  # type: ignore[attr-defined]
    forms = [r.form for r in oidc_idp.token_requests]
    assert forms[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert forms[0]["device_code"] == "dc-secret"


def test_device_polling_slows_down_to_at_most_a_minute(oidc_idp: LoopbackOidcIdp) -> None:
    token = oidc_idp.mint(oidc_idp.claims(nonce=None))
    answers = [(400, {"error": "slow_down"}), (200, {"id_token": token})]
    sleeps, slowed, _ = _poll(oidc_idp, answers, interval=58)
    assert sleeps == [58, 60]
    assert slowed == [60]


@pytest.mark.parametrize(
    ("oauth_error", "reason", "fragment"),
    [
        ("access_denied", "access_denied", "the sign-in was denied at the IdP"),
        ("expired_token", "expired_token", "the device code expired before"),
    ],
)
def test_device_polling_stops_when_denied_or_expired(
    oidc_idp: LoopbackOidcIdp, oauth_error: str, reason: str, fragment: str
) -> None:
    _, _, error = _poll(oidc_idp, [(400, {"error": oauth_error})])
    assert isinstance(error, DeviceAuthorizationError)
    assert error.reason == reason
    assert fragment in str(error)
    assert "run qbizfed login --device again" in error.remedy
    assert isinstance(error.__cause__, TokenEndpointError)


def test_device_polling_passes_other_token_endpoint_errors_on(oidc_idp: LoopbackOidcIdp) -> None:
    _, _, error = _poll(oidc_idp, [(400, {"error": "invalid_client"})])
    assert isinstance(error, TokenEndpointError)
    assert error.error == "invalid_client"


def test_device_polling_stops_once_expires_in_has_passed(oidc_idp: LoopbackOidcIdp) -> None:
    pending = (400, {"error": "authorization_pending"})
    sleeps, _, error = _poll(oidc_idp, [pending] * 3, expires_in=20, clock_step=10)
    assert isinstance(error, DeviceAuthorizationError)
    assert error.reason == "expired_token"
    assert "enter the new code sooner" in error.remedy
    assert sleeps == [5, 5, 5]  # at 1010 and 1020 still polling; at 1030 past the deadline
    assert len(oidc_idp.token_requests) == 2


# -- OIDC UserInfo: display claims only, from an answer naming the same user --------------


def _userinfo(idp: LoopbackOidcIdp, status: int, answer: Any, subject: str = "user-alice") -> Any:
    async def use(http: httpx.AsyncClient) -> Any:
        rp = await OidcRelyingParty.discover(oidc_settings(idp), http=http)
        idp.userinfo_status, idp.userinfo_response = status, answer
        try:
            return await rp.userinfo("at-123", subject=subject)
        except Exception as exc:  # returned for the test to inspect
            return exc
        finally:
            idp.userinfo_status, idp.userinfo_response = 200, None

    return run(use)


def test_userinfo_is_asked_with_the_access_token_and_answers_its_claims(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    claims = _userinfo(oidc_idp, 200, {"sub": "user-alice", "name": "Alice"})
    assert claims == {"sub": "user-alice", "name": "Alice"}
    assert oidc_idp.userinfo_authorizations[-1] == "Bearer at-123"


@pytest.mark.parametrize(
    ("status", "answer", "reason", "fragment"),
    [
        (401, {"sub": "user-alice"}, "userinfo_refused", "refused the access token (HTTP 401)"),
        (499, {"sub": "user-alice"}, "userinfo_refused", "refused the access token (HTTP 499)"),
        (200, ["user-alice"], "userinfo_malformed", "did not answer a JSON object of at most"),
        (200, {"sub": "x" * (64 * 1024)}, "userinfo_malformed", "65536 bytes"),
        (200, {"sub": "user-mallory"}, "userinfo_sub", "names another user than the ID token"),
        (200, {"name": "no sub"}, "userinfo_sub", "its 'sub' differs"),
    ],
)
def test_userinfo_answer_that_cannot_be_used_is_refused_for_its_reason(
    oidc_idp: LoopbackOidcIdp, status: int, answer: Any, reason: str, fragment: str
) -> None:
    error = _userinfo(oidc_idp, status, answer)
    assert isinstance(error, UserInfoError)
    assert error.reason == reason
    assert fragment in str(error)


def test_userinfo_remedies_say_what_to_do(oidc_idp: LoopbackOidcIdp) -> None:
    refused = _userinfo(oidc_idp, 403, {})
    assert "allow this client to call the userinfo endpoint" in refused.remedy
    malformed = _userinfo(oidc_idp, 200, [])
    assert "answer userinfo as plain JSON" in malformed.remedy
    other_user = _userinfo(oidc_idp, 200, {"sub": "user-mallory"})
    assert "userinfo endpoint and its ID tokens disagree" in other_user.remedy


def test_userinfo_error_keeps_a_remedy_given_to_it() -> None:
    error = UserInfoError("msg", reason="r", remedy="do this")
    assert (str(error), error.reason, error.remedy) == ("msg", "r", "do this")


def test_userinfo_endpoint_that_fails_is_reported_as_unreachable(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    error = _userinfo(oidc_idp, 500, {"sub": "user-alice"})
    assert isinstance(error, IdpUnreachableError)
    assert "userinfo endpoint failed (HTTP 500)" in str(error)
    assert "try again in a minute" in error.remedy


def test_userinfo_adds_display_claims_but_never_the_email(oidc_idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> Any:
        rp = await OidcRelyingParty.discover(oidc_settings(oidc_idp), http=http)
        pending = rp.authorization_request()
        oidc_idp.token_response = {
            "id_token": oidc_idp.mint(oidc_idp.claims(nonce=pending.nonce, name=None)),
            "access_token": "at-123",
        }
        oidc_idp.userinfo_response = {
            "sub": "user-alice", "preferred_username": "alice", "email": "mallory@example.com",
            "groups": ["staff", 7, "admins"],
        }  # fmt: skip
        try:
            return await rp.exchange_code("code-1", pending=pending)
        finally:
            oidc_idp.userinfo_response = None

    identity = run(use).identity
    assert identity.display_name == "alice"
    assert identity.groups == ("staff", "admins")
    assert identity.email == "alice@example.com"


# -- SAML: what a library refusal becomes; an assertion that is not the Response's child ----


def test_assertion_wrapped_away_from_the_response_is_refused_by_count(saml_idp: SamlIdp) -> None:
    sp = make_sp(saml_idp)
    root = etree.fromstring(base64.b64decode(response_for(saml_idp, sp)))
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    wrapper = etree.SubElement(root, f"{{{NS['samlp']}}}Extensions")
    wrapper.append(assertion)  # the signed assertion, moved one level down (XSW)
    with pytest.raises(SamlResponseError) as info:
        sp.validate_response(b64(etree.tostring(root)))
    assert info.value.reason == "assertion_count"
    assert "exactly one assertion (found 1)" in str(info.value)


def test_library_validation_error_with_an_unmapped_code_is_refused_as_invalid() -> None:
    error = _library_refusal(OneLogin_Saml2_ValidationError("odd", code=-12345))
    assert error.reason == "invalid"
    assert str(error) == "the SAML response was refused: odd"


def test_library_validation_error_keeps_its_mapped_reason() -> None:
    code = OneLogin_Saml2_ValidationError.WRONG_AUDIENCE
    error = _library_refusal(OneLogin_Saml2_ValidationError("aud", code=code))
    assert error.reason == "audience"


@pytest.mark.parametrize("kind", ["validation", "library"])
def test_library_refusal_messages_are_cut_at_400_characters(kind: str) -> None:
    text = "x" * 1000
    exc: Exception = (
        OneLogin_Saml2_ValidationError(text, code=-12345)
        if kind == "validation"
        else OneLogin_Saml2_Error(text)
    )
    error = _library_refusal(exc)
    assert str(error) == ("the SAML response was refused: " + text)[:400]
    assert error.reason == "invalid"


def test_other_library_errors_are_signature_refusals_without_quoting_input() -> None:
    error = _library_refusal(ValueError("<secret input quoted by the parser>"))
    assert error.reason == "signature"
    assert str(error) == "the SAML response could not be verified (ValueError)"
    assert "compare the IdP's SAML app settings" in error.remedy


def test_saml_response_error_passes_through_unchanged() -> None:
    original = SamlResponseError("m", reason="replay")
    assert _library_refusal(original) is original


# -- the blocking OIDC facade: one JWKS fetch, no redirects, its own timeout -------------


def test_blocking_relying_party_fetches_the_jwks_once_across_calls(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    sync = SyncOidcRelyingParty(oidc_settings(oidc_idp))
    hits = oidc_idp.jwks_hits
    for _ in range(3):
        oidc_idp.token_response = {"id_token": oidc_idp.mint(oidc_idp.claims(nonce=None))}
        sync.refresh("rt-old")
    assert oidc_idp.jwks_hits == hits + 1


class _Redirector:
    """An endpoint that answers every POST with a 307 to ``target``."""

    def __init__(self, target: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.send_response(307)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"


def test_blocking_relying_party_does_not_follow_a_token_endpoint_redirect(
    oidc_idp: LoopbackOidcIdp,
) -> None:
    redirector = _Redirector(f"{oidc_idp.base_url}/token")
    advertised = oidc_idp.discovery_document
    oidc_idp.discovery_document = lambda: {  # type: ignore[method-assign]
        **advertised(), "token_endpoint": redirector.url,
    }  # fmt: skip
    try:
        oidc_idp.token_response = {"id_token": oidc_idp.mint(oidc_idp.claims(nonce=None))}
        oidc_idp.token_requests.clear()
        with pytest.raises(TokenEndpointError, match=r"HTTP 307"):
            SyncOidcRelyingParty(oidc_settings(oidc_idp)).refresh("rt-old")
        assert oidc_idp.token_requests == []  # the refresh token went nowhere else
    finally:
        oidc_idp.discovery_document = advertised  # type: ignore[method-assign]
        redirector.server.shutdown()
        redirector.server.server_close()


class _SlowTokenIdp(LoopbackOidcIdp):
    """Answers the token endpoint after ``delay`` seconds."""

    delay = 0.0

    @property
    def token_response(self) -> dict[str, Any] | None:
        time.sleep(self.delay)
        return self._answer

    @token_response.setter
    def token_response(self, value: dict[str, Any] | None) -> None:
        self._answer = value


def test_blocking_relying_party_gives_up_after_its_timeout() -> None:
    idp = _SlowTokenIdp()
    idp.start()
    try:
        idp.token_response = {"id_token": idp.mint(idp.claims(nonce=None))}
        idp.delay = 1.5
        sync = SyncOidcRelyingParty(oidc_settings(idp), timeout=0.5)
        with pytest.raises(IdpUnreachableError, match="ReadTimeout"):
            sync.refresh("rt-old")
    finally:
        idp.delay = 0.0
        idp.stop()
