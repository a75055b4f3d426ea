"""The signing certificates in SAML IdP metadata (the config's, and the one IAM holds).

Parsed with DTDs, entities and network access forbidden. Certificates are compared
by their DER bytes: IAM validates assertions only against the certificates in the
metadata it was given, so a rotated IdP certificate breaks every sign-in until the
IAM SAML provider is updated.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


class MetadataError(ValueError):
    """The document is not usable SAML IdP metadata (the message says why)."""


@dataclass(frozen=True)
class SigningCertificate:
    der: bytes
    subject: str
    not_after: dt.datetime

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER, as hex pairs (what IdP consoles show)."""
        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_urls: tuple[str, ...]
    certificates: tuple[SigningCertificate, ...]


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


def parse_idp_metadata(document: str) -> IdpMetadata:
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        raise MetadataError("it contains a DTD or entity declaration")
    try:
        root = etree.fromstring(document.encode("utf-8"), parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise MetadataError(f"it is not well-formed XML ({exc})") from exc
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        first = root.find(f"{{{MD_NS}}}EntityDescriptor")
        if first is None:
            raise MetadataError("it has no EntityDescriptor")
        root = first
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise MetadataError(f"its root is {root.tag}, not a SAML 2.0 EntityDescriptor")
    idp = root.find(f"{{{MD_NS}}}IDPSSODescriptor")
    if idp is None:
        raise MetadataError("it has no IDPSSODescriptor (is it the SP's metadata?)")
    sso = tuple(str(e.get("Location")) for e in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
                if e.get("Location"))
    certificates = []
    for key in idp.findall(f"{{{MD_NS}}}KeyDescriptor"):
        if key.get("use") not in (None, "signing"):
            continue
        for element in key.iter(f"{{{DS_NS}}}X509Certificate"):
            text = "".join((element.text or "").split())
            try:
                der = base64.b64decode(text, validate=True)
                cert = x509.load_der_x509_certificate(der)
            except (ValueError, binascii.Error) as exc:
                raise MetadataError("a signing certificate cannot be read") from exc
            certificates.append(SigningCertificate(
                der=der, subject=cert.subject.rfc4514_string(),
                not_after=cert.not_valid_after_utc))
    if not certificates:
        raise MetadataError("it has no signing certificate")
    return IdpMetadata(entity_id=str(root.get("entityID") or ""), sso_urls=sso,
                       certificates=tuple(certificates))
