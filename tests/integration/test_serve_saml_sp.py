"""The broker as a SAML service provider: metadata, and signed AuthnRequests end to end."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lxml import etree

from qbizfed.local.idp.keys import generate_signing_material
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider
from qbizfed.settings.saml import SamlRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.peers.flows import login_for_saml

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/qbizfed-dev"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture(scope="module")
def signing_broker() -> Iterator[tuple[str, DevIdp, RecordingIssuer]]:
    """A broker with an SP key, and a dev IdP that demands signed AuthnRequests from it."""
    sp_keys = generate_signing_material("qbizfed-web-sp")
    server = UvicornServer()
    acs = server.url + "/saml"
    idp = DevIdp(DevIdpSettings(port=0, service_providers=(ServiceProvider(
        entity_id=acs, acs_urls=(acs,), role_arn=ROLE, provider_arn=PROVIDER,
        certificate_pem=sp_keys.certificate_pem,
    ),))).start()  # fmt: skip

    settings = WebSettings(
        saml=SamlRegistration(
            idp_sso_url=idp.saml_sso_url,
            idp_issuer=idp.saml_entity_id,
            acs_url=acs,
            idp_certificate=idp.certificate_pem,
            sp_private_key=sp_keys.private_key_pem.decode(),
            sp_certificate=sp_keys.certificate_pem,
            allow_insecure_loopback_http=True,
        )
    )
    issuer = RecordingIssuer()
    server.start(create_app(settings, sts=issuer))
    yield server.url, idp, issuer
    server.stop()
    idp.stop()


def test_authn_request_is_deflated_and_signed_for_the_redirect_binding(
    signing_broker: tuple[str, DevIdp, RecordingIssuer],
) -> None:
    url, idp, _ = signing_broker
    start = httpx.get(url + "/login/saml")
    assert start.status_code == 302
    location = start.headers["location"]
    assert location.startswith(idp.saml_sso_url)
    query = parse_qs(urlsplit(location).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"][0]
    import zlib

    request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
    assert request.get("AssertionConsumerServiceURL") == url + "/saml"
    assert request.get("Destination") == idp.saml_sso_url


def test_signed_request_login_through_the_dev_idp(
    signing_broker: tuple[str, DevIdp, RecordingIssuer],
) -> None:
    url, _, issuer = signing_broker
    with httpx.Client(timeout=10) as browser:
        post = login_for_saml(browser, url + "/login/saml", username="carol", password="demo")
        acs = browser.post(post.acs_url, data={
            "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
            "RelayState": post.relay_state or "",
        })  # fmt: skip
        assert acs.status_code == 303, acs.text[:800]
        done = browser.get(url + acs.headers["location"])
        assert done.status_code == 303, done.text[:800]
    assert issuer.calls[-1][1].email == "carol@example.com"


def test_sp_metadata_names_entity_acs_and_signing_certificate(
    signing_broker: tuple[str, DevIdp, RecordingIssuer],
) -> None:
    url, _, _ = signing_broker
    response = httpx.get(url + "/saml/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    root = etree.fromstring(response.content)
    assert root.get("entityID") == url + "/saml"
    acs = root.find(f".//{{{MD}}}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == url + "/saml"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert root.find(f".//{{{MD}}}KeyDescriptor") is not None
    assert b"PRIVATE KEY" not in response.content
