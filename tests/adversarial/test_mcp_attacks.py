"""Hostile requests to ``qbizfed mcp --http``: whoever reaches the port must not speak
as the signed-in user without the bearer token, and the server must not bind beyond
loopback unless told. Each case is named after its attack; the genuine token is the
control. (The prompt-injection case, a document ordering the model to call other
tools, runs end to end in tests/integration/test_mcp_server.py.)
"""

from __future__ import annotations

import httpx
import pytest

from qbizfed.errors import ConfigError
from qbizfed.mcp_server.http_guard import BearerTokenGuard, new_bearer_token, require_loopback

TOKEN = new_bearer_token()


async def _inner(scope: object, receive: object, send: object) -> None:
    assert isinstance(scope, dict)
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"reached the MCP layer"})  # type: ignore[operator]


ATTACKS: list[tuple[str, dict[str, str]]] = [
    ("no-authorization-header", {}),
    ("wrong-token", {"Authorization": "Bearer " + "A" * len(TOKEN)}),
    ("empty-bearer", {"Authorization": "Bearer "}),
    ("token-prefix", {"Authorization": f"Bearer {TOKEN[:-1]}"}),
    ("token-with-suffix", {"Authorization": f"Bearer {TOKEN}x"}),
    ("basic-scheme-with-the-token", {"Authorization": f"Basic {TOKEN}"}),
    ("token-in-query-string", {"X-Query": "1"}),
    ("token-in-another-header", {"X-Api-Key": TOKEN}),
]


async def _request(headers: dict[str, str], url: str = "http://127.0.0.1/mcp") -> httpx.Response:
    transport = httpx.ASGITransport(app=BearerTokenGuard(_inner, token=TOKEN))
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.post(url, headers=headers, json={})


@pytest.mark.parametrize(("attack", "headers"), ATTACKS, ids=[a for a, _ in ATTACKS])
def test_mcp_http_request_without_the_bearer_token_is_refused(
    attack: str, headers: dict[str, str]
) -> None:
    import anyio

    url = (
        f"http://127.0.0.1/mcp?access_token={TOKEN}"
        if attack == "token-in-query-string"
        else ("http://127.0.0.1/mcp")
    )
    response = anyio.run(_request, headers, url)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "reached the MCP layer" not in response.text
    assert TOKEN not in response.text


def test_mcp_http_genuine_bearer_token_passes_authentication_control() -> None:
    import anyio

    response = anyio.run(_request, {"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.text == "reached the MCP layer"


def test_mcp_guard_repr_masks_the_token() -> None:
    assert TOKEN not in repr(BearerTokenGuard(_inner, token=TOKEN))


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.10", "127.0.0.1.evil.test", "example.com"]
)
def test_mcp_http_bind_beyond_loopback_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="refusing to serve MCP") as refused:
        require_loopback(host, allow_non_loopback=False)
    assert "--allow-non-loopback" in refused.value.remedy


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.5.5.5"])
def test_mcp_http_loopback_bind_is_accepted_control(host: str) -> None:
    require_loopback(host, allow_non_loopback=False)
