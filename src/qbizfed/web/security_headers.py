"""Security headers on every response, as a small ASGI middleware.

CSP allows no inline script or style, frames nobody (``frame-ancestors 'none'``) and
lets forms lead only to this site and the configured IdPs. Scripts may connect to this
site only (``connect-src 'self'``: the chat page reads streamed answers with ``fetch``).
Dynamic pages are ``no-store`` (they may show who is signed in, or credentials); static
assets may be cached.
HSTS is sent when the deployment is served over https. Documents served under
``/chat/source/`` (:mod:`qbizfed.web.served_documents`) also get ``sandbox``: no
origin, no scripts, no forms, whatever the browser makes of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_PREFIX = "/static/"
SANDBOXED_PREFIX = "/chat/source/"


def content_security_policy(form_targets: Iterable[str]) -> str:
    form_action = " ".join(["'self'", *form_targets])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    """Adds CSP, anti-framing, nosniff, referrer and cache headers to every response."""

    def __init__(self, app: ASGIApp, *, form_targets: Iterable[str] = (), hsts: bool) -> None:
        self.app = app
        self.csp = content_security_policy(form_targets)
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith(STATIC_PREFIX)
        csp = self.csp
        if str(scope.get("path", "")).startswith(SANDBOXED_PREFIX):
            csp = "sandbox; " + csp

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = csp
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if not is_static:
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
            await send(message)

        await self.app(scope, receive, send_with_headers)
