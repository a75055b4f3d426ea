"""What STS needs from an IAM SAML provider's metadata: the IdP's entity ID and its
signing certificates (more than one while the IdP rotates keys)."""

from __future__ import annotations

from dataclasses import dataclass

from qbizfed.local.sts.saml_xml import NS, UnsafeXmlError, parse_untrusted


class MetadataError(ValueError):
    """The stored metadata has no usable IdP entity or signing certificate."""


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    signing_certificates: tuple[str, ...]
    """PEM certificates from the IDPSSODescriptor's signing (or unspecified-use) keys."""


def _pem(base64_der: str) -> str:
    body = "".join(base64_der.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def parse_idp_metadata(document: str) -> IdpMetadata:
    try:
        root = parse_untrusted(document.encode("utf-8"))
    except UnsafeXmlError as exc:
        raise MetadataError("the SAML provider's metadata is not readable XML") from exc
    descriptors = (
        [root]
        if root.tag == f"{{{NS['md']}}}EntityDescriptor"
        else root.findall(".//md:EntityDescriptor", NS)
    )
    for descriptor in descriptors:
        idp = descriptor.find("md:IDPSSODescriptor", NS)
        entity_id = descriptor.get("entityID")
        if idp is None or not entity_id:
            continue
        certificates = []
        for key_descriptor in idp.findall("md:KeyDescriptor", NS):
            if key_descriptor.get("use", "signing") != "signing":
                continue
            for cert in key_descriptor.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
                if cert.text and cert.text.strip():
                    certificates.append(_pem(cert.text))
        if certificates:
            return IdpMetadata(entity_id=entity_id, signing_certificates=tuple(certificates))
    raise MetadataError("the SAML provider's metadata has no IdP signing certificate")
