"""The compiled XPath queries keep python3-saml's contract, and are in use."""

from __future__ import annotations

import threading

import pytest
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

import qbizfed.identity.saml  # noqa: F401  (installs the compiled queries)
from qbizfed.identity import saml_xpath

DOCUMENT = etree.fromstring(
    b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1">'
    b"<saml:Issuer>idp</saml:Issuer>"
    b'<saml:Assertion ID="a1"><saml:Subject><saml:NameID>a@example.com</saml:NameID>'
    b"</saml:Subject></saml:Assertion>"
    b'<saml:Assertion ID="a2"><saml:Subject><saml:NameID>b@example.com</saml:NameID>'
    b"</saml:Subject></saml:Assertion></samlp:Response>"
)
QUERIES = [
    ("/samlp:Response/saml:Issuer", None),
    ("//saml:Assertion", None),
    ("/samlp:Response/saml:Assertion[@ID=$tagid]/saml:Subject/saml:NameID", "a2"),
    ("/samlp:Response/saml:Assertion[@ID=$tagid]", "missing"),
]


def test_installed_in_python3_saml() -> None:
    assert OneLogin_Saml2_XML.query.__name__ == "_query"


@pytest.mark.parametrize(("query", "tagid"), QUERIES)
def test_the_same_nodes_as_lxml_compiling_each_time(query: str, tagid: str | None) -> None:
    variables = {} if tagid is None else {"tagid": tagid}
    expected = DOCUMENT.xpath(query, namespaces=OneLogin_Saml2_Constants.NSMAP, **variables)
    assert OneLogin_Saml2_XML.query(DOCUMENT, query, None, tagid) == expected
    assert OneLogin_Saml2_XML.query(DOCUMENT, query, None, tagid) == expected  # compiled


def test_a_context_node_is_queried_instead_of_the_document() -> None:
    second = DOCUMENT.xpath("//saml:Assertion", namespaces=OneLogin_Saml2_Constants.NSMAP)[1]
    found = OneLogin_Saml2_XML.query(DOCUMENT, ".//saml:NameID", second)
    assert [node.text for node in found] == ["b@example.com"]


def test_each_thread_compiles_an_expression_once_and_keeps_a_bounded_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saml_xpath, "KEPT_PER_THREAD", 3)
    seen: list[object] = []

    def work() -> None:
        first = saml_xpath.compiled("//saml:Assertion")
        assert saml_xpath.compiled("//saml:Assertion") is first
        seen.append(first)
        saml_xpath.compiled("//saml:Issuer")
        saml_xpath.compiled("//saml:NameID")
        assert saml_xpath.compiled("//saml:Subject") is None  # beyond the bound: not kept
        # ... and still answered, compiled on the spot
        assert len(OneLogin_Saml2_XML.query(DOCUMENT, "//saml:Subject")) == 2

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2
    assert seen[0] is not seen[1]
