"""Bearer-token guard for ``qbizfed mcp --http``: every request must carry the token.

The server speaks for the signed-in user, so on HTTP anything that can reach the port
could ask as that user. The token is generated at start (``secrets.token_urlsafe``,
256 bits), printed once to stderr for the client's configuration, compared in
constant time, and never logged. A request without it gets 401 before the MCP
layer parses anything.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import TYPE_CHECKING

from qbizfed.errors import ConfigError
from qbizfed.url_policy import is_loopback_host

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_BYTES = 32


def new_bearer_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def require_loopback(host: str, *, allow_non_loopback: bool) -> None:
    """Refuse a bind beyond this machine unless explicitly allowed."""
    if not is_loopback_host(host) and not allow_non_loopback:
        raise ConfigError(
            f"refusing to serve MCP on {host}: the server answers as the signed-in user, "
            "so anyone who can reach it could ask as them",
            remedy="bind to 127.0.0.1 (the default), or pass --allow-non-loopback if you "
            "really mean to expose it (the bearer token is still required)",
        )


def bearer_matches(header: bytes | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not header:
        return False
    scheme, _, value = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("latin-1"), token.encode("ascii"))


class BearerTokenGuard:
    """ASGI middleware: HTTP requests without the bearer token get 401."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self._token = token

    def __repr__(self) -> str:
        return "BearerTokenGuard(token='**********')"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        if bearer_matches(header, self._token):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": "invalid_token",
                "error_description": "send Authorization: Bearer <the token qbizfed mcp "
                "printed at start>",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="qbizfed-mcp"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
