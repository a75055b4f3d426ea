"""Status codes of STS failures in ``serve``: 403 for a refusal, 503 + Retry-After for an outage.

The broker talks real HTTP, through boto3, to a stand-in STS on loopback that answers
every call with one configured AWS error (the wire format STS uses: an ``ErrorResponse``
XML document and its HTTP status). A refusal caused by the token, the assertion or the
trust configuration cannot be fixed by retrying, so it is a 403 page naming the cause;
an STS that fails, throttles or cannot be reached is a 503 with ``Retry-After``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbizfed.aws.sts import StsFederation
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.integration.test_serve_pages import make_broker
from tests.support.rp_idp import LoopbackOidcIdp


@dataclass
class StsAnswer:
    status: int
    code: str
    message: str


class ErrorSts:
    """An STS endpoint that answers every call with ``answer`` (AWS's XML error format)."""

    def __init__(self) -> None:
        self.answer = StsAnswer(400, "InvalidIdentityToken", "x")
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                a = owner.answer
                body = (
                    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    f"<Error><Type>Sender</Type><Code>{a.code}</Code>"
                    f"<Message>{a.message}</Message></Error>"
                    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
                ).encode()
                self.send_response(a.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sts() -> Iterator[ErrorSts]:
    server = ErrorSts()
    yield server
    server.stop()


def _sign_in_against(idp: LoopbackOidcIdp, endpoint_url: str) -> httpx.Response:
    federation = StsFederation(region="us-east-1", endpoint_url=endpoint_url, max_attempts=1)
    issuer = ThreadPoolStsIssuer(region="us-east-1", federation=federation)
    running = make_broker(idp, issuer=issuer)
    try:
        with httpx.Client(timeout=15) as client:
            start = client.get(running.url + "/login/oidc")
            query = parse_qs(urlsplit(start.headers["location"]).query)
            params = {k: v[0] for k, v in query.items()}
            idp.token_response = {
                "access_token": "a", "token_type": "Bearer",
                "id_token": idp.mint(idp.claims(nonce=params["nonce"])),
            }  # fmt: skip
            return client.get(running.url + "/auth/oidc/callback",
                              params={"code": "c", "state": params["state"]})  # fmt: skip
    finally:
        running.server.stop()


REFUSALS = [
    (StsAnswer(400, "InvalidIdentityToken", "Incorrect token audience"), "add client id"),
    (StsAnswer(400, "InvalidIdentityToken", "No OpenIDConnect provider found in your account "
                                            "for http://127.0.0.1"), "no IAM OIDC provider"),
    (StsAnswer(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
     "trust policy"),
    (StsAnswer(400, "ExpiredTokenException", "Token is expired"), "sign in again"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "says"), REFUSALS, ids=[a.code + "-" + s for a, s in REFUSALS])
def test_an_sts_refusal_is_a_403_page_naming_the_cause(
    idp: LoopbackOidcIdp, sts: ErrorSts, answer: StsAnswer, says: str
) -> None:
    sts.answer = answer
    page = _sign_in_against(idp, sts.url)
    assert page.status_code == 403, page.text[:1000]
    assert "AWS refused to issue credentials" in page.text
    assert says in page.text, page.text[-2500:]
    assert "retry-after" not in page.headers


OUTAGES = [
    StsAnswer(500, "InternalFailure", "internal"),
    StsAnswer(503, "ServiceUnavailable", "unavailable"),
    StsAnswer(400, "Throttling", "Rate exceeded"),
]


@pytest.mark.parametrize("answer", OUTAGES, ids=[a.code for a in OUTAGES])
def test_a_failing_or_throttling_sts_is_a_503_with_retry_after(
    idp: LoopbackOidcIdp, sts: ErrorSts, answer: StsAnswer
) -> None:
    sts.answer = answer
    page = _sign_in_against(idp, sts.url)
    assert page.status_code == 503, page.text[:1000]
    assert page.headers["retry-after"] == "30"
    assert "AWS could not issue credentials right now" in page.text
    assert answer.code in page.text


def test_an_unreachable_sts_is_a_503_with_retry_after(idp: LoopbackOidcIdp) -> None:
    page = _sign_in_against(idp, "http://127.0.0.1:9")  # discard port: refused
    assert page.status_code == 503, page.text[:1000]
    assert page.headers["retry-after"] == "30"
    assert "AWS STS could not be reached" in page.text
