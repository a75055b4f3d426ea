"""The one SAML IdP metadata reader (``qbizfed.identity.saml_metadata``), as admin and doctor
use it: what it keeps, and each refusal with its reason and remedy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from qbizfed.errors import ConfigError
from qbizfed.identity.saml_metadata import (
    SamlMetadataError,
    SigningCertificate,
    parse_idp_metadata,
    safe_parser,
)

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(name: str, days: int = 365) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(KEY.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(KEY, hashes.SHA256()))


SIGNING = certificate("signing")
SECOND = certificate("second", days=30)
ENCRYPTION = certificate("encryption")


def b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def key_descriptor(cert: x509.Certificate | str, use: str | None = "signing") -> str:
    text = cert if isinstance(cert, str) else b64(cert)
    use_attribute = f' use="{use}"' if use is not None else ""
    return (f"<md:KeyDescriptor{use_attribute}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
            f"{text}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>")


def idp_metadata(*keys: str, entity_id: str = "https://idp.example.test/saml",
                 sso: str = '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:'
                 'bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>') -> str:
    entity = f' entityID="{entity_id}"' if entity_id is not None else ""
    return (f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}"{entity}>'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:'
            f'protocol">{"".join(keys or (key_descriptor(SIGNING),))}{sso}'
            "</md:IDPSSODescriptor></md:EntityDescriptor>")


def refusal(document: str) -> SamlMetadataError:
    with pytest.raises(SamlMetadataError) as info:
        parse_idp_metadata(document)
    assert isinstance(info.value, ConfigError)
    assert info.value.remedy
    return info.value


def test_entity_id_sso_urls_and_certificates_are_read() -> None:
    metadata = parse_idp_metadata(idp_metadata(
        key_descriptor(SIGNING), key_descriptor(SECOND, use=None),
        key_descriptor(ENCRYPTION, use="encryption"),
        sso='<md:SingleSignOnService Binding="b1" Location="https://idp.example.test/r"/>'
            '<md:SingleSignOnService Binding="b2"/>'
            '<md:SingleSignOnService Binding="b3" Location="https://idp.example.test/p"/>'))
    assert metadata.entity_id == "https://idp.example.test/saml"
    assert metadata.sso_urls == ("https://idp.example.test/r", "https://idp.example.test/p")
    assert metadata.certificates == (
        SigningCertificate(der=SIGNING.public_bytes(serialization.Encoding.DER),
                           subject="CN=signing", not_after=SIGNING.not_valid_after_utc),
        SigningCertificate(der=SECOND.public_bytes(serialization.Encoding.DER),
                           subject="CN=second", not_after=SECOND.not_valid_after_utc),
    )


def test_the_fingerprint_is_the_sha256_of_the_der_in_hex_pairs() -> None:
    der = SIGNING.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    (cert,) = parse_idp_metadata(idp_metadata()).certificates
    assert cert.fingerprint == ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert len(cert.fingerprint) == 95


def test_a_line_wrapped_certificate_is_read() -> None:
    text = b64(SIGNING)
    wrapped = "\n  " + "\n  ".join(text[i:i + 64] for i in range(0, len(text), 64)) + "\n"
    (cert,) = parse_idp_metadata(idp_metadata(key_descriptor(wrapped))).certificates
    assert cert.subject == "CN=signing"


def test_an_entities_descriptor_is_read_through_its_first_entity() -> None:
    inner = idp_metadata()
    other = idp_metadata(entity_id="https://second.example.test")
    document = (f'<md:EntitiesDescriptor xmlns:md="{MD}">{inner}{other}'
                "</md:EntitiesDescriptor>")
    assert parse_idp_metadata(document).entity_id == "https://idp.example.test/saml"


def test_comments_in_the_document_are_ignored() -> None:
    document = idp_metadata().replace("<md:IDPSSODescriptor", "<!-- note --><md:IDPSSODescriptor")
    assert parse_idp_metadata(document).entity_id == "https://idp.example.test/saml"


@pytest.mark.parametrize(("document", "says"), [
    ('<!DOCTYPE md><md:EntityDescriptor xmlns:md="urn:x"/>',
     "it contains a DTD or entity declaration"),
    ('<md:EntityDescriptor xmlns:md="urn:x"><!ENTITY a "b"></md:EntityDescriptor>',
     "it contains a DTD or entity declaration"),
    (f'<md:EntitiesDescriptor xmlns:md="{MD}"/>', "it has no EntityDescriptor"),
    ("<html><body>sign in</body></html>", "it is not SAML 2.0 metadata (its root is html)"),
    ('<EntityDescriptor xmlns="urn:other" entityID="e"/>',
     "it is not SAML 2.0 metadata (its root is {urn:other}EntityDescriptor)"),
    (idp_metadata(entity_id=""), "it has no entityID"),
    (f'<md:EntityDescriptor xmlns:md="{MD}" entityID="sp"><md:SPSSODescriptor/>'
     "</md:EntityDescriptor>", "it has no IDPSSODescriptor (is it the SP's metadata?)"),
    (idp_metadata(key_descriptor(ENCRYPTION, use="encryption")), "it has no signing certificate"),
    (idp_metadata(key_descriptor("AAAA")), "a signing certificate cannot be read"),
    (idp_metadata(key_descriptor(b64(SIGNING)[:-8] + "!!!!" + b64(SIGNING)[-4:])),
     "a signing certificate cannot be read"),
])
def test_unusable_metadata_is_refused_with_its_reason(document: str, says: str) -> None:
    assert refusal(document).message == says


def test_a_missing_entity_id_is_refused() -> None:
    document = idp_metadata().replace(' entityID="https://idp.example.test/saml"', "")
    assert refusal(document).message == "it has no entityID"


def test_xml_that_is_not_well_formed_is_refused() -> None:
    assert refusal("<md:EntityDescriptor").message.startswith("it is not well-formed XML (")


def test_nesting_deeper_than_libxml2_allows_by_default_is_refused() -> None:
    # huge_tree=False keeps libxml2's depth limit (256): no unbounded recursion.
    deep = "<a>" * 300 + "</a>" * 300
    assert refusal(deep).message.startswith("it is not well-formed XML (")


def test_a_comment_inside_the_certificate_text_is_dropped_not_cut_at() -> None:
    text = b64(SIGNING)
    commented = text[:40] + "<!-- exported by the IdP console -->" + text[40:]
    (cert,) = parse_idp_metadata(idp_metadata(key_descriptor(commented))).certificates
    assert cert.subject == "CN=signing"


@pytest.mark.parametrize("stray", ["*", "!", "%"])
def test_a_certificate_with_characters_outside_base64_is_refused(stray: str) -> None:
    text = b64(SIGNING)
    document = idp_metadata(key_descriptor(text[:40] + stray + text[40:]))
    assert refusal(document).message == "a signing certificate cannot be read"


def test_an_empty_certificate_element_is_refused() -> None:
    assert refusal(idp_metadata(key_descriptor(""))).message == (
        "a signing certificate cannot be read")


def test_the_safe_parser_expands_no_entity_even_when_a_dtd_gets_past_the_text_check(
) -> None:
    # parse_idp_metadata refuses DTDs before parsing; the parser is the second defence.
    document = b'<!DOCTYPE a [<!ENTITY e "expanded">]><a>&e;</a>'
    root = etree.fromstring(document, parser=safe_parser())
    assert "expanded" not in etree.tostring(root).decode()


def test_the_safe_parser_loads_no_external_dtd(tmp_path: Path) -> None:
    dtd = tmp_path / "defaults.dtd"
    dtd.write_text('<!ATTLIST a injected CDATA "from-the-dtd">')
    document = f'<!DOCTYPE a SYSTEM "{dtd.as_uri()}"><a/>'.encode()
    assert etree.fromstring(document, parser=safe_parser()).get("injected") is None


BINDINGS = "urn:oasis:names:tc:SAML:2.0:bindings:"


def sso_service(binding: str, location: str) -> str:
    return f'<md:SingleSignOnService Binding="{BINDINGS}{binding}" Location="{location}"/>'


def test_the_redirect_sso_url_is_the_first_http_redirect_service_whatever_comes_before() -> None:
    services = (sso_service("HTTP-POST", "https://idp.example.test/post")
                + sso_service("HTTP-Redirect", "https://idp.example.test/redirect")
                + sso_service("HTTP-Redirect", "https://idp.example.test/second"))
    metadata = parse_idp_metadata(idp_metadata(key_descriptor(SIGNING), sso=services))
    assert metadata.redirect_sso_url == "https://idp.example.test/redirect"
    assert metadata.sso_urls == ("https://idp.example.test/post",
                                 "https://idp.example.test/redirect",
                                 "https://idp.example.test/second")


def test_an_idp_without_a_redirect_sso_service_has_no_redirect_sso_url() -> None:
    metadata = parse_idp_metadata(idp_metadata(
        key_descriptor(SIGNING), sso=sso_service("HTTP-POST", "https://idp.example.test/post")))
    assert metadata.redirect_sso_url == ""
    assert metadata.sso_urls == ("https://idp.example.test/post",)
