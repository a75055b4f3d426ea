"""Oversized and unauthenticated uploads to ``serve``: refused before they are read or parsed.

Each case talks raw HTTP/1.1 over a socket to the broker under uvicorn, because the
point is what the server does *before* the client has finished sending: the client
sends the headers and a first slice of the body, then waits for the answer without
sending the rest. A server that read (or parsed, or spooled) the body before deciding
would never answer, and the read times out.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.adversarial.test_web_saml_refusals import Served, _serve
from tests.integration.test_serve_pages import Broker, make_broker
from tests.support.rp_idp import LoopbackOidcIdp

BOUNDARY = "qbizfedtestboundary"
ANSWER_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def broker(idp: LoopbackOidcIdp) -> Iterator[Broker]:
    running = make_broker(idp)
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def saml_broker() -> Iterator[Served]:
    server, info = _serve(allow_unsolicited=False)
    yield info
    server.stop()


Answer = tuple[int, dict[str, str], str]


def send_then_read_head(sock: socket.socket, chunks: list[bytes]) -> bytes:
    """Send ``chunks`` (stopping when the server has answered and closed: what these tests
    look for), then read until the answer's head has arrived. A socket timeout while
    reading means the server was still waiting for the request."""
    for chunk in chunks:
        try:
            sock.sendall(chunk)
        except OSError:
            break
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    return answer


def post_partially(url: str, path: str, *, headers: dict[str, str], first_bytes: bytes,
                   chunks: list[bytes] | None = None) -> Answer:  # fmt: skip
    """Send the headers and ``first_bytes`` (then ``chunks``, if any); never the rest.

    Returns the status, headers and body of the answer, which must come while the
    client still owes most of the body.
    """
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_TIMEOUT) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        answer = send_then_read_head(sock, [head.encode() + b"\r\n" + first_bytes, *(chunks or [])])
        head_bytes, _, body = answer.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        response_headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        length = int(response_headers.get("content-length", "0"))
        while len(body) < length:
            data = sock.recv(65536)
            if not data:
                break
            body += data
    return int(lines[0].split()[1]), response_headers, body.decode("utf-8", "replace")


def multipart_start(csrf_token: str | None) -> bytes:
    """The beginning of the chat form: the token (if any), then a large file part."""
    text = ""
    if csrf_token is not None:
        text += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{csrf_token}\r\n"
        )
    text += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachments"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    return text.encode() + b"\0" * 1024


def chat_upload_headers(length: int, cookie: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
               "Content-Length": str(length)}  # fmt: skip
    if cookie:
        headers["Cookie"] = cookie
    return headers


CHAT_UPLOAD_PATHS = pytest.mark.parametrize("path", ["/chat", "/chat/stream"])


@CHAT_UPLOAD_PATHS
def test_anonymous_chat_upload_goes_to_sign_in_without_being_read(
    broker: Broker, path: str
) -> None:
    """Before the fix the whole multipart body was parsed (and spooled to disk) first."""
    status, headers, _ = post_partially(
        broker.url, path, headers=chat_upload_headers(40_000_000),
        first_bytes=multipart_start(None),
    )  # fmt: skip
    assert status == 303
    assert headers["location"] == "/signin?next=/chat"


@CHAT_UPLOAD_PATHS
def test_chat_upload_with_a_forged_csrf_token_is_refused_before_the_upload_is_read(
    broker: Broker, path: str
) -> None:
    with httpx.Client(timeout=10) as browser:
        broker.sign_in(browser)
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    status, _, body = post_partially(
        broker.url, path, headers=chat_upload_headers(40_000_000, cookie),
        first_bytes=multipart_start("forged-token"),
    )  # fmt: skip
    assert status == 400
    assert "security token is missing or stale" in body


@CHAT_UPLOAD_PATHS
def test_chat_upload_without_a_leading_csrf_token_is_refused_before_the_upload_is_read(
    broker: Broker, path: str
) -> None:
    with httpx.Client(timeout=10) as browser:
        broker.sign_in(browser)
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    status, _, body = post_partially(
        broker.url, path, headers=chat_upload_headers(40_000_000, cookie),
        first_bytes=multipart_start(None) + b"\0" * 32_768,
    )  # fmt: skip
    assert status == 400
    assert "security token is missing or stale" in body


@pytest.mark.parametrize(
    ("path", "length", "setting"),
    [
        ("/chat", 90_000_000, "max_chat_body_bytes"),
        ("/logout", 1_000_000, "max_body_bytes"),
        ("/saml/choose-role", 1_000_000, "max_body_bytes"),
    ],
)
def test_a_declared_oversize_body_is_refused_unread_with_413(
    broker: Broker, path: str, length: int, setting: str
) -> None:
    status, _, body = post_partially(
        broker.url, path, headers=chat_upload_headers(length), first_bytes=b"x" * 100
    )
    assert status == 413
    assert "larger than this service accepts" in body
    assert setting in body


def test_the_saml_acs_has_its_own_limit(saml_broker: Served) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "2000000"}
    status, _, body = post_partially(saml_broker.url, "/saml", headers=headers,
                                     first_bytes=b"SAMLResponse=")  # fmt: skip
    assert status == 413
    assert "max_saml_body_bytes" in body
    # Under the ACS limit but above the general one: read, and refused by SAML's own check.
    response = httpx.post(saml_broker.url + "/saml", data={"SAMLResponse": "A" * 300_000})
    assert response.status_code == 400
    assert "larger than 262144 bytes" in response.text


def test_a_chunked_body_is_cut_at_the_limit_while_it_is_read(saml_broker: Served) -> None:
    """No Content-Length to refuse up front: the read that crosses the limit ends it."""
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Transfer-Encoding": "chunked"}  # fmt: skip
    piece = b"A" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    status, _, body = post_partially(
        saml_broker.url, "/saml", headers=headers,
        first_bytes=b"d\r\nSAMLResponse=\r\n", chunks=[chunk] * 12,
    )  # fmt: skip
    assert status == 413
    assert "max_saml_body_bytes" in body


def test_an_oversized_request_head_is_refused_with_400_before_it_ends(broker: Broker) -> None:
    """A request head that never ends (one endless header) is refused once it outgrows
    h11's 16 KiB limit, while the client is still sending; a parser without that limit
    (uvicorn's httptools) keeps buffering, never answers, and the read times out."""
    parts = urlsplit(broker.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_TIMEOUT) as sock:
        start = f"GET / HTTP/1.1\r\nHost: {parts.netloc}\r\nX-Filler: ".encode()
        # up to 4 MiB, never the end of the header; a timeout reading means it kept reading
        answer = send_then_read_head(sock, [start, *[b"a" * 65536] * 64])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
