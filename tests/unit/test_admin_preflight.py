"""Checks before any AWS call: the OIDC issuer over real loopback HTTP, SAML metadata."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from qbizfed.aws.provision.preflight import check_oidc, check_saml
from qbizfed.errors import ConfigError, NetworkError
from qbizfed.identity.saml_metadata import parse_idp_metadata
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.support.oidc_issuer import OidcIssuer, running_oidc_issuer
from tests.support.saml_assertions import SamlIdp, make_idp


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


def oidc_config(issuer_url: str) -> StackConfig:
    return config_from_mapping({
        "name": "demo", "mode": "oidc", "region": "us-east-1",
        "oidc": {"issuer_url": issuer_url, "client_id": "c", "secret_id": "s",
                 "allow_insecure_loopback_http": True}})


def saml_config(metadata: str) -> StackConfig:
    return config_from_mapping({
        "name": "demo", "mode": "saml", "region": "us-east-1",
        "saml": {"metadata_document": metadata, "sso_url": "https://idp.example.test/sso"}})


def test_consistent_issuer_passes(issuer: OidcIssuer) -> None:
    report = check_oidc(oidc_config(issuer.url))
    assert "discovery consistent" in report.notes[0]


def test_issuer_with_trailing_slash_is_not_the_same_issuer(issuer: OidcIssuer) -> None:
    with pytest.raises(ConfigError, match="discovery document names issuer") as info:
        check_oidc(oidc_config(issuer.url + "/"))
    assert "byte for byte" in info.value.remedy


def test_issuer_answering_404_is_reported(issuer: OidcIssuer) -> None:
    with pytest.raises(ConfigError, match="HTTP 404"):
        check_oidc(oidc_config(issuer.url.rsplit("/", 1)[0] + "/no-such-issuer"))


def test_issuer_outage_is_reported(issuer: OidcIssuer) -> None:
    issuer.fail_with_status = 503
    try:
        with pytest.raises(ConfigError, match="HTTP 503"):
            check_oidc(oidc_config(issuer.url))
    finally:
        issuer.fail_with_status = None


def test_unreachable_issuer_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError, match="cannot be reached") as info:
        check_oidc(oidc_config(f"http://127.0.0.1:{port}/issuer"))
    assert "issuer URL" in info.value.remedy


def test_metadata_is_parsed_and_expiry_reported() -> None:
    idp = make_idp()
    metadata = parse_idp_metadata(idp.metadata_xml())
    assert metadata.entity_id == idp.entity_id
    assert [c.not_after for c in metadata.certificates] == [idp.certificate.not_valid_after_utc]
    report = check_saml(saml_config(idp.metadata_xml()))
    assert any("valid until" in note for note in report.notes)
    assert report.warnings == ()


def _with_certificate(idp: SamlIdp, *, days_left: int) -> SamlIdp:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short-lived")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(idp.private_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=days_left))
            .sign(idp.private_key, hashes.SHA256()))
    return replace(idp, certificate=cert)


def test_expired_certificate_is_an_error() -> None:
    idp = _with_certificate(make_idp(), days_left=-1)
    with pytest.raises(ConfigError, match="expired") as info:
        check_saml(saml_config(idp.metadata_xml()))
    assert "rotate" in info.value.remedy


def test_certificate_expiring_soon_is_a_warning() -> None:
    idp = _with_certificate(make_idp(), days_left=10)
    report = check_saml(saml_config(idp.metadata_xml()))
    assert "expires on" in report.warnings[0]


PADDING = "<!-- " + "x" * 1000 + " -->"
HOSTILE_METADATA = [
    ("xxe-external-entity",
     '<?xml version="1.0"?><!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>'
     + PADDING, "DTD"),
    ("billion-laughs",
     '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a>&lol2;</a>'
     + PADDING, "DTD"),
    ("not-xml", "{" + "x" * 1100, "well-formed"),
    ("sp-metadata-not-idp",
     '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="sp">'
     '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>'
     "</md:EntityDescriptor>" + PADDING, "IDPSSODescriptor"),
    ("wrong-root-element", "<html><body>login page</body></html>" + PADDING, "not SAML"),
    ("idp-without-signing-certificate",
     '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e">'
     '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>'
     "</md:EntityDescriptor>" + PADDING, "no signing certificate"),
    ("garbage-certificate",
     '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
     'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="e">'
     '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
     '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
     "AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
     "</md:IDPSSODescriptor></md:EntityDescriptor>" + PADDING, "cannot be read"),
]


@pytest.mark.parametrize(("case", "document", "message"), HOSTILE_METADATA,
                         ids=[h[0] for h in HOSTILE_METADATA])
def test_hostile_or_unusable_metadata_is_refused(case: str, document: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_idp_metadata(document)


def test_endpoint_on_plain_http_elsewhere_is_refused(
    issuer: OidcIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preflight reads discovery as serve and login do: every endpoint must be https
    (plain http only on loopback, with the switch)."""
    document = {**issuer.discovery(), "token_endpoint": "http://idp.example.test/token"}
    monkeypatch.setattr(issuer, "discovery", lambda: document)
    with pytest.raises(ConfigError, match=r"the token_endpoint URL .* is not https"):
        check_oidc(oidc_config(issuer.url))


def test_discovery_lacking_an_endpoint_is_refused(
    issuer: OidcIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {k: v for k, v in issuer.discovery().items() if k != "jwks_uri"}
    monkeypatch.setattr(issuer, "discovery", lambda: document)
    with pytest.raises(ConfigError, match="lacks 'jwks_uri'"):
        check_oidc(oidc_config(issuer.url))


def test_issuer_without_rs256_is_a_warning(
    issuer: OidcIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {**issuer.discovery(), "id_token_signing_alg_values_supported": ["ES256"]}
    monkeypatch.setattr(issuer, "discovery", lambda: document)
    assert check_oidc(oidc_config(issuer.url)).warnings == (
        "the issuer does not advertise RS256 ID tokens; STS expects RS256",)
