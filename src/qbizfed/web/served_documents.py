"""How ``serve`` hands a cited document to the browser without letting it act.

A document's bytes come from anywhere (a wiki page, an uploaded HTML file), so they
are served as data, never as part of the site: text formats inline as
``text/plain; charset=utf-8``, everything else (HTML, SVG, XML, PDF, Office files,
unknown types) as ``application/octet-stream`` with ``Content-Disposition:
attachment``. ``X-Content-Type-Options: nosniff`` stops the browser from guessing
otherwise, and the security-headers middleware adds ``Content-Security-Policy:
sandbox`` on these paths (:data:`SANDBOXED_PREFIX`), so even a rendered response has
no origin, scripts or forms. The presigned URL the service returned is never sent.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from starlette.responses import Response

from qbizfed.aws.document_content import DocumentContent
from qbizfed.web.security_headers import SANDBOXED_PREFIX as SANDBOXED_PREFIX

INLINE_TEXT = frozenset({"text/plain", "text/markdown", "text/csv", "application/json"})


def _filename(content: DocumentContent) -> str:
    tail = content.document_id.rstrip("/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", tail).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")[:100] or "document"


def document_response(content: DocumentContent) -> Response:
    """The document as a response that cannot run in the site's origin."""
    mime = content.mime_type.split(";")[0].strip().lower()
    name = _filename(content)
    if mime in INLINE_TEXT:
        disposition = f"inline; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
        media_type = "text/plain; charset=utf-8"
    else:
        disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
        media_type = "application/octet-stream"
    return Response(
        content.data,
        media_type=media_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
