"""CSRF checks on a bare ASGI request: origin comparison and token comparison."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from qbizfed.web.browser_session import WebSession
from qbizfed.web.csrf import CsrfError, own_origin, verify_csrf


def post(headers: dict[str, str], *, scheme: str = "http", body: bytes = b"") -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http", "method": "POST", "path": "/logout", "scheme": scheme,
        "query_string": b"", "server": ("127.0.0.1", 8000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    return Request(scope, receive)


SESSION = WebSession(id="sid", csrf_token="the-token", created_at=0.0)


def test_own_origin_prefers_the_public_url_behind_a_proxy() -> None:
    request = post({"host": "10.0.0.5:8000"})
    assert own_origin(request, None) == "http://10.0.0.5:8000"
    assert own_origin(request, "https://Broker.example.com/app") == "https://broker.example.com"


@pytest.mark.parametrize(
    ("attack", "headers", "public_url"),
    [
        ("cross_site_origin", {"origin": "https://evil.test", "x-csrf-token": "the-token"}, None),
        ("scheme_downgrade_origin",
         {"origin": "http://broker.example.com", "x-csrf-token": "the-token"},
         "https://broker.example.com"),
        ("missing_token", {}, None),
        ("wrong_token", {"x-csrf-token": "the-tokex"}, None),
        ("empty_token", {"x-csrf-token": ""}, None),
    ],
)  # fmt: skip
def test_forged_posts_are_refused(
    attack: str, headers: dict[str, str], public_url: str | None
) -> None:
    request = post({"host": "broker.example.com", **headers},
                   body=b"", scheme="http")  # fmt: skip
    with pytest.raises(CsrfError):
        asyncio.run(verify_csrf(request, SESSION, public_url=public_url))


def test_same_origin_post_with_the_form_token_passes() -> None:
    request = post(
        {"host": "broker.example.com", "origin": "https://broker.example.com",
         "content-type": "application/x-www-form-urlencoded"},
        body=b"csrf_token=the-token",
    )  # fmt: skip
    asyncio.run(verify_csrf(request, SESSION, public_url="https://broker.example.com"))


def test_a_post_without_a_session_is_refused() -> None:
    with pytest.raises(CsrfError, match="expired"):
        asyncio.run(verify_csrf(post({"host": "h", "x-csrf-token": "t"}), None))
