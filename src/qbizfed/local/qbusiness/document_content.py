"""GetDocumentContent and the presigned URLs it returns, served by the local endpoint itself.

AWS checks the caller's identity against the document's ACL and answers with a
``presignedUrl`` and ``mimeType`` (docs/aws-facts.md, "GetDocumentContent"). A user who
may not see the document gets AccessDeniedException; so does a document id that does
not exist, so ids cannot be probed (the wording here is *unconfirmed*).

The URL is ``<endpoint>/_qbizfed/presigned/<token>``: the token is the request
(application, index, document, user, output format, expiry) encoded as JSON and
authenticated with HMAC-SHA256 under a key drawn at emulator start, so it cannot be
guessed or altered, and it expires :data:`LINK_TTL_SECONDS` after it was issued.
Fetching it needs no credentials (like an S3 presigned URL); the ACL is checked
again at fetch time, so a link outlives neither the user's access nor the document.
The body comes back with ``Content-Disposition: attachment``, ``nosniff`` and
``Cache-Control: no-store``.

``outputFormat`` RAW (default) returns the bytes as put, with their MIME type;
EXTRACTED returns the indexed text as ``text/plain``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from qbizfed.local.edge import PRESIGNED_PREFIX as LINK_PREFIX
from qbizfed.local.qbusiness.api_errors import AccessDeniedError
from qbizfed.local.qbusiness.operations import OperationContext

LINK_TTL_SECONDS = 300
MIME_TYPES = {
    "PLAIN_TEXT": "text/plain",
    "MD": "text/markdown",
    "CSV": "text/csv",
    "JSON": "application/json",
    "HTML": "text/html",
    "XML": "application/xml",
    "XSLT": "application/xml",
    "PDF": "application/pdf",
    "MS_WORD": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "PPT": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "MS_EXCEL": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "RTF": "application/rtf",
}


def mime_type(content_type: str | None) -> str:
    """The MIME type of a BatchPutDocument ``contentType`` (None: plain text)."""
    return MIME_TYPES.get(content_type or "PLAIN_TEXT", "application/octet-stream")


def denied(document_id: str) -> AccessDeniedError:
    """AWS's refusal for a document the user may not see (or that does not exist)."""
    return AccessDeniedError(
        f"User is not authorized to access the document {document_id}, or it does not exist."
    )


@dataclass(frozen=True)
class LinkClaims:
    """What a presigned URL grants: one document, to one user, until ``expires``."""

    application_id: str
    index_id: str
    document_id: str
    user_id: str
    output_format: str
    expires: int

    def to_json(self) -> bytes:
        return json.dumps(
            [self.application_id, self.index_id, self.document_id, self.user_id,
             self.output_format, self.expires],
            separators=(",", ":"),
        ).encode()  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class DocumentLinks:
    """Signs and checks the emulator's presigned document URLs (HMAC-SHA256)."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def token(self, claims: LinkClaims) -> str:
        payload = claims.to_json()
        mac = hmac.new(self.key, payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    def verify(self, token: str, now: datetime) -> LinkClaims:
        """The claims of a valid, unexpired token; ValueError saying why not."""
        encoded, _, signature = token.partition(".")
        try:
            payload, mac = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("malformed link") from exc
        expected = hmac.new(self.key, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise ValueError("bad signature")
        try:
            fields = json.loads(payload)
            claims = LinkClaims(*fields)
        except (ValueError, TypeError) as exc:
            raise ValueError("malformed link") from exc
        if now.timestamp() >= claims.expires:
            raise ValueError("expired")
        return claims


_links_lock = threading.Lock()


def links_of(state: Any) -> DocumentLinks:
    """The emulator's link signer (one per emulator; a reset keeps the key)."""
    with _links_lock:
        links = getattr(state, "document_links", None)
        if not isinstance(links, DocumentLinks):
            links = DocumentLinks()
            state.document_links = links
        return links


Content = tuple[bytes, str]
"""A document's bytes and MIME type."""

Lookup = Callable[[LinkClaims], Content | None]
"""Finds a document's content if the claims' user may (still) see it."""


def presigned_url(ctx: OperationContext, claims: LinkClaims) -> str:
    return f"{ctx.endpoint_url.rstrip('/')}{LINK_PREFIX}{links_of(ctx.state).token(claims)}"


def expiry(now: datetime) -> int:
    return int((now + timedelta(seconds=LINK_TTL_SECONDS)).timestamp())


def serve_link(request: Request, *, state: Any, now: datetime, lookup: Lookup) -> Response:
    """Answer a GET of a presigned URL: the document, or 403 saying why not."""
    token = request.path[len(LINK_PREFIX) :]
    try:
        claims = links_of(state).verify(token, now)
    except ValueError as exc:
        return _refused(f"Request has invalid or expired signature ({exc}).")
    found = lookup(claims)
    if found is None:
        return _refused("The document is no longer available to this user.")
    body, mime = found
    response = Response(body, status=200, mimetype=None, content_type=mime)
    response.headers["Content-Disposition"] = "attachment"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        f"<Message>{message}</Message></Error>"
    )
    return Response(body, status=403, content_type="application/xml")
