"""The cached schema validation keeps python3-saml's contract, and is in use."""

from __future__ import annotations

import threading

from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

import qbizfed.identity.saml  # noqa: F401  (installs the cache)
from qbizfed.identity import saml_schemas

PROTOCOL = "saml-schema-protocol-2.0.xsd"
VALID = (
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1" Version="2.0" '
    'IssueInstant="2026-01-01T00:00:00Z"><saml:NameID>a@example.com</saml:NameID>'
    "</samlp:LogoutRequest>"
)
INVALID = (  # Version missing: schema-invalid
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" '
    'IssueInstant="2026-01-01T00:00:00Z"/>'
)


def test_installed_in_python3_saml() -> None:
    assert OneLogin_Saml2_XML.validate_xml("<a/>", PROTOCOL) == "invalid_xml"
    assert OneLogin_Saml2_XML.validate_xml.__name__ == "_validate_xml"


def test_valid_document_comes_back_as_an_element() -> None:
    result = saml_schemas._validate_xml(VALID, PROTOCOL)
    assert not isinstance(result, str)
    assert result.tag.endswith("LogoutRequest")


def test_schema_invalid_and_unparsable_documents_get_the_library_codes() -> None:
    assert saml_schemas._validate_xml(INVALID, PROTOCOL) == "invalid_xml"
    assert saml_schemas._validate_xml("<unclosed", PROTOCOL) == "unloaded_xml"


def test_each_thread_compiles_its_own_schema_once() -> None:
    seen: list[object] = []

    def work() -> None:
        saml_schemas._validate_xml(VALID, PROTOCOL)
        first = saml_schemas._compiled(PROTOCOL)
        saml_schemas._validate_xml(VALID, PROTOCOL)
        assert saml_schemas._compiled(PROTOCOL) is first
        seen.append(first)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2
    assert seen[0] is not seen[1]
