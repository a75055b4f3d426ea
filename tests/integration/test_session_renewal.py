"""Browser sessions that last as long as the IdP allows: renewal with refresh tokens.

Two ``qbizfed serve`` instances share a real Redis; the dev IdP grants refresh tokens
(``offline_access``); ``qbizfed local aws`` issues the credentials and answers ChatSync.
Hours pass on a test clock shared by both instances (``create_app(clock=...)``): STS
really issues 15-minute credentials (its minimum), and the test issuer stamps them
with an expiry 15 minutes after the *test clock's* now, so a 3-hour session runs in
seconds while every refresh grant, ID token check, STS call and ChatSync is real.
Nothing in the broker is weakened: the clock is the only seam.

Covered: a 3-hour chat with 15-minute credentials (zero failed turns, zero extra
sign-ins, one refresh grant per renewal); concurrent turns on both instances at
renewal time redeem the refresh token exactly once; a revoked refresh token ends the
session (sign-in page, back to the same conversation); the maximum lifetime ends the
session; logout revokes the refresh token; the refresh token never reaches a page, a
cookie or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.web.app import create_app
from qbizfed.web.browser_session import SESSION_PREFIX
from qbizfed.web.chat_settings import ChatSettings
from qbizfed.web.redis_store import RedisSessionStore
from qbizfed.web.routes_chat import install_chat
from qbizfed.web.sealing import SessionKeys
from qbizfed.web.settings import WebSettings
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.conftest import REGION
from tests.integration.test_redis_serve import close_store_on_shutdown, csrf_token
from tests.integration.test_serve_harness import UvicornServer
from tests.peers.flows import browse
from tests.support.chat_permissions import grant_chat_permissions
from tests.support.dev_idp_broker import dev_idp_web_settings
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.qbusiness_app import subscribed_application
from tests.support.redis_server import RedisServer, redis_or_skip
from tests.support.session_clock import ClockedIssuer, MovableClock, RefreshGrants

CLIENT_ID = "qbizfed-web-renewal"
CLIENT_SECRET = "renewal-secret-0123456789abcdef"
FIFTEEN_MINUTES = 900


@dataclass
class Renewing:
    redis: RedisServer
    keys: SessionKeys
    idp: DevIdp
    aws: LocalAws
    clock: MovableClock
    grants: RefreshGrants
    issuer: ClockedIssuer
    urls: tuple[str, str]
    servers: list[UvicornServer]
    store: RedisSessionStore

    def session_record(self, cookie: str) -> dict[str, Any] | None:
        async def read() -> dict[str, Any] | None:
            try:
                return await self.store.get(SESSION_PREFIX + cookie)
            finally:
                await self.store.aclose()

        return asyncio.run(read())


def _instance(settings: WebSettings, ctx: Renewing, application_id: str,
              server: UvicornServer) -> UvicornServer:  # fmt: skip
    store = RedisSessionStore(ctx.redis.url, keys=ctx.keys)
    http = httpx.AsyncClient(timeout=10, event_hooks={"request": [ctx.grants.hook]})
    app = create_app(settings, session_store=store, http_client=http, sts=ctx.issuer,
                     clock=ctx.clock)  # fmt: skip
    install_chat(app, settings=ChatSettings(application_id=application_id))
    close_store_on_shutdown(app, store)
    return server.start(app)


@pytest.fixture(scope="module")
def renewing(local_aws: LocalAws) -> Iterator[Renewing]:
    redis_server = redis_or_skip()
    keys = SessionKeys.generate()
    admin = boto3.session.Session(region_name=REGION)
    iam = admin.client("iam", endpoint_url=local_aws.url)
    first, second = UvicornServer(), UvicornServer()
    public = first.url
    idp = DevIdp(DevIdpSettings(port=0, clients=(OidcClient(
        client_id=CLIENT_ID, client_secret=Secret(CLIENT_SECRET),
        redirect_uris=(public + "/auth/oidc/callback",),
        post_logout_redirect_uris=(public + "/signed-out",), require_pkce=True,
    ),))).start()  # fmt: skip
    try:
        name = "renew" + uuid.uuid4().hex[:8]
        provider = iam.create_open_id_connect_provider(
            Url=idp.issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        host_path = idp.issuer.split("://", 1)[1]
        role = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(
                oidc_trust_policy(provider, host_path, CLIENT_ID))
        )["Role"]["Arn"]  # fmt: skip
        grant_chat_permissions(iam, role)
        saml_provider = iam.create_saml_provider(
            SAMLMetadataDocument=idp.saml_metadata_xml, Name=name + "-saml"
        )["SAMLProviderArn"]
        application_id = subscribed_application(
            admin.client("qbusiness", endpoint_url=local_aws.url), saml_provider,
            name_prefix="renew",
        )  # fmt: skip
        settings = dev_idp_web_settings(
            idp, public, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, oidc_role_arn=role,
            aws_region=REGION, aws_endpoint_url=local_aws.url,
            session_duration_seconds=FIFTEEN_MINUTES, renew_before_seconds=300,
            max_session_seconds=4 * 3600,
        )  # fmt: skip
        clock = MovableClock()
        issuer = ClockedIssuer(ThreadPoolStsIssuer(region=REGION, endpoint_url=local_aws.url),
                               clock)  # fmt: skip
        reader = RedisSessionStore(redis_server.url, keys=keys)
        ctx = Renewing(redis_server, keys, idp, local_aws, clock, RefreshGrants(), issuer,
                       (first.url, second.url), [], reader)  # fmt: skip
        for server in (first, second):
            ctx.servers.append(_instance(settings, ctx, application_id, server))
        try:
            yield ctx
        finally:
            for server in ctx.servers:
                server.stop()
    finally:
        idp.stop()
        redis_server.close()


# --- steps --------------------------------------------------------------------------------


def sign_in(ctx: Renewing, browser: httpx.Client, username: str = "alice",
            next_path: str = "/") -> httpx.Response:  # fmt: skip
    a = ctx.urls[0]
    params = browse(browser, f"{a}/login/oidc?next={next_path}", username=username,
                    password="demo", stop_at=a + "/auth/oidc/callback")  # fmt: skip
    assert isinstance(params, dict), params
    done = browser.get(a + "/auth/oidc/callback", params=params)
    assert done.status_code == 303, done.text[:1500]
    return done


def cookie_of(browser: httpx.Client) -> str:
    value = browser.cookies.get("qbizfed_session")
    assert value
    return value


def ask(browser: httpx.Client, url: str, csrf: str, message: str,
        conversation_id: str | None) -> httpx.Response:  # fmt: skip
    data = {"csrf_token": csrf, "message": message}
    target = url + "/chat"
    if conversation_id:
        data["conversation_id"] = conversation_id
        target += f"?conversation_id={conversation_id}"
    return browser.post(target, data=data,
                        files=[("attachments", ("", b"", "application/octet-stream"))])  # fmt: skip


def conversation_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:2000]
    location = response.headers["location"]
    assert location.startswith("/chat/"), location
    return location.split("#")[0].split("?")[0].removeprefix("/chat/")


def refresh_token_of(ctx: Renewing, browser: httpx.Client) -> str:
    record = ctx.session_record(cookie_of(browser))
    assert record is not None
    assert "rg" in record, "the IdP granted no refresh token"
    token: str = record["rg"]["rt"]
    return token


# --- tests --------------------------------------------------------------------------------


def test_a_three_hour_chat_with_fifteen_minute_credentials_renews_silently(
    renewing: Renewing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="qbizfed")
    ctx = renewing
    with httpx.Client(timeout=30) as browser:
        sign_in(ctx, browser)
        page = browser.get(ctx.urls[0] + "/chat")
        csrf = csrf_token(page.text)
        tokens_seen = {refresh_token_of(ctx, browser)}
        grants_before, sts_before = ctx.grants.count, ctx.issuer.web_identity_calls
        conversation: str | None = None
        failed: list[str] = []
        pages: list[str] = [page.text]
        steps = 18  # 18 x 10 minutes = 3 hours; each step finds 5 minutes left: renew
        for step in range(steps):
            ctx.clock.advance(600)
            url = ctx.urls[step % 2]  # every other turn on the other instance
            asked = ask(browser, url, csrf, f"turn {step}", conversation)
            if asked.status_code != 303 or not asked.headers["location"].startswith("/chat/"):
                failed.append(f"{step}: {asked.status_code} {asked.headers.get('location')}")
                continue
            conversation = conversation_of(asked)
            shown = browser.get(url + asked.headers["location"].split("#")[0])
            assert shown.status_code == 200
            pages.append(shown.text)
            tokens_seen.add(refresh_token_of(ctx, browser))
        # A 40-minute idle gap (credentials long expired): the next turn still renews.
        ctx.clock.advance(2400)
        late = ask(browser, ctx.urls[1], csrf, "after lunch", conversation)
        final = browser.get(ctx.urls[0] + f"/chat/{conversation}")
        cookies = [c.value or "" for c in browser.cookies.jar]
    assert failed == [], "failed turns"  # zero failed turns, zero extra sign-ins
    assert conversation_of(late) == conversation
    assert "after lunch" in final.text
    assert "turn 17" in final.text
    assert ctx.grants.count - grants_before == steps + 1  # exactly one grant per renewal
    assert ctx.issuer.web_identity_calls - sts_before == steps + 1
    assert len(tokens_seen) == steps + 1  # rotated on every use, and stored each time
    # The refresh token never reaches a page, a cookie or a log line.
    server_log = "\n".join(r.getMessage() for r in caplog.records if r.threadName != "MainThread")
    assert "credentials renewed: email=alice@example.com" in server_log
    for token in tokens_seen:
        assert token not in server_log
        assert all(token not in text for text in [*pages, final.text])
        assert all(token not in cookie for cookie in cookies)
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", server_log), "a JWT reached the logs"


def test_concurrent_turns_on_two_instances_redeem_the_refresh_token_once(
    renewing: Renewing,
) -> None:
    ctx = renewing
    with httpx.Client(timeout=30) as browser:
        sign_in(ctx, browser, username="bob")
        csrf = csrf_token(browser.get(ctx.urls[0] + "/chat").text)
        conversation_of(ask(browser, ctx.urls[0], csrf, "first", None))
        cookie = cookie_of(browser)
    ctx.clock.advance(FIFTEEN_MINUTES - 60)  # one minute left: every turn wants a renewal
    before = ctx.grants.count
    barrier = threading.Barrier(6)

    def turn(n: int) -> int:
        with httpx.Client(timeout=60, cookies={"qbizfed_session": cookie}) as client:
            url = ctx.urls[n % 2]
            client.get(url + "/healthz")
            barrier.wait()
            # Each in its own conversation: one conversation takes one turn at a time.
            response = ask(client, url, csrf, f"together {n}", None)
            ok = response.headers.get("location", "").startswith("/chat/")
            return response.status_code if ok else -response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(turn, range(6)))
    assert statuses == [303] * 6, statuses
    assert ctx.grants.count - before == 1


def test_a_revoked_refresh_token_leads_to_sign_in_and_back_to_the_conversation(
    renewing: Renewing,
) -> None:
    ctx = renewing
    with httpx.Client(timeout=30) as browser:
        sign_in(ctx, browser, username="carol")
        csrf = csrf_token(browser.get(ctx.urls[0] + "/chat").text)
        conversation = conversation_of(ask(browser, ctx.urls[0], csrf, "before", None))
        revoked = httpx.post(
            ctx.idp.issuer + "/oidc/revoke", data={"token": refresh_token_of(ctx, browser)},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )  # fmt: skip
        assert revoked.status_code == 200
        ctx.clock.advance(FIFTEEN_MINUTES - 60)
        refused = ask(browser, ctx.urls[1], csrf, "the unsent question", conversation)
        assert refused.status_code == 303
        assert refused.headers["location"] == f"/signin?next=/chat/{conversation}"
        assert ctx.session_record(cookie_of(browser)) is None  # the session ended
        signin = browser.get(ctx.urls[1] + refused.headers["location"])
        assert f"/login/oidc?next=/chat/{conversation}" in signin.text
        back = sign_in(ctx, browser, username="carol", next_path=f"/chat/{conversation}")
        assert back.headers["location"] == f"/chat/{conversation}"
        page = browser.get(ctx.urls[0] + back.headers["location"])
    assert page.status_code == 200
    assert "before" in page.text  # the same conversation; chat.js restores the draft


def test_the_maximum_lifetime_ends_a_renewable_session(renewing: Renewing) -> None:
    ctx = renewing
    with httpx.Client(timeout=30) as browser:
        sign_in(ctx, browser, username="alice")
        assert browser.get(ctx.urls[0] + "/chat").status_code == 200
        before = ctx.grants.count
        ctx.clock.advance(4 * 3600 + 1)  # max_session_seconds of this broker
        page = browser.get(ctx.urls[1] + "/chat")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/signin")
        assert ctx.session_record(cookie_of(browser)) is None
    assert ctx.grants.count == before  # no renewal past the end


def test_logout_revokes_and_forgets_the_refresh_token(renewing: Renewing) -> None:
    ctx = renewing
    with httpx.Client(timeout=30) as browser:
        sign_in(ctx, browser, username="bob")
        token = refresh_token_of(ctx, browser)
        cookie = cookie_of(browser)
        home = browser.get(ctx.urls[1] + "/")
        out = browser.post(ctx.urls[1] + "/logout", data={"csrf_token": csrf_token(home.text)})
        assert out.status_code in (200, 303), out.text[:1000]
    assert ctx.session_record(cookie) is None
    redeemed = httpx.post(
        ctx.idp.issuer + "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert redeemed.status_code == 400
    assert redeemed.json()["error"] == "invalid_grant"
