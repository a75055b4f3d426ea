"""The product's one reader of SAML IdP metadata: entity ID, SSO URLs, signing certificates.

``admin``'s preflight reads the configured metadata with it before any AWS call, and
``doctor`` reads both the configured metadata and the copy the IAM SAML provider holds
(IAM validates assertions only against the certificates in the metadata it was given, so
a rotated IdP certificate breaks every sign-in until the provider is updated).

The XML is parsed with DTDs, entities and network access forbidden, and a document that
declares a DTD or an entity is refused before parsing. Certificates are kept as their DER
bytes, so two documents can be compared exactly.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from qbizfed.errors import ConfigError

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
MAX_METADATA_BYTES = 10_000_000
"""IAM's own limit for a SAML provider's metadata document (docs/aws-facts.md, "Trust
policies and IAM identity providers"): a larger download is refused before parsing."""


class SamlMetadataError(ConfigError):
    """The document is not usable SAML IdP metadata (the message says why, as "it ...")."""


@dataclass(frozen=True)
class SigningCertificate:
    der: bytes
    subject: str
    not_after: dt.datetime

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER, as hex pairs (what IdP consoles show)."""
        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_urls: tuple[str, ...]
    certificates: tuple[SigningCertificate, ...]
    redirect_sso_url: str = ""
    """The first SingleSignOnService with the HTTP-Redirect binding (where an SP sends
    its AuthnRequest), or empty when the IdP publishes none."""


def safe_parser() -> etree.XMLParser:
    """An lxml parser that loads no DTD, resolves no entity and never touches the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


def _certificate(element: etree._Element) -> SigningCertificate:
    text = "".join((element.text or "").split())
    try:
        der = base64.b64decode(text, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error) as exc:
        raise SamlMetadataError(
            "a signing certificate cannot be read",
            remedy="download the metadata again from the IdP",
        ) from exc
    return SigningCertificate(der=der, subject=cert.subject.rfc4514_string(),
                              not_after=cert.not_valid_after_utc)


def parse_idp_metadata(document: str) -> IdpMetadata:
    """The IdP's entity ID, SSO URLs and signing certificates; refuse anything IAM cannot use.

    An ``EntitiesDescriptor`` is read through its first ``EntityDescriptor``. A
    ``KeyDescriptor`` without ``use`` counts as a signing key (SAML metadata §2.4.1.1).
    """
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        raise SamlMetadataError(
            "it contains a DTD or entity declaration",
            remedy="use the IdP's metadata as published (no DOCTYPE)",
        )
    try:
        root = etree.fromstring(document.encode("utf-8"), parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise SamlMetadataError(
            f"it is not well-formed XML ({exc})",
            remedy="download the metadata XML again from the IdP",
        ) from exc
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        first = root.find(f"{{{MD_NS}}}EntityDescriptor")
        if first is None:
            raise SamlMetadataError(
                "it has no EntityDescriptor",
                remedy="use the metadata of one IdP",
            )
        root = first
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise SamlMetadataError(
            f"it is not SAML 2.0 metadata (its root is {root.tag})",
            remedy="use the IdP's SAML 2.0 metadata XML",
        )
    entity_id = root.get("entityID") or ""
    if not entity_id:
        raise SamlMetadataError(
            "it has no entityID",
            remedy="use the IdP's metadata as published",
        )
    idp = root.find(f"{{{MD_NS}}}IDPSSODescriptor")
    if idp is None:
        raise SamlMetadataError(
            "it has no IDPSSODescriptor (is it the SP's metadata?)",
            remedy="use the *IdP* metadata (not the SP's)",
        )
    services = [e for e in idp.findall(f"{{{MD_NS}}}SingleSignOnService") if e.get("Location")]
    sso = tuple(str(e.get("Location")) for e in services)
    redirect = [str(e.get("Location")) for e in services if e.get("Binding") == REDIRECT_BINDING]
    certificates = [
        _certificate(element)
        for key in idp.findall(f"{{{MD_NS}}}KeyDescriptor")
        if key.get("use") in (None, "signing")
        for element in key.iter(f"{{{DS_NS}}}X509Certificate")
    ]
    if not certificates:
        raise SamlMetadataError(
            "it has no signing certificate",
            remedy="export metadata that includes the IdP's signing certificate",
        )
    return IdpMetadata(entity_id=entity_id, sso_urls=sso, certificates=tuple(certificates),
                       redirect_sso_url=redirect[0] if redirect else "")
