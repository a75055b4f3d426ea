"""The chat upload's CSRF token is read from the multipart body's first field on its own."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Message

from qbizfed.web.csrf import MAX_LEADING_BYTES, leading_form_field


def _body(fields: dict[str, str], *, big_file: int = 0) -> tuple[bytes, bytes]:
    files = [("attachments", ("a.bin", b"\0" * big_file, "application/octet-stream"))]
    request = httpx.Request("POST", "http://x/chat", data=fields, files=files)
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    return request.read(), boundary


def _read(body: bytes, boundary: bytes, chunk: int) -> tuple[str | None, int]:
    messages: list[Message] = [
        {"type": "http.request", "body": body[i : i + chunk], "more_body": i + chunk < len(body)}
        for i in range(0, len(body), chunk)
    ]
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return messages.pop(0)

    token, read = asyncio.run(leading_form_field(receive, boundary, "csrf_token"))
    assert len(read) == pulled  # everything read is handed back for the form parser
    return token, sum(len(m.get("body", b"")) for m in read)


@pytest.mark.parametrize("chunk", [1, 7, 64, 65536])
def test_the_leading_token_is_found_whatever_the_chunking(chunk: int) -> None:
    body, boundary = _body({"csrf_token": "tok-123", "message": "hi"}, big_file=200_000)
    token, consumed = _read(body, boundary, chunk)
    assert token == "tok-123"
    assert consumed < 300 + chunk  # the upload itself was not read


def test_a_token_that_is_not_the_first_field_is_not_accepted() -> None:
    body, boundary = _body({"message": "hi", "csrf_token": "tok-123"})
    assert _read(body, boundary, 64)[0] is None


def test_reading_stops_after_the_leading_bytes_limit() -> None:
    body, boundary = _body({"message": "x" * 100_000, "csrf_token": "tok"})
    token, consumed = _read(body, boundary, 4096)
    assert token is None
    assert consumed <= MAX_LEADING_BYTES + 4096
