"""Credential renewal against the npm ``oidc-provider`` peer, across two instances on Redis.

``oidc-provider`` (OpenID-certified) grants a refresh token only for ``offline_access``
asked with ``prompt=consent`` by a client allowed the ``refresh_token`` grant: the broker
is configured so (``[serve.oidc] prompt = "consent"``; the scope is added because the
peer advertises it). Then, as with the dev IdP (``test_session_renewal``), three hours
pass on a test clock with 15-minute credentials: every turn succeeds without a sign-in,
and concurrent turns on both instances at renewal time redeem the refresh token once.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import boto3
import httpx
import pytest

from qbizfed.local.stack import LocalAws
from qbizfed.settings.chat import ChatSettings
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.redis_store import RedisSessionStore
from qbizfed.web.routes_chat import install_chat
from qbizfed.web.sealing import SessionKeys
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.conftest import REGION
from tests.integration.test_redis_serve import close_store_on_shutdown, csrf_token
from tests.integration.test_serve_harness import UvicornServer
from tests.integration.test_session_renewal import FIFTEEN_MINUTES, ask, conversation_of
from tests.peers.conftest import running_oidc_provider
from tests.peers.flows import browse
from tests.support.chat_permissions import grant_chat_permissions
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.qbusiness_app import _wait_active
from tests.support.redis_server import redis_or_skip
from tests.support.session_clock import ClockedIssuer, MovableClock, RefreshGrants

pytestmark = pytest.mark.peers

CLIENT_ID = "qbizfed-renewal-peer"
CLIENT_SECRET = "qbizfed-renewal-peer-secret-0123456789abcdef"


@dataclass
class PeerCluster:
    urls: tuple[str, str]
    clock: MovableClock
    grants: RefreshGrants
    issuer: ClockedIssuer


@contextlib.contextmanager
def _node_peer(redirect_base: str) -> Iterator[str]:
    """npm oidc-provider with one client (refresh_token grant allowed); yields its issuer."""
    client: dict[str, object] = {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "redirect_uris": [redirect_base + "/auth/oidc/callback"],
        "post_logout_redirect_uris": [redirect_base + "/signed-out"],
    }  # fmt: skip
    with running_oidc_provider([client]) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def peer_cluster(local_aws: LocalAws) -> Iterator[PeerCluster]:
    redis_server = redis_or_skip()
    first, second = UvicornServer(), UvicornServer()
    with _node_peer(first.url) as issuer_url:
        admin = boto3.session.Session(region_name=REGION)
        iam = admin.client("iam", endpoint_url=local_aws.url)
        provider = iam.create_open_id_connect_provider(
            Url=issuer_url, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        role = iam.create_role(
            RoleName="renewpeer" + uuid.uuid4().hex[:8],
            AssumeRolePolicyDocument=json.dumps(
                oidc_trust_policy(provider, issuer_url.split("://", 1)[1], CLIENT_ID)
            ),
        )["Role"]["Arn"]
        grant_chat_permissions(iam, role)
        qb = admin.client("qbusiness", endpoint_url=local_aws.url)
        app_id = str(qb.create_application(
            displayName="renewpeer" + uuid.uuid4().hex[:8], identityType="AWS_IAM_IDP_OIDC",
            iamIdentityProviderArn=provider, clientIdsForOIDC=[CLIENT_ID],
        )["applicationId"])  # fmt: skip
        _wait_active(lambda: qb.get_application(applicationId=app_id))
        qb.update_application(applicationId=app_id, autoSubscriptionConfiguration={
            "autoSubscribe": "ENABLED", "defaultSubscriptionType": "Q_LITE"})  # fmt: skip
        settings = WebSettings(
            oidc=OidcRegistration(
                issuer=issuer_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                redirect_uri=first.url + "/auth/oidc/callback", role_arn=role,
                scopes=("openid", "email", "profile", "aws"), prompt="consent",
                logout_redirect_uri=first.url + "/signed-out",
                allow_insecure_loopback_http=True,
            ),
            aws_region=REGION, aws_endpoint_url=local_aws.url,
            session_duration_seconds=FIFTEEN_MINUTES, renew_before_seconds=300,
        )  # fmt: skip
        clock = MovableClock()
        issuer = ClockedIssuer(ThreadPoolStsIssuer(region=REGION, endpoint_url=local_aws.url),
                               clock)  # fmt: skip
        grants = RefreshGrants()
        keys = SessionKeys.generate()
        for server in (first, second):
            store = RedisSessionStore(redis_server.url, keys=keys)
            http = httpx.AsyncClient(timeout=10, event_hooks={"request": [grants.hook]})
            app = create_app(settings, session_store=store, http_client=http, sts=issuer,
                             clock=clock)  # fmt: skip
            install_chat(app, settings=ChatSettings(application_id=app_id))
            close_store_on_shutdown(app, store)
            server.start(app)
        try:
            yield PeerCluster((first.url, second.url), clock, grants, issuer)
        finally:
            second.stop()
            first.stop()
            redis_server.close()


def _sign_in(cluster: PeerCluster, browser: httpx.Client, username: str) -> str:
    a = cluster.urls[0]
    params = browse(browser, a + "/login/oidc", username=username, password="demo",
                    stop_at=a + "/auth/oidc/callback")  # fmt: skip
    assert isinstance(params, dict), getattr(params, "text", params)
    done = browser.get(a + "/auth/oidc/callback", params=params)
    assert done.status_code == 303, done.text[:1500]
    return csrf_token(browser.get(a + "/chat").text)


def test_three_hours_with_fifteen_minute_credentials_through_oidc_provider(
    peer_cluster: PeerCluster,
) -> None:
    cluster = peer_cluster
    with httpx.Client(timeout=30) as browser:
        csrf = _sign_in(cluster, browser, "alice")
        before = cluster.grants.count
        conversation: str | None = None
        failed: list[str] = []
        steps = 18
        for step in range(steps):
            cluster.clock.advance(600)
            asked = ask(browser, cluster.urls[step % 2], csrf, f"peer turn {step}", conversation)
            if not asked.headers.get("location", "").startswith("/chat/"):
                failed.append(f"{step}: {asked.status_code} {asked.headers.get('location')}")
                continue
            conversation = conversation_of(asked)
        page = browser.get(cluster.urls[1] + f"/chat/{conversation}")
    assert failed == []
    assert cluster.grants.count - before == steps
    assert "peer turn 17" in page.text


def test_concurrent_turns_redeem_the_peers_refresh_token_once(
    peer_cluster: PeerCluster,
) -> None:
    cluster = peer_cluster
    with httpx.Client(timeout=30) as browser:
        csrf = _sign_in(cluster, browser, "bob")
        cookie = browser.cookies.get("qbizfed_session")
    assert cookie
    cluster.clock.advance(FIFTEEN_MINUTES - 60)
    before = cluster.grants.count
    barrier = threading.Barrier(4)

    def turn(n: int) -> str:
        with httpx.Client(timeout=60, cookies={"qbizfed_session": cookie}) as client:
            url = cluster.urls[n % 2]
            client.get(url + "/healthz")
            barrier.wait()
            response = ask(client, url, csrf, f"together {n}", None)
            return f"{response.status_code} {response.headers.get('location', '')[:6]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(turn, range(4)))
    assert outcomes == ["303 /chat/"] * 4, outcomes
    assert cluster.grants.count - before == 1
