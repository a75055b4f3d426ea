"""Safe XML parsing for everything the dev IdP receives: no DTDs, entities or network."""

from __future__ import annotations

from lxml import etree

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}

MAX_XML_BYTES = 256 * 1024


class UnsafeXmlError(ValueError):
    """The document is malformed, too large, or uses DTDs/entities."""


def parse_untrusted_xml(data: bytes) -> etree._Element:
    """Parse a document from the network; refuse DOCTYPEs and anything entity-shaped."""
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXmlError("document too large")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise UnsafeXmlError("DTDs and entities are not allowed")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise UnsafeXmlError("DTDs are not allowed")
    return root
