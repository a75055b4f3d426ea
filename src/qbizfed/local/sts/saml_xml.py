"""Hostile-input-safe XML parsing for SAML responses and IdP metadata.

Two gates: defusedxml first refuses any DTD (so no entity declarations, external
DTDs or billion-laughs payloads get anywhere), then lxml parses with entity
resolution, DTD loading and network access all off to produce the tree signxml
verifies. Anything that fails either gate is simply "not a SAML document".
"""

from __future__ import annotations

from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS}
MAX_DOCUMENT_BYTES = 256 * 1024


class UnsafeXmlError(ValueError):
    """The document is not well-formed, too large, or declares a DTD."""


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=True,
    )


def parse_untrusted(data: bytes) -> Any:
    """The root element of ``data``; raises ``UnsafeXmlError`` on anything suspicious."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnsafeXmlError("document too large")
    try:
        defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        root = etree.fromstring(data, parser=_parser())
    except (DefusedXmlException, etree.XMLSyntaxError, SyntaxError, ValueError) as exc:
        raise UnsafeXmlError(str(exc)) from exc
    if root.getroottree().docinfo.doctype:
        raise UnsafeXmlError("DTDs are not allowed")
    return root
