"""Attacks on ``qbizfed serve --workers 2``: what one worker accepted, the other refuses.

The installed console script with two worker processes sharing Redis. A per-process
replay cache or request-ID store would let a captured SAML response be accepted again
by the worker that did not see it (or refused there only for the wrong reason); the
shared store makes the second worker refuse it as a replay. Each replay goes out on a
new connection until the access log shows one answered by the other worker.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from qbizfed.local.stack import LocalAws
from tests.peers.flows import SamlPost, login_for_saml
from tests.support.redis_server import RedisServer, redis_or_skip
from tests.support.serve_workers import Workers, serve_workers


@pytest.fixture(scope="module")
def workers(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    redis: RedisServer = redis_or_skip()
    try:
        with serve_workers(local_aws, redis, tmp_path_factory.mktemp("workers")) as running:
            yield running
    finally:
        redis.close()


def post_to_acs(url: str, post: SamlPost) -> httpx.Response:
    with httpx.Client(timeout=30, headers={"Connection": "close"}) as fresh_browser:
        return fresh_browser.post(url + "/saml", data={
            "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
            "RelayState": post.relay_state or "",
        })  # fmt: skip


def test_saml_response_replayed_to_the_other_worker_is_refused(workers: Workers) -> None:
    with httpx.Client(timeout=30) as browser:
        post = login_for_saml(browser, workers.url + "/login/saml", username="bob",
                              password="demo")  # fmt: skip
        accepted = browser.post(workers.url + "/saml", data={
            "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
            "RelayState": post.relay_state or "",
        })  # fmt: skip
    assert accepted.status_code == 303, accepted.text[:1500]
    [accepted_by] = workers.logged_pids("POST", "/saml", 303, 1)
    for attempt in range(1, 41):
        replayed = post_to_acs(workers.url, post)
        assert replayed.status_code == 403, replayed.text[:1000]
        assert "this SAML assertion was already used" in replayed.text
        assert "saml/finish" not in replayed.headers.get("location", "")
        refused_by = workers.logged_pids("POST", "/saml", 403, attempt)
        if set(refused_by) - {accepted_by}:
            break
    assert set(refused_by) - {accepted_by}, "no replay reached the other worker"
    assert workers.pids("POST", "/saml", 303) == [accepted_by]
