"""python3-saml's schema validation, with each compiled XSD kept instead of rebuilt.

``OneLogin_Saml2_XML.validate_xml`` reads and compiles the SAML protocol schema (and
the schemas it imports) on every response it validates: about 2 ms of a ~3 ms
validation. The schemas are package data that never change, so a compiled
``XMLSchema`` is kept per schema name and per thread (lxml validators keep per-object
error logs, so they are not shared across threads). The check itself is the same
call on the same schema; only the rebuilding is gone.
"""

from __future__ import annotations

import threading
from os.path import dirname, join
from typing import Any

from lxml import etree
from onelogin.saml2 import xml_utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

_local = threading.local()
_SCHEMA_DIR = join(dirname(xml_utils.__file__), "schemas")


def _compiled(schema: str) -> Any:
    cache: dict[str, Any] = _local.__dict__.setdefault("schemas", {})
    if schema not in cache:
        with open(join(_SCHEMA_DIR, schema), "rb") as source:
            cache[schema] = OneLogin_Saml2_XML._schema_class(etree.parse(source))
    return cache[schema]


def _validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """Same contract as python3-saml's ``validate_xml``: the element, or an error code."""
    try:
        element = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    return element if _compiled(schema).validate(element) else "invalid_xml"


def install() -> None:
    """Use the cached schemas for every validation python3-saml does (idempotent)."""
    OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)
