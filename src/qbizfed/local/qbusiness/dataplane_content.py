"""Text of a BatchPutDocument ``DocumentContent.blob``, by ``contentType``.

The emulator indexes ``PLAIN_TEXT``, ``MD``, ``CSV``, ``JSON``, ``XML``/``XSLT``
(text nodes), ``HTML`` (visible text) and ``PDF`` (text layer, read with pypdf).
Other binary formats (Word, PowerPoint, Excel, RTF) are refused with
ValidationException so the caller can report them in ``failedDocuments``. XML and
HTML are parsed with lxml with entities unresolved, no DTD and no network.
"""

from __future__ import annotations

from lxml import etree, html

from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError

TEXT_TYPES = frozenset({"PLAIN_TEXT", "MD", "CSV", "JSON"})
MARKUP_TYPES = frozenset({"HTML", "XML", "XSLT"})
MAX_BYTES = 10 * 1024 * 1024
_BLOCKS = (
    "p",
    "div",
    "section",
    "article",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "br",
    "pre",
    "blockquote",
    "title",
)


def _decode(blob: bytes) -> str:
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError:
        return blob.decode("latin-1")


def _pdf_text(blob: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(blob), strict=False)
        if reader.is_encrypted:
            raise DataPlaneValidationError(
                "The PDF document is encrypted.", remedy="Remove the password and send it again."
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DataPlaneValidationError(
            "The PDF document could not be parsed.",
            remedy="Re-export the PDF (print to PDF) or send its text as PLAIN_TEXT.",
        ) from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def extract_text(blob: bytes, content_type: str | None) -> str:
    """The searchable text of a document body (``content_type`` None = plain text)."""
    if len(blob) > MAX_BYTES:
        raise DataPlaneValidationError(
            f"The document is larger than the emulator's {MAX_BYTES} byte limit."
        )
    kind = content_type or "PLAIN_TEXT"
    if kind in TEXT_TYPES:
        return _decode(blob)
    if kind == "HTML":
        parser = html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
        try:
            root = html.document_fromstring(blob, parser=parser)
        except (etree.ParserError, ValueError) as exc:
            raise DataPlaneValidationError("The HTML document could not be parsed.") from exc
        for node in root.xpath("//script|//style|//noscript|//template"):
            node.drop_tree()
        for node in root.iter(*_BLOCKS):
            node.tail = "\n\n" + (node.tail or "")
            node.text = "\n\n" + (node.text or "")
        return "\n\n".join(
            " ".join(p.split()) for p in str(root.text_content()).split("\n\n") if p.strip()
        )
    if kind in MARKUP_TYPES:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        try:
            root = etree.fromstring(blob, parser=parser)
        except etree.XMLSyntaxError as exc:
            raise DataPlaneValidationError("The XML document could not be parsed.") from exc
        return "\n\n".join(" ".join(t.split()) for t in root.itertext() if t.strip())
    if kind == "PDF":
        return _pdf_text(blob)
    raise DataPlaneValidationError(
        f"The local emulator cannot extract text from {kind} documents.",
        remedy="Upload PLAIN_TEXT, MD, HTML, CSV, JSON or XML content to the local stack.",
    )
