"""The dev IdP's SAML 2.0 side end to end: metadata, SP- and IdP-initiated logins.

Responses are verified here with signxml against the certificate in the IdP's
metadata (both the Response and the Assertion signature), and once more with
python3-saml, an independent SP implementation.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from signxml.verifier import XMLVerifier

from qbizfed.local.idp.keys import generate_signing_material
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider
from tests.peers.flows import SamlPost, browse, login_for_saml, new_browser, stateless_client
from tests.peers.saml_sp import (
    NS,
    SAFE_PARSER,
    TestServiceProvider,
    VerifiedAssertion,
    certificate_from_metadata,
    verify_saml_response,
)

HTTP = stateless_client()  # one pooled client for plain requests

SP_ENTITY = "https://sp.example.test/saml/metadata"
ACS = "https://sp.example.test/saml"
SIGNED_SP_ENTITY = "https://signed-sp.example.test/metadata"
SIGNED_ACS = "https://signed-sp.example.test/acs"
ROLE = "arn:aws:iam::123456789012:role/qbiz-web"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/qbizfed-dev"
SP_KEYS = generate_signing_material("test-sp")


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    sps = (
        ServiceProvider(entity_id=SP_ENTITY, acs_urls=(ACS,), role_arn=ROLE, provider_arn=PROVIDER),
        ServiceProvider(
            entity_id=SIGNED_SP_ENTITY,
            acs_urls=(SIGNED_ACS,),
            certificate_pem=SP_KEYS.certificate_pem,
        ),
    )
    with DevIdp(DevIdpSettings(port=0, service_providers=sps)) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with new_browser() as client:
        yield client


@pytest.fixture(scope="module")
def idp_cert(idp: DevIdp) -> str:
    return certificate_from_metadata(HTTP.get(idp.saml_metadata_url).content)


def check_common(verified: VerifiedAssertion, *, email: str, acs: str, audience: str) -> None:
    assert verified.response.get("Destination") == acs
    assert verified.text("saml:Subject/saml:NameID") == email
    data = "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
    assert verified.get(data, "Recipient") == acs
    not_on_or_after = dt.datetime.fromisoformat(verified.get(data, "NotOnOrAfter"))
    assert not_on_or_after > dt.datetime.now(dt.UTC)
    assert len(verified.assertion.findall("saml:Subject/saml:SubjectConfirmation", NS)) == 1
    assert verified.text("saml:Conditions/saml:AudienceRestriction/saml:Audience") == audience
    aws = "https://aws.amazon.com/SAML/Attributes/"
    assert verified.attribute(aws + "RoleSessionName") == [email]
    assert verified.attribute(aws + "PrincipalTag:Email") == [email]
    assert verified.attribute("email") == [email]


def test_metadata_is_usable_for_create_saml_provider(idp: DevIdp) -> None:
    response = HTTP.get(idp.saml_metadata_url)
    assert response.status_code == 200
    assert len(response.text) >= 1000
    assert f'entityID="{idp.saml_entity_id}"' in response.text
    assert idp.saml_sso_url in response.text
    assert certificate_from_metadata(response.content).strip() == idp.certificate_pem.strip()


def test_redirect_binding_login_gives_signed_response_and_assertion(
    idp: DevIdp, browser: httpx.Client, idp_cert: str
) -> None:
    sp = TestServiceProvider(SP_ENTITY, ACS)
    request_xml = sp.authn_request(destination=idp.saml_sso_url, request_id="_req-redirect-1")
    url = sp.redirect_url(idp.saml_sso_url, request_xml, relay_state="/after/login")
    posted = login_for_saml(browser, url, username="alice", password="demo")
    assert posted.acs_url == ACS
    assert posted.relay_state == "/after/login"
    verified = verify_saml_response(posted.saml_response_xml, idp_cert)
    assert verified.response.get("InResponseTo") == "_req-redirect-1"
    check_common(verified, email="alice@example.com", acs=ACS, audience=SP_ENTITY)
    assert verified.attribute("https://aws.amazon.com/SAML/Attributes/Role") == [
        f"{ROLE},{PROVIDER}"
    ]
    assert verified.attribute("groups") == ["engineering"]
    raw = etree.fromstring(posted.saml_response_xml, parser=SAFE_PARSER)
    for signed in (raw, raw.find("saml:Assertion", NS)):
        assert signed is not None
        # Schema order: Issuer, then Signature.
        assert [child.tag.split("}")[1] for child in signed][:2] == ["Issuer", "Signature"]
        method = signed.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS)
        assert method is not None
        assert method.get("Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        digest = signed.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestMethod", NS)
        assert digest is not None
        assert digest.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"


def test_post_binding_login(idp: DevIdp, browser: httpx.Client, idp_cert: str) -> None:
    sp = TestServiceProvider(SP_ENTITY, ACS)
    request_xml = sp.authn_request(destination=idp.saml_sso_url, request_id="_req-post-1")
    first = browser.post(idp.saml_sso_url, data=sp.post_fields(request_xml))
    assert first.status_code == 200
    interaction = first.text.split('name="interaction" value="')[1].split('"')[0]
    page = browser.post(
        idp.url + "/login", data={"interaction": interaction, "username": "bob", "password": "demo"}
    )
    saml_response = page.text.split('name="SAMLResponse" value="')[1].split('"')[0]
    verified = verify_saml_response(base64.b64decode(saml_response), idp_cert)
    assert verified.response.get("InResponseTo") == "_req-post-1"
    check_common(verified, email="bob@example.com", acs=ACS, audience=SP_ENTITY)


def test_signed_requests_are_accepted_for_an_sp_with_a_certificate(
    idp: DevIdp, browser: httpx.Client, idp_cert: str
) -> None:
    sp = TestServiceProvider(SIGNED_SP_ENTITY, SIGNED_ACS, keys=SP_KEYS)
    redirect = sp.redirect_url(
        idp.saml_sso_url, sp.authn_request(destination=idp.saml_sso_url), sign=True
    )
    posted = login_for_saml(browser, redirect, username="carol", password="demo")
    check_common(
        verify_saml_response(posted.saml_response_xml, idp_cert),
        email="carol@example.com",
        acs=SIGNED_ACS,
        audience=SIGNED_SP_ENTITY,
    )
    # HTTP-POST binding with an enveloped XML signature, same browser (SSO session).
    signed_xml = sp.authn_request(destination=idp.saml_sso_url, sign=True)
    page = browser.post(idp.saml_sso_url, data=sp.post_fields(signed_xml))
    assert page.status_code == 200
    assert 'name="SAMLResponse"' in page.text


def test_idp_initiated_login_has_no_in_response_to(
    idp: DevIdp, browser: httpx.Client, idp_cert: str
) -> None:
    url = f"{idp.saml_sso_url}?providerId={SP_ENTITY}&RelayState=home"
    posted = login_for_saml(browser, url, username="bob", password="demo")
    verified = verify_saml_response(posted.saml_response_xml, idp_cert)
    assert verified.response.get("InResponseTo") is None
    data = verified.assertion.find(
        "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS
    )
    assert data is not None
    assert data.get("InResponseTo") is None
    check_common(verified, email="bob@example.com", acs=ACS, audience=SP_ENTITY)
    assert posted.relay_state == "home"


def test_python3_saml_accepts_the_response(
    idp: DevIdp, browser: httpx.Client, idp_cert: str
) -> None:
    """An independent SP implementation (python3-saml, xmlsec) validates our response."""
    sp = TestServiceProvider(SP_ENTITY, ACS)
    request_xml = sp.authn_request(destination=idp.saml_sso_url, request_id="_req-onelogin")
    posted = login_for_saml(
        browser, sp.redirect_url(idp.saml_sso_url, request_xml), username="alice", password="demo"
    )
    settings = OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": {
                "entityId": SP_ENTITY,
                "assertionConsumerService": {"url": ACS},
            },
            "idp": {
                "entityId": idp.saml_entity_id,
                "singleSignOnService": {"url": idp.saml_sso_url},
                "x509cert": idp_cert,
            },
            "security": {
                "wantAssertionsSigned": True,
                "wantMessagesSigned": True,
                "rejectDeprecatedAlgorithm": True,
            },
        },
        sp_validation_only=True,
    )
    response = OneLogin_Saml2_Response(settings, base64.b64encode(posted.saml_response_xml))
    request_data = {"https": "on", "http_host": "sp.example.test", "script_name": "/saml"}
    valid = response.is_valid(request_data, request_id="_req-onelogin", raise_exceptions=True)
    assert valid
    assert response.get_nameid() == "alice@example.com"
    assert response.get_attributes()[
        "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Email"
    ] == ["alice@example.com"]


def test_is_passive_without_session_answers_no_passive(idp: DevIdp, idp_cert: str) -> None:
    sp = TestServiceProvider(SP_ENTITY, ACS)
    xml = sp.authn_request(destination=idp.saml_sso_url, request_id="_passive-1")
    xml = xml.replace(b"<samlp:AuthnRequest ", b'<samlp:AuthnRequest IsPassive="true" ')
    with new_browser() as browser:  # no IdP session
        result = browse(browser, sp.redirect_url(idp.saml_sso_url, xml), username="", password="")
    assert isinstance(result, SamlPost)
    assert result.acs_url == ACS
    verified = XMLVerifier().verify(result.saml_response_xml, x509_cert=idp_cert, id_attribute="ID")
    assert not isinstance(verified, list)
    response = verified.signed_xml
    assert response is not None
    assert response.get("InResponseTo") == "_passive-1"
    codes = response.xpath("samlp:Status//samlp:StatusCode/@Value", namespaces=NS)
    assert codes == [
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    ]
    assert response.find("saml:Assertion", NS) is None
