"""SAML service provider: AuthnRequest, metadata, a valid response, AWS attributes, stores."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from onelogin.saml2.xmlparser import DTDForbidden, EntitiesForbidden

from qbizfed.identity.errors import SamlAttributeError, SamlResponseError
from qbizfed.identity.federated import SamlRole
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from tests.support.rp_idp import NS, TAG_ATTR, CertifiedKey, SamlIdp, b64

SP_ENTITY = "https://app.rp-test.example/saml/metadata"
ACS = "https://app.rp-test.example/saml/acs"
ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/TestIdp"


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return SamlIdp()


def make_sp(idp: SamlIdp, **kwargs: object) -> tuple[SamlServiceProvider, MemoryRequestIdStore]:
    store = MemoryRequestIdStore()
    settings = SamlSpSettings(
        sp_entity_id=SP_ENTITY,
        acs_url=ACS,
        idp_entity_id=idp.entity_id,
        idp_sso_url=idp.entity_id + "/sso",
        idp_certificates=(idp.key.cert_pem,),
        **kwargs,  # type: ignore[arg-type]
    )
    return SamlServiceProvider(settings, requests=store, replay=MemoryReplayCache()), store


def login(idp: SamlIdp, sp: SamlServiceProvider, **spec: object) -> str:
    request = sp.authn_request()
    response_spec = idp.spec(
        sp_entity_id=SP_ENTITY, acs_url=ACS, in_response_to=request.request_id, **spec
    )
    return b64(idp.signed_response(response_spec))


def test_authn_request_is_deflated_remembered_and_names_our_acs(idp: SamlIdp) -> None:
    sp, store = make_sp(idp)
    redirect = sp.authn_request(relay_state="/after-login")
    query = parse_qs(urlsplit(redirect.url).query)
    assert redirect.url.startswith(idp.entity_id + "/sso?")
    assert query["RelayState"] == ["/after-login"]
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    request = etree.fromstring(xml)
    assert request.get("ID") == redirect.request_id
    assert request.get("AssertionConsumerServiceURL") == ACS
    assert request.findtext("saml:Issuer", namespaces=NS) == SP_ENTITY
    assert "Signature" not in query
    assert store.consume_request(redirect.request_id) is True
    assert store.consume_request(redirect.request_id) is False


def test_authn_request_is_signed_when_the_sp_has_a_key(idp: SamlIdp) -> None:
    sp_key = CertifiedKey.generate("sp")
    pem = sp_key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    sp, _ = make_sp(idp, sp_private_key_pem=pem, sp_certificate_pem=sp_key.cert_pem)
    redirect = sp.authn_request(relay_state="r")
    raw_query = urlsplit(redirect.url).query
    params = dict(p.split("=", 1) for p in raw_query.split("&"))
    assert parse_qs(raw_query)["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    signed = "&".join(f"{name}={params[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg"))
    signature = base64.b64decode(parse_qs(raw_query)["Signature"][0])
    public_key = sp_key.cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert quote_plus("r") == params["RelayState"]


def test_sp_metadata_names_entity_and_acs(idp: SamlIdp) -> None:
    sp, _ = make_sp(idp)
    root = etree.fromstring(sp.metadata_xml().encode())
    assert root.get("entityID") == SP_ENTITY
    acs = root.find(".//{urn:oasis:names:tc:SAML:2.0:metadata}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == ACS


def test_settings_from_idp_metadata(idp: SamlIdp) -> None:
    settings = SamlSpSettings.from_idp_metadata(
        idp.metadata_xml(), sp_entity_id=SP_ENTITY, acs_url=ACS
    )
    assert settings.idp_entity_id == idp.entity_id
    assert settings.idp_sso_url == idp.entity_id + "/sso"
    assert settings.idp_certificates == (idp.key.cert_b64,)


def test_valid_response_yields_the_federated_identity(idp: SamlIdp) -> None:
    sp, _ = make_sp(idp)
    raw = login(idp, sp, extra_attributes={TAG_ATTR + "Department": ["eng"]})
    identity = sp.validate_response(raw)
    assert identity.protocol == "saml"
    assert identity.email == "alice@example.com"
    assert identity.subject == "alice@example.com"
    assert identity.issuer == idp.entity_id
    assert identity.roles == (SamlRole(ROLE, PROVIDER),)
    assert identity.role_session_name == "alice@example.com"
    assert identity.tags == {"Email": "alice@example.com", "Department": "eng"}
    assert identity.credential == raw
    assert raw not in repr(identity)
    assert identity.expires_at is not None
    assert identity.expires_at > datetime.now(UTC)


@pytest.mark.parametrize(
    ("sign_assertion", "sign_response", "want_assertion", "want_message"),
    [
        pytest.param(True, True, True, True, id="both_signed"),
        pytest.param(False, True, False, True, id="only_response_signed_when_configured"),
    ],
)
def test_other_signature_placements_are_accepted_when_configured(
    idp: SamlIdp,
    sign_assertion: bool,
    sign_response: bool,
    want_assertion: bool,
    want_message: bool,
) -> None:
    sp, _ = make_sp(idp, want_assertions_signed=want_assertion, want_messages_signed=want_message)
    request = sp.authn_request()
    spec = idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS, in_response_to=request.request_id)
    raw = b64(idp.signed_response(spec, sign_assertion=sign_assertion, sign_response=sign_response))
    assert sp.validate_response(raw).email == "alice@example.com"


def test_several_roles_are_all_offered(idp: SamlIdp) -> None:
    sp, _ = make_sp(idp)
    other = "arn:aws:iam::123456789012:role/QBizAdmin"
    identity = sp.validate_response(
        login(idp, sp, roles=(f"{ROLE},{PROVIDER}", f"{other}, {PROVIDER}"))
    )
    assert identity.roles == (SamlRole(ROLE, PROVIDER), SamlRole(other, PROVIDER))


def test_reversed_role_pair_is_reported_with_the_swap(idp: SamlIdp) -> None:
    sp, _ = make_sp(idp)
    with pytest.raises(SamlAttributeError, match="provider first") as info:
        sp.validate_response(login(idp, sp, roles=(f"{PROVIDER},{ROLE}",)))
    assert f"{ROLE},{PROVIDER}" in info.value.remedy


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        pytest.param(
            {"roles": ()}, "no https://aws.amazon.com/SAML/Attributes/Role", id="role_missing"
        ),
        pytest.param(
            {"roles": ("arn:aws:iam::123456789012:role/OnlyRole",)},
            "not a pair",
            id="role_unpaired",
        ),
        pytest.param({"session_name": None}, "RoleSessionName", id="role_session_name_missing"),
        pytest.param({"session_name": "alice example"}, "2-64", id="role_session_name_with_space"),
        pytest.param({"email": ""}, "PrincipalTag:Email", id="email_tag_missing"),
    ],
)
def test_aws_attribute_problems_are_explained(
    idp: SamlIdp, spec: dict[str, object], match: str
) -> None:
    sp, _ = make_sp(idp)
    with pytest.raises(SamlAttributeError, match=match) as info:
        sp.validate_response(login(idp, sp, **spec))
    assert info.value.remedy


def test_python3_saml_parser_forbids_dtds_and_entities() -> None:
    with pytest.raises(DTDForbidden):
        OneLogin_Saml2_XML.to_etree(b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r/>')
    with pytest.raises((DTDForbidden, EntitiesForbidden)):
        OneLogin_Saml2_XML.to_etree(b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>')


def test_unsolicited_response_accepted_only_when_allowed(idp: SamlIdp) -> None:
    spec = idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS)
    raw = b64(idp.signed_response(spec))
    strict, _ = make_sp(idp)
    with pytest.raises(SamlResponseError) as info:
        strict.validate_response(raw)
    assert info.value.reason == "unsolicited"
    lenient, _ = make_sp(idp, allow_unsolicited=True)
    assert lenient.validate_response(raw).email == "alice@example.com"


def test_memory_request_store_expires_ids() -> None:
    now = [1000.0]
    store = MemoryRequestIdStore(clock=lambda: now[0])
    store.remember_request("id-1", 60)
    now[0] += 61
    assert store.consume_request("id-1") is False


def test_memory_replay_cache_records_first_use() -> None:
    cache = MemoryReplayCache()
    until = datetime.now(UTC) + timedelta(minutes=5)
    assert cache.seen("a-1", until) is False
    assert cache.seen("a-1", until) is True
    assert cache.seen("a-2", until) is False


def test_invalid_sp_settings_are_a_config_error(idp: SamlIdp) -> None:
    from qbizfed.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        make_sp_with(idp, idp_sso_url="not a url")
    assert "SSO URL" in info.value.remedy


def make_sp_with(idp: SamlIdp, **overrides: object) -> SamlServiceProvider:
    fields: dict[str, object] = {
        "sp_entity_id": SP_ENTITY,
        "acs_url": ACS,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.entity_id + "/sso",
        "idp_certificates": (idp.key.cert_pem,),
        **overrides,
    }
    settings = SamlSpSettings(**fields)  # type: ignore[arg-type]
    return SamlServiceProvider(
        settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache()
    )
