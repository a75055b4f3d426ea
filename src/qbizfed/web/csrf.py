"""CSRF protection for every state-changing POST: a per-session token plus an origin check.

The synchronizer token lives in the server-side session and is sent back in a hidden
form field (``csrf_token``) or the ``X-CSRF-Token`` header; it is compared in constant
time. When the browser sends ``Origin`` (all current browsers do on POST) it must be
this site's own. The SAML assertion consumer service is the one POST that arrives
cross-site by design; it is protected by ``InResponseTo`` and the replay cache instead.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.types import Message, Receive

from qbizfed.errors import QbizfedError
from qbizfed.web.browser_session import WebSession

FORM_FIELD = "csrf_token"
MAX_LEADING_BYTES = 16 * 1024
HEADER = "x-csrf-token"


class CsrfError(QbizfedError):
    """A POST without a valid CSRF token, or from another site."""


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origin(request: Request, public_url: str | None) -> str:
    """This site's origin: from ``public_url`` when set (behind a TLS-terminating proxy the
    request itself looks like plain http), else from the request."""
    if public_url:
        return _origin_of(public_url)
    return f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def _check_origin_and_session(
    request: Request, session: WebSession | None, public_url: str | None
) -> WebSession:
    origin = request.headers.get("origin")
    if (
        origin is not None
        and origin != "null"
        and _origin_of(origin) != own_origin(request, public_url)
    ):
        raise CsrfError(
            "this form was submitted from another site",
            remedy="open the page on this site and submit it again",
        )
    if session is None:
        raise CsrfError(
            "your session has expired",
            remedy="go back to the start page, sign in again and repeat the action",
        )
    return session


def _check_token(supplied: str | None, session: WebSession) -> None:
    if not supplied or not hmac.compare_digest(supplied.encode(), session.csrf_token.encode()):
        raise CsrfError(
            "the form's security token is missing or stale",
            remedy="reload the page and submit the form again",
        )


async def verify_csrf(
    request: Request, session: WebSession | None, *, public_url: str | None = None
) -> None:
    """Raise :class:`CsrfError` unless this POST carries the session's token from our origin."""
    checked = _check_origin_and_session(request, session, public_url)
    supplied = request.headers.get(HEADER)
    if supplied is None:
        form = await request.form()
        value = form.get(FORM_FIELD)
        supplied = value if isinstance(value, str) else None
    _check_token(supplied, checked)


async def verify_csrf_before_parsing(
    request: Request, session: WebSession | None, *, public_url: str | None = None
) -> Request:
    """:func:`verify_csrf` for a multipart upload, without parsing the upload first.

    The token comes from the header, or from the form's *first* field (our forms put it
    first), read incrementally from the body: at most :data:`MAX_LEADING_BYTES` are read
    before the decision, so a forged upload is refused before anything is spooled to
    disk. Returns the request to parse the form from (the bytes read are replayed).
    """
    checked = _check_origin_and_session(request, session, public_url)
    supplied = request.headers.get(HEADER)
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if supplied is not None or content_type != b"multipart/form-data" or b"boundary" not in options:
        await verify_csrf(request, checked, public_url=public_url)
        return request
    token, read = await leading_form_field(request.receive, options[b"boundary"], FORM_FIELD)
    _check_token(token, checked)
    pending = list(read)

    async def replay() -> Message:
        return pending.pop(0) if pending else await request.receive()

    return Request(request.scope, replay)


async def leading_form_field(
    receive: Receive, boundary: bytes, name: str
) -> tuple[str | None, list[Message]]:
    """The value of the multipart body's first part if it is the field ``name``."""
    state: dict[str, Any] = {"header": b"", "value": b"", "name": None, "data": b"", "done": False}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        if not state["done"] and state["header"].lower() == b"content-disposition":
            state["name"] = parse_options_header(state["value"])[1].get(b"name")
        state["header"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not state["done"]:
            state["data"] += data[start:end]

    def on_part_end() -> None:
        state["done"] = True

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    read: list[Message] = []
    size = 0
    while not state["done"] and size <= MAX_LEADING_BYTES:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        try:
            parser.write(chunk[: MAX_LEADING_BYTES + 1])
        except MultipartParseError:
            break
        if not message.get("more_body", False):
            break
    if not state["done"] or state["name"] != name.encode():
        return None, read
    try:
        return bytes(state["data"]).decode("ascii"), read
    except UnicodeDecodeError:
        return None, read
