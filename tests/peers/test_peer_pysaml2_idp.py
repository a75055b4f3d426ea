"""pysaml2's IdP works as a second SAML IdP: SHA-256 signed responses with AWS attributes."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.peers.conftest import Pysaml2Factory
from tests.peers.flows import login_for_saml, new_browser, stateless_client
from tests.peers.saml_sp import (
    NS,
    SAFE_PARSER,
    TestServiceProvider,
    certificate_from_metadata,
    verify_saml_response,
)

HTTP = stateless_client()  # one pooled client for plain requests

pytestmark = pytest.mark.peers

SP_ENTITY = "https://sp.example.test/metadata"
ACS = "https://sp.example.test/saml"
ROLE = "arn:aws:iam::123456789012:role/peer,arn:aws:iam::123456789012:saml-provider/peer"
AWS = "https://aws.amazon.com/SAML/Attributes/"


def test_pysaml2_sp_initiated_login_is_signed_with_sha256(
    pysaml2_peer_factory: Pysaml2Factory,
) -> None:
    from tests.peers.pysaml2_idp import PeerSp

    idp = pysaml2_peer_factory([PeerSp(SP_ENTITY, ACS, ROLE)])
    metadata = HTTP.get(idp.url + "/metadata").content
    assert len(metadata) >= 1000
    sp = TestServiceProvider(SP_ENTITY, ACS)
    xml = sp.authn_request(destination=idp.sso_redirect_url, request_id="_peer-req-1")
    with new_browser() as browser:
        posted = login_for_saml(
            browser, sp.redirect_url(idp.sso_redirect_url, xml), username="carol", password="demo"
        )
    assert posted.acs_url == ACS
    verified = verify_saml_response(posted.saml_response_xml, certificate_from_metadata(metadata))
    assert verified.response.get("InResponseTo") == "_peer-req-1"
    assert verified.attribute(AWS + "PrincipalTag:Email") == ["carol@example.com"]
    assert verified.attribute(AWS + "RoleSessionName") == ["carol@example.com"]
    assert verified.attribute(AWS + "Role") == [ROLE]
    data = "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
    assert verified.get(data, "Recipient") == ACS
    raw = etree.fromstring(posted.saml_response_xml, parser=SAFE_PARSER)
    methods = raw.xpath("//ds:SignatureMethod/@Algorithm", namespaces=NS)
    assert methods
    assert set(methods) == {"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}, "no SHA-1"


def test_pysaml2_refuses_a_wrong_password(pysaml2_peer_factory: Pysaml2Factory) -> None:
    from tests.peers.pysaml2_idp import PeerSp

    idp = pysaml2_peer_factory([PeerSp(SP_ENTITY, ACS)])
    with new_browser() as browser:
        page = browser.get(f"{idp.url}/sso/idp-initiated?sp={SP_ENTITY}")
        handle = page.text.split('name="handle" value="')[1].split('"')[0]
        response = browser.post(
            idp.url + "/login", data={"handle": handle, "username": "alice", "password": "nope"}
        )
    assert response.status_code == 401
    assert "SAMLResponse" not in response.text
