"""The web broker's Redis session store goes down: every page fails closed.

A real ``redis-server`` (Debian's, on a free loopback port) backs the broker's
``RedisSessionStore``; the broker runs under uvicorn on loopback with a loopback IdP.
Once Redis stops, no request may be answered from a guess: the broker cannot tell
who is signed in, whether a login ``state`` is genuine, or whether an assertion was
used, so every request gets the 503 page (``Retry-After``), no session cookie, no
redirect to the IdP and no credentials. When Redis is back, sign-in works again.

``create_app`` installs the outage page itself (``qbizfed.web.redis_outage``); this
test goes through ``create_app`` only, as ``qbizfed serve`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.redis_store import RedisSessionStore
from qbizfed.web.sealing import SessionKeys
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.support.redis_server import RedisServer, redis_or_skip
from tests.support.rp_idp import LoopbackOidcIdp

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"


@dataclass
class Broker:
    url: str
    idp: LoopbackOidcIdp
    redis: RedisServer
    issuer: RecordingIssuer

    def sign_in(self, browser: httpx.Client) -> None:
        start = browser.get(self.url + "/login/oidc")
        assert start.status_code == 302, start.text[:500]
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        self.idp.token_response = {"access_token": "at", "token_type": "Bearer",
                                   "id_token": self.idp.mint(self.idp.claims(
                                       nonce=params["nonce"]))}  # fmt: skip
        done = browser.get(self.url + "/auth/oidc/callback",
                           params={"code": "c", "state": params["state"]})  # fmt: skip
        assert done.status_code == 303, done.text[:800]


class ClosesStoreOnShutdown:
    """Closes the store's Redis connections inside uvicorn's loop when it shuts down.

    ``create_app`` leaves injected stores open (they are the caller's); connections left
    to a later garbage collection run their finalisers at random points, which can trip
    CPython 3.11's "AST constructor recursion depth mismatch" in pytest's rewriter.
    """

    def __init__(self, app: ASGIApp, store: RedisSessionStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def closing_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.store.aclose()
            await send(message)

        await self.app(scope, receive, closing_send)


@pytest.fixture
def broker() -> Iterator[Broker]:
    redis = redis_or_skip()
    idp = LoopbackOidcIdp().start()
    server = UvicornServer()
    settings = WebSettings(oidc=OidcRegistration(
        issuer=idp.issuer, client_id=idp.client_id, client_secret=idp.client_secret,
        redirect_uri=server.url + "/auth/oidc/callback", role_arn=ROLE,
        allow_insecure_loopback_http=True))  # fmt: skip
    store = RedisSessionStore(redis.url, keys=SessionKeys.generate(), prefix="faults:")
    issuer = RecordingIssuer()
    app = create_app(settings, session_store=store, sts=issuer)
    server.start(ClosesStoreOnShutdown(app, store))  # type: ignore[arg-type]
    try:
        yield Broker(server.url, idp, redis, issuer)
    finally:
        server.stop()
        idp.stop()
        redis.close()


def assert_fails_closed(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:800])
    assert response.headers.get("retry-after")
    assert "temporarily unavailable" in response.text
    assert "set-cookie" not in response.headers
    assert "location" not in response.headers
    assert "Traceback" not in response.text


def test_control_sign_in_works_while_redis_is_up(broker: Broker) -> None:
    with httpx.Client() as browser:
        broker.sign_in(browser)
        assert "alice@example.com" in browser.get(broker.url + "/").text
    assert len(broker.issuer.calls) == 1


def test_a_signed_in_user_gets_the_outage_page_not_a_guess(broker: Broker) -> None:
    with httpx.Client() as browser:
        broker.sign_in(browser)
        broker.redis.stop()
        for path in ("/", "/credentials"):
            assert_fails_closed(browser.get(broker.url + path))
        assert_fails_closed(browser.post(broker.url + "/credentials/credential-process",
                                         headers={"Origin": broker.url}))  # fmt: skip
        assert_fails_closed(browser.post(broker.url + "/logout", headers={"Origin": broker.url}))


def test_no_login_starts_and_no_callback_is_honoured_while_redis_is_down(broker: Broker) -> None:
    with httpx.Client() as browser:
        start = browser.get(broker.url + "/login/oidc")  # state stored while Redis is up
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        broker.idp.token_response = {"access_token": "at", "token_type": "Bearer",
                                     "id_token": broker.idp.mint(broker.idp.claims(
                                         nonce=params["nonce"]))}  # fmt: skip
        broker.redis.stop()
        assert_fails_closed(browser.get(broker.url + "/login/oidc"))
        callback = browser.get(broker.url + "/auth/oidc/callback",
                               params={"code": "c", "state": params["state"]})  # fmt: skip
        assert_fails_closed(callback)
    assert broker.issuer.calls == []  # no credentials were issued
    assert broker.idp.token_requests == []  # the code was not even redeemed


def test_sign_in_works_again_when_redis_is_back(broker: Broker) -> None:
    broker.redis.stop()
    with httpx.Client() as browser:
        assert_fails_closed(browser.get(broker.url + "/login/oidc"))
        broker.redis.start()
        broker.sign_in(browser)
    assert len(broker.issuer.calls) == 1
