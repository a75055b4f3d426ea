"""Several ``qbizfed serve`` instances sharing one real Redis, with real logins.

Dev IdP (OIDC and SAML) -> broker instances (uvicorn on their own loopback ports, each
with its own Redis store object and event loop) -> ``qbizfed local aws`` STS. All
instances are configured alike, with the first instance's URL as the public address,
as behind a load balancer; the test's browser sends each request to the instance the
scenario needs (the session cookie, host-only on 127.0.0.1, goes to every port).

Covered: a login started on one instance and finished on another (OIDC state, nonce and
PKCE verifier; SAML request ID), the session then used on either instance, a SAML
assertion accepted by one instance and replayed to the other, an instance restarted
(new app and store objects) keeping its users signed in, and Redis going down: a 503
page, no cookie, no credentials, until Redis is back.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.redis_outage import install_outage_page
from qbizfed.web.redis_store import RedisSessionStore
from qbizfed.web.sealing import SessionKeys
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.conftest import REGION
from tests.integration.test_serve_harness import UvicornServer
from tests.peers.flows import SamlPost, browse, login_for_saml
from tests.support.dev_idp_broker import dev_idp_web_settings
from tests.support.dev_idp_federation import federate_dev_idp
from tests.support.qbusiness_app import subscribed_application
from tests.support.redis_server import RedisServer, redis_or_skip

CLIENT_ID = "qbizfed-web-redis"
CLIENT_SECRET = "redis-secret-0123456789abcdef"


@dataclass
class Instance:
    """One broker process stand-in: its own server, app, store and event loop."""

    server: UvicornServer
    store: RedisSessionStore

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


@dataclass
class Cluster:
    redis: RedisServer
    keys: SessionKeys
    settings: WebSettings
    idp: DevIdp
    aws: LocalAws
    oidc_role: str
    saml_role: str
    application_id: str
    a: Instance
    b: Instance

    def start_instance(self, redis_url: str | None = None) -> Instance:
        return start_instance(self.settings, redis_url or self.redis.url, self.keys, self.aws.url)


def close_store_on_shutdown(app: FastAPI, store: RedisSessionStore) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            yield state
        await store.aclose()

    app.router.lifespan_context = lifespan


def start_instance(
    settings: WebSettings,
    redis_url: str,
    keys: SessionKeys,
    aws_url: str,
    server: UvicornServer | None = None,
    customise: Callable[[FastAPI], None] | None = None,
) -> Instance:
    """What ``qbizfed serve --session-store redis://...`` runs, on a loopback port."""
    server = server or UvicornServer()
    store = RedisSessionStore(redis_url, keys=keys)
    app = create_app(settings, session_store=store,
                     sts=ThreadPoolStsIssuer(region=REGION, endpoint_url=aws_url))  # fmt: skip
    if customise is not None:
        customise(app)
    install_outage_page(app)
    close_store_on_shutdown(app, store)
    return Instance(server.start(app), store)


@pytest.fixture(scope="module")
def cluster(local_aws: LocalAws) -> Iterator[Cluster]:
    redis_server = redis_or_skip()
    keys = SessionKeys.generate()
    admin = boto3.session.Session(region_name=REGION)
    iam = admin.client("iam", endpoint_url=local_aws.url)
    name = "redis" + uuid.uuid4().hex[:8]
    first = UvicornServer()
    public = first.url  # the load balancer's address in a real deployment
    idp = DevIdp(
        DevIdpSettings(
            port=0,
            clients=(
                OidcClient(
                    client_id=CLIENT_ID,
                    client_secret=Secret(CLIENT_SECRET),
                    redirect_uris=(public + "/auth/oidc/callback",),
                    post_logout_redirect_uris=(public + "/signed-out",),
                    require_pkce=True,
                ),
            ),
        )
    ).start()
    try:
        roles = federate_dev_idp(iam, idp, name=name, base=public, client_id=CLIENT_ID)
        oidc_role, saml_provider, saml_role = roles.oidc_role, roles.saml_provider, roles.saml_role
        application_id = subscribed_application(
            admin.client("qbusiness", endpoint_url=local_aws.url),
            saml_provider,
            name_prefix="redis",
        )
        settings = dev_idp_web_settings(
            idp,
            public,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            oidc_role_arn=oidc_role,
            aws_region=REGION,
            aws_endpoint_url=local_aws.url,
        )
        a = start_instance(settings, redis_server.url, keys, local_aws.url, server=first)
        b = start_instance(settings, redis_server.url, keys, local_aws.url)
        try:
            yield Cluster(redis_server, keys, settings, idp, local_aws, oidc_role, saml_role,
                          application_id, a, b)  # fmt: skip
        finally:
            b.stop()
            a.stop()
    finally:
        idp.stop()
        redis_server.close()


# --- browser steps --------------------------------------------------------------------


def oidc_callback_params(cluster: Cluster, browser: httpx.Client, start: Instance,
                         username: str) -> dict[str, str]:  # fmt: skip
    """Log in at the IdP from ``start``; the callback query, not yet delivered."""
    params = browse(browser, start.url + "/login/oidc", username=username, password="demo",
                    stop_at=cluster.a.url + "/auth/oidc/callback")  # fmt: skip
    assert isinstance(params, dict), params
    return params


def sign_in_oidc(cluster: Cluster, browser: httpx.Client, start: Instance, finish: Instance,
                 username: str) -> None:  # fmt: skip
    params = oidc_callback_params(cluster, browser, start, username)
    done = browser.get(finish.url + "/auth/oidc/callback", params=params)
    assert done.status_code == 303, done.text[:1500]


def saml_post(browser: httpx.Client, start: Instance, username: str) -> SamlPost:
    return login_for_saml(browser, start.url + "/login/saml", username=username, password="demo")


def post_to_acs(browser: httpx.Client, instance: Instance, post: SamlPost) -> httpx.Response:
    return browser.post(instance.url + "/saml", data={
        "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
        "RelayState": post.relay_state or "",
    })  # fmt: skip


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page[:1000]
    return found.group(1)


def reveal_credentials(browser: httpx.Client, instance: Instance) -> dict[str, str]:
    page = browser.get(instance.url + "/credentials")
    assert page.status_code == 200, page.text[:1000]
    revealed = browser.post(instance.url + "/credentials",
                            data={"csrf_token": csrf_token(page.text)})  # fmt: skip
    assert revealed.status_code == 200, revealed.text[:1000]
    block = re.search(r'<pre id="credential-process" class="secret">(.*?)</pre>', revealed.text,
                      re.S)  # fmt: skip
    assert block is not None
    data: dict[str, str] = json.loads(html.unescape(block.group(1)))
    return data


def chat_as(cluster: Cluster, creds: dict[str, str], message: str) -> dict[str, Any]:
    qbusiness = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    ).client("qbusiness", endpoint_url=cluster.aws.url)
    for _ in range(10):
        try:
            return dict(qbusiness.chat_sync(applicationId=cluster.application_id,
                                            userMessage=message))  # fmt: skip
        except ClientError as exc:  # the documented first-call subscription error
            if "subscription" not in str(exc):
                raise
            time.sleep(0.2)
    raise AssertionError("still no subscription")


# --- shared state -------------------------------------------------------------------------


def test_oidc_login_started_on_one_instance_finishes_on_the_other_and_chats_there(
    cluster: Cluster,
) -> None:
    with httpx.Client(timeout=15) as browser:
        sign_in_oidc(cluster, browser, start=cluster.a, finish=cluster.b, username="alice")
        for instance in (cluster.a, cluster.b):
            home = browser.get(instance.url + "/")
            assert 'id="email">alice@example.com<' in home.text, instance.url
        creds = reveal_credentials(browser, cluster.b)
    session = cluster.aws.registry.lookup(creds["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": "alice@example.com"}
    assert session.role_arn == cluster.oidc_role
    answer = chat_as(cluster, creds, "hello from the other instance")
    assert answer["conversationId"]
    assert answer["systemMessage"]


def test_signed_in_on_one_instance_chat_pages_work_on_another(cluster: Cluster) -> None:
    """The browser chat of ``serve`` on an instance the user never signed in at."""
    from qbizfed.settings.chat import ChatSettings
    from qbizfed.web.routes_chat import install_chat

    def with_chat(app: FastAPI) -> None:
        install_chat(app, settings=ChatSettings(application_id=cluster.application_id))

    chatty = start_instance(cluster.settings, cluster.redis.url, cluster.keys, cluster.aws.url,
                            customise=with_chat)  # fmt: skip
    try:
        with httpx.Client(timeout=30) as browser:
            sign_in_oidc(cluster, browser, start=cluster.a, finish=cluster.b, username="alice")
            page = browser.get(chatty.url + "/chat")
            assert page.status_code == 200, page.text[:1000]
            asked = browser.post(
                chatty.url + "/chat",
                data={"csrf_token": csrf_token(page.text), "message": "hello from instance c"},
                files=[("attachments", ("", b"", "application/octet-stream"))],
            )
            assert asked.status_code == 303, asked.text[:2000]
            assert asked.headers["location"].startswith("/chat/")
            conversation = browser.get(chatty.url + asked.headers["location"].split("#")[0])
        assert conversation.status_code == 200
        assert "hello from instance c" in conversation.text
    finally:
        chatty.stop()


def test_an_oidc_callback_is_usable_once_across_instances(cluster: Cluster) -> None:
    """The pending login is taken atomically: the same callback on the other instance
    (a double submit, or an attacker racing the user) is refused."""
    with httpx.Client(timeout=15) as browser:
        params = oidc_callback_params(cluster, browser, cluster.a, "alice")
        first = browser.get(cluster.a.url + "/auth/oidc/callback", params=params)
        again = browser.get(cluster.b.url + "/auth/oidc/callback", params=params)
    assert first.status_code == 303, first.text[:1000]
    assert again.status_code == 403
    assert "unknown, expired or was already used" in again.text


def test_saml_request_issued_by_one_instance_is_answered_at_the_other(cluster: Cluster) -> None:
    with httpx.Client(timeout=15) as browser:
        post = saml_post(browser, cluster.a, "bob")
        acs = post_to_acs(browser, cluster.b, post)
        assert acs.status_code == 303, acs.text[:1500]
        finish = browser.get(cluster.a.url + acs.headers["location"])
        assert finish.status_code == 303, finish.text[:1500]
        home = browser.get(cluster.b.url + "/")
        assert 'id="email">bob@example.com<' in home.text
        creds = reveal_credentials(browser, cluster.a)
    session = cluster.aws.registry.lookup(creds["AccessKeyId"])
    assert session is not None
    assert dict(session.tags).get("Email") == "bob@example.com"
    assert session.role_arn == cluster.saml_role


def test_a_saml_assertion_replayed_to_the_other_instance_is_refused(cluster: Cluster) -> None:
    with httpx.Client(timeout=15) as browser:
        post = saml_post(browser, cluster.b, "bob")
        accepted = post_to_acs(browser, cluster.b, post)
        assert accepted.status_code == 303, accepted.text[:1500]
    with httpx.Client(timeout=15) as attacker:  # another browser, same captured response
        replayed = post_to_acs(attacker, cluster.a, post)
        again_same_instance = post_to_acs(attacker, cluster.b, post)
    for refused in (replayed, again_same_instance):
        assert refused.status_code == 403, refused.text[:1000]
        assert "this SAML assertion was already used" in refused.text
        assert "saml/finish" not in refused.headers.get("location", "")


def test_one_saml_response_posted_to_both_instances_at_once_is_accepted_once(
    cluster: Cluster,
) -> None:
    with httpx.Client(timeout=15) as browser:
        post = saml_post(browser, cluster.a, "bob")
    barrier = threading.Barrier(4)

    def race(instance: Instance) -> int:
        with httpx.Client(timeout=15) as client:
            client.get(instance.url + "/healthz")  # connect before the start line
            barrier.wait()
            return post_to_acs(client, instance, post).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(race, [cluster.a, cluster.b, cluster.a, cluster.b]))
    assert sorted(statuses) == [303, 403, 403, 403], statuses


def test_restarting_an_instance_keeps_its_users_signed_in(cluster: Cluster) -> None:
    first = cluster.start_instance()
    with httpx.Client(timeout=15) as browser:
        try:
            sign_in_oidc(cluster, browser, start=first, finish=first, username="carol")
            before = reveal_credentials(browser, first)
        finally:
            first.stop()
        with pytest.raises(httpx.ConnectError):  # really gone
            browser.get(first.url + "/")
        restarted = cluster.start_instance()  # new app, new store, new event loop
        try:
            home = browser.get(restarted.url + "/")
            assert 'id="email">carol@example.com<' in home.text
            after = reveal_credentials(browser, restarted)
        finally:
            restarted.stop()
    assert after == before


def test_an_instance_with_another_session_key_sees_nobody_signed_in(cluster: Cluster) -> None:
    """Sessions are sealed: a misconfigured instance (wrong key) fails closed, to signed out."""
    stranger = start_instance(cluster.settings, cluster.redis.url, SessionKeys.generate(),
                              cluster.aws.url)  # fmt: skip
    try:
        with httpx.Client(timeout=15) as browser:
            sign_in_oidc(cluster, browser, start=cluster.a, finish=cluster.a, username="alice")
            assert 'id="email">alice@example.com<' in browser.get(cluster.b.url + "/").text
            page = browser.get(stranger.url + "/credentials")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/signin")
    finally:
        stranger.stop()


# --- Redis down ------------------------------------------------------------------------------


def test_redis_down_fails_closed_with_a_clear_page_and_recovers(cluster: Cluster) -> None:
    own_redis = redis_or_skip()
    instance = cluster.start_instance(own_redis.url)
    try:
        with httpx.Client(timeout=15) as browser:
            sign_in_oidc(cluster, browser, start=instance, finish=instance, username="carol")
            creds = reveal_credentials(browser, instance)
            csrf = csrf_token(browser.get(instance.url + "/credentials").text)
            pending_saml = saml_post(browser, instance, "bob")
            own_redis.stop()
            started = time.monotonic()
            answers = {
                "home": browser.get(instance.url + "/"),
                "credentials": browser.get(instance.url + "/credentials"),
                "reveal": browser.post(instance.url + "/credentials", data={"csrf_token": csrf}),
                "credential_process": browser.post(
                    instance.url + "/credentials/credential-process",
                    headers={"X-CSRF-Token": csrf},
                ),
                "oidc_login": browser.get(instance.url + "/login/oidc"),
                "saml_acs": post_to_acs(browser, instance, pending_saml),
            }
            elapsed = time.monotonic() - started
            for name, answer in answers.items():
                assert answer.status_code == 503, (name, answer.status_code, answer.text[:800])
                assert "Sign-in is temporarily unavailable" in answer.text, name
                assert "session store" in answer.text, name
                assert 'id="error-remedy"' in answer.text, name
                assert answer.headers.get("retry-after") == "30", name
                assert "set-cookie" not in answer.headers, name
                assert "location" not in answer.headers, name
                for secret in (creds["AccessKeyId"], creds["SecretAccessKey"],
                               creds["SessionToken"]):  # fmt: skip
                    assert secret not in answer.text, name
            assert elapsed < 15, f"six requests took {elapsed:.1f}s while Redis was down"
            own_redis.start()  # back, empty: nobody is signed in, nothing was accepted
            home = browser.get(instance.url + "/")
            assert home.status_code == 200
            assert "carol@example.com" not in home.text
            assert browser.get(instance.url + "/login/oidc").status_code == 302
    finally:
        instance.stop()
        own_redis.close()


def test_the_page_after_a_turn_renders_on_another_instance_without_listing(
    cluster: Cluster,
) -> None:
    """No sticky sessions: the follow-up turn is posted to one instance and its answer page
    read from another, which renders it from the page cache in Redis (listing refused)."""
    from qbizfed.settings.chat import ChatSettings
    from qbizfed.web.routes_chat import install_chat

    def with_chat(app: FastAPI) -> None:
        install_chat(app, settings=ChatSettings(application_id=cluster.application_id))

    def chat_instance() -> Any:
        return start_instance(cluster.settings, cluster.redis.url, cluster.keys,
                              cluster.aws.url, customise=with_chat)  # fmt: skip

    one, other = chat_instance(), chat_instance()
    empty = [("attachments", ("", b"", "application/octet-stream"))]
    faults = cluster.aws.url + "/_qbizfed/faults"
    try:
        with httpx.Client(timeout=30) as browser:
            sign_in_oidc(cluster, browser, start=cluster.a, finish=cluster.b, username="alice")
            page = browser.get(one.url + "/chat")
            first = browser.post(one.url + "/chat", files=empty, data={
                "csrf_token": csrf_token(page.text), "message": "first question"})  # fmt: skip
            assert first.status_code == 303, first.text[:2000]
            path = first.headers["location"].split("#")[0]
            cid = path.rsplit("/", 1)[1]
            page = browser.get(one.url + path)
            parent = re.search(r'name="parent_message_id" value="([^"]+)"', page.text)
            assert parent is not None
            refused = [{"kind": "error", "service": "qbusiness", "operation": operation}
                       for operation in ("ListConversations", "ListMessages")]  # fmt: skip
            assert httpx.post(faults, json={"rules": refused}).status_code == 200
            try:
                follow_up = browser.post(
                    one.url + f"/chat?conversation_id={cid}", files=empty,
                    data={"csrf_token": csrf_token(page.text), "message": "second question",
                          "conversation_id": cid, "parent_message_id": parent.group(1)},
                )  # fmt: skip
                assert follow_up.status_code == 303, follow_up.text[:2000]
                answer_page = browser.get(other.url + path)
            finally:
                httpx.post(faults, json={"rules": []})
        assert answer_page.status_code == 200, answer_page.text[:2000]
        assert "first question" in answer_page.text
        assert "second question" in answer_page.text
    finally:
        one.stop()
        other.stop()
