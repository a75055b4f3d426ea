"""Request body limits of ``serve``, enforced while the body is read and before any parsing.

An ASGI layer (no body is ever read whole to measure it): a declared ``Content-Length``
above the path's limit is answered 413 at once, without reading a byte; a body without
one (chunked) is counted as the application reads it, and the read that crosses the
limit raises :class:`~qbizfed.web.error_pages.RequestTooLargeError` (a 413 page). So a
form parser never sees more than the limit, and nothing beyond it is spooled to disk.

Three limits (``[serve]`` settings, see :class:`~qbizfed.settings.serve.WebSettings`):
the chat question with its attachments (``POST /chat`` and its streamed form
``POST /chat/stream``, as multipart), the SAML ACS
(``POST /saml``, a base64 response of at most 256 KiB), and every other request.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qbizfed.web.error_pages import ErrorPage, RequestTooLargeError

CHAT_PATHS = ("/chat", "/chat/stream")
SAML_ACS_PATH = "/saml"


@dataclass(frozen=True)
class BodyLimits:
    """Largest request body accepted, in bytes, per kind of request."""

    default_bytes: int
    chat_bytes: int
    saml_acs_bytes: int

    def for_request(self, method: str, path: str, content_type: str) -> tuple[int, str]:
        """The limit for this request and the setting that raises it."""
        if method == "POST" and path in CHAT_PATHS and content_type.startswith("multipart/"):
            return self.chat_bytes, "max_chat_body_bytes"
        if method == "POST" and path == SAML_ACS_PATH:
            return self.saml_acs_bytes, "max_saml_body_bytes"
        return self.default_bytes, "max_body_bytes"


def too_large(limit: int, setting: str) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"the request body is larger than this service accepts here ({limit} bytes)",
        remedy="send less (fewer or smaller attachments, a shorter message); the "
        f"administrator can raise [serve] {setting}",
    )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1")).lower()
    return ""


class RequestBodyLimits:
    """ASGI middleware: refuse a declared oversize body unread, cut a streamed one at the limit."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limits.for_request(
            scope["method"], scope["path"], _content_type(scope)
        )
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            error = too_large(limit, setting)
            page = ErrorPage(413, "The request is too large", error.message, error.remedy)
            response = scope["app"].state.web.error(Request(scope), page)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit, setting)
            return message

        await self.app(scope, counting_receive, send)
