"""The dev IdP's SAML documents: metadata, signed responses, AuthnRequest checks."""

from __future__ import annotations

import base64
import datetime as dt
import zlib

import pytest
from lxml import etree

from qbizfed.local.idp.keys import generate_signing_material
from qbizfed.local.idp.saml_request import (
    POST_BINDING,
    REDIRECT_BINDING,
    AuthnRequestInfo,
    SamlRefusedError,
    idp_initiated,
    read_authn_request,
)
from qbizfed.local.idp.saml_response import build_metadata, build_signed_response
from qbizfed.local.idp.users import DEMO_USERS, Directory, ServiceProvider
from tests.peers.saml_sp import (
    NS,
    SAFE_PARSER,
    TestServiceProvider,
    certificate_from_metadata,
    verify_saml_response,
)

KEYS = generate_signing_material()
ISSUER = "http://127.0.0.1:9000/saml/metadata"
SSO = "http://127.0.0.1:9000/saml/sso"
SP = ServiceProvider(
    "urn:sp", ("https://sp.test/acs", "https://sp.test/acs2"), audience="https://sp.test/aud"
)
NOW = dt.datetime(2026, 11, 26, 9, 0, 0, tzinfo=dt.UTC)


def test_metadata_is_long_enough_for_iam_and_carries_the_certificate() -> None:
    metadata = build_metadata(entity_id=ISSUER, sso_url=SSO, keys=KEYS)
    assert len(metadata.decode()) >= 1000
    root = etree.fromstring(metadata, parser=SAFE_PARSER)
    assert root.get("entityID") == ISSUER
    bindings = root.xpath("//md:SingleSignOnService/@Binding", namespaces=NS)
    assert set(bindings) == {REDIRECT_BINDING, POST_BINDING}
    assert certificate_from_metadata(metadata).strip() == KEYS.certificate_pem.strip()


def test_response_fields_follow_the_request_and_the_sp() -> None:
    request = AuthnRequestInfo("_r1", SP, "https://sp.test/acs2", "relay")
    xml = build_signed_response(
        issuer=ISSUER, keys=KEYS, user=DEMO_USERS[1], request=request,
        session_index="s1", auth_instant=NOW, now=NOW,
    )  # fmt: skip
    verified = verify_saml_response(xml, KEYS.certificate_pem)
    assert verified.response.get("Destination") == "https://sp.test/acs2"
    assert verified.response.get("InResponseTo") == "_r1"
    data = "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData"
    assert verified.get(data, "Recipient") == "https://sp.test/acs2"
    assert verified.get(data, "InResponseTo") == "_r1"
    assert verified.get(data, "NotOnOrAfter") == "2026-11-26T09:05:00Z"
    assert verified.get("saml:Conditions", "NotBefore") == "2026-11-26T08:59:00Z"
    assert verified.text("saml:Conditions/saml:AudienceRestriction/saml:Audience") == (
        "https://sp.test/aud"
    )
    assert verified.get("saml:AuthnStatement", "SessionNotOnOrAfter") == "2026-11-26T17:00:00Z"
    assert verified.text("saml:Issuer") == ISSUER
    # No Role attribute when the SP did not configure one.
    assert verified.attribute("https://aws.amazon.com/SAML/Attributes/Role") == []
    assert verified.attribute("name") == ["Bob Brown"]


def test_tampered_response_does_not_verify() -> None:
    request = AuthnRequestInfo("_r1", SP, "https://sp.test/acs", None)
    xml = build_signed_response(
        issuer=ISSUER, keys=KEYS, user=DEMO_USERS[0], request=request,
        session_index="s1", auth_instant=NOW, now=NOW,
    )  # fmt: skip
    forged = xml.replace(b"alice@example.com", b"mallory@example.com")
    with pytest.raises(Exception, match=r"(?i)digest|signature"):
        verify_saml_response(forged, KEYS.certificate_pem)


def _read(binding: str, encoded: str, raw_query: str = "") -> AuthnRequestInfo:
    return read_authn_request(
        binding=binding,
        saml_request=encoded,
        relay_state=None,
        raw_query=raw_query,
        directory=Directory(service_providers=[SP]),
        sso_urls=(SSO,),
        now=NOW,
    )


def test_redirect_request_defaults_to_the_first_acs_when_none_is_given() -> None:
    xml = TestServiceProvider("urn:sp", "https://sp.test/acs").authn_request(
        destination=SSO, request_id="_abc", issue_instant="2026-11-26T08:59:00Z"
    )
    xml = xml.replace(b' AssertionConsumerServiceURL="https://sp.test/acs"', b"")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(xml) + compressor.flush()
    info = _read(REDIRECT_BINDING, base64.b64encode(deflated).decode())
    assert info.request_id == "_abc"
    assert info.acs_url == "https://sp.test/acs"


def test_post_request_with_force_authn() -> None:
    xml = TestServiceProvider("urn:sp", "https://sp.test/acs2").authn_request(
        destination=SSO, issue_instant="2026-11-26T09:01:00Z"
    )
    xml = xml.replace(b"<samlp:AuthnRequest ", b'<samlp:AuthnRequest ForceAuthn="true" ')
    info = _read(POST_BINDING, base64.b64encode(xml).decode())
    assert info.force_authn
    assert info.acs_url == "https://sp.test/acs2"


def test_idp_initiated_needs_a_registered_sp() -> None:
    directory = Directory(service_providers=[SP])
    info = idp_initiated(directory=directory, entity_id="urn:sp", relay_state="r")
    assert info.request_id is None
    assert info.acs_url == "https://sp.test/acs"
    with pytest.raises(SamlRefusedError):
        idp_initiated(directory=directory, entity_id="urn:other", relay_state=None)
