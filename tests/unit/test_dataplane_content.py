"""Text extraction from BatchPutDocument blobs, including hostile markup."""

from __future__ import annotations

import pytest

from qbizfed.local.qbusiness.dataplane_content import extract_text
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError
from qbizfed.local.qbusiness.dataplane_passages import split_passages
from tests.support.pdf import text_pdf


@pytest.mark.parametrize("content_type", ["PLAIN_TEXT", "MD", "CSV", "JSON", None])
def test_text_types_are_decoded(content_type: str | None) -> None:
    assert extract_text("Grüße, \ufeffworld".encode(), content_type) == "Grüße, \ufeffworld"
    assert extract_text(b"\xef\xbb\xbfBOM first", content_type) == "BOM first"


def test_html_visible_text_by_block() -> None:
    html = (
        b"<html><head><title>T</title><style>p{}</style><script>alert(1)</script></head>"
        b"<body><h1>Leave</h1><p>Employees get <b>25</b> days.</p><!-- secret comment -->"
        b"<ul><li>one</li><li>two</li></ul></body></html>"
    )
    text = extract_text(html, "HTML")
    assert "alert" not in text
    assert "secret comment" not in text
    assert "p{}" not in text
    assert "Employees get 25 days." in text
    assert [p.text for p in split_passages(text)][:2] == ["T", "Leave"]


def test_xml_text_nodes() -> None:
    assert extract_text(b"<a><b>one</b><c>two words</c></a>", "XML") == "one\n\ntwo words"


HOSTILE_MARKUP = [
    (
        "xxe-local-file",
        "XML",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    ),
    (
        "billion-laughs",
        "XML",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;">]><r>&d;</r>',
    ),
    (
        "xxe-network",
        "XML",
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r>ok</r>',
    ),
    (
        "html-xxe",
        "HTML",
        b'<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]><p>&x;</p>',
    ),
]


@pytest.mark.parametrize(
    ("content_type", "blob"), [pytest.param(t, b, id=name) for name, t, b in HOSTILE_MARKUP]
)
def test_hostile_markup_never_expands_entities(content_type: str, blob: bytes) -> None:
    try:
        text = extract_text(blob, content_type)
    except DataPlaneValidationError:
        return
    assert "root:" not in text
    assert "lollollol" not in text


@pytest.mark.parametrize("content_type", ["MS_WORD", "PPT", "MS_EXCEL", "RTF"])
def test_binary_types_are_refused(content_type: str) -> None:
    with pytest.raises(DataPlaneValidationError) as err:
        extract_text(b"%PDF-1.7", content_type)
    assert err.value.remedy


def test_malformed_xml_is_a_validation_error() -> None:
    with pytest.raises(DataPlaneValidationError):
        extract_text(b"<a><b></a>", "XML")


def test_oversized_blob_is_refused() -> None:
    with pytest.raises(DataPlaneValidationError):
        extract_text(b"x" * (10 * 1024 * 1024 + 1), "PLAIN_TEXT")


def test_pdf_text_layer_is_extracted() -> None:
    assert "Quarterly revenue grew" in extract_text(text_pdf("Quarterly revenue grew"), "PDF")


def test_broken_pdf_is_a_validation_error_with_a_remedy() -> None:
    with pytest.raises(DataPlaneValidationError) as err:
        extract_text(b"%PDF-1.7 not really", "PDF")
    assert "PDF" in err.value.message
    assert err.value.remedy


def test_more_than_five_megabytes_of_text_is_refused() -> None:
    with pytest.raises(DataPlaneValidationError) as err:
        extract_text(b"x" * (5 * 1024 * 1024 + 1), "PLAIN_TEXT")
    assert "5242880 bytes of text" in err.value.message
