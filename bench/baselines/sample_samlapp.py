"""The AWS sample's ``samlapp.py`` handling of a SAMLResponse, re-created as a baseline.

The sample base64-decodes the posted response, parses the XML and reads the Role,
RoleSessionName and PrincipalTag attributes, checking nothing: no signature, audience,
recipient, time window, InResponseTo or replay. That is the floor a validating service
provider is compared with. (The parser here forbids DTDs, entities and network access,
as every XML parser in this repository must.)
"""

from __future__ import annotations

import base64

from lxml import etree

ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def read_attributes_unchecked(saml_response_b64: str) -> dict[str, list[str]]:
    """Attribute name -> values, straight from the unverified XML."""
    root = etree.fromstring(base64.b64decode(saml_response_b64), parser=_PARSER)
    attributes: dict[str, list[str]] = {}
    for attribute in root.iter(f"{{{ASSERTION_NS}}}Attribute"):
        values = [v.text or "" for v in attribute.iter(f"{{{ASSERTION_NS}}}AttributeValue")]
        attributes[str(attribute.get("Name"))] = values
    return attributes
