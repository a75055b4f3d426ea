"""``qbizfed serve --workers N``: several processes on one port, sessions shared in Redis.

Through the installed console script: a user signs in through one worker and chats
through the other (each request on a new connection; the access log's process ids
show which worker answered); Ctrl-C and SIGTERM stop every worker with exit 0; the
memory store with more than one worker, in the flag or the ``[serve]`` table, is
refused with exit 1 and the fix.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qbizfed.local.stack import LocalAws
from tests.peers.flows import browse
from tests.support.console_script import run_qbizfed, running_qbizfed
from tests.support.redis_server import RedisServer, redis_or_skip
from tests.support.saml_assertions import make_idp
from tests.support.serve_workers import (
    BROKER_BASE,
    READY,
    Workers,
    base_env,
    one_request_client,
    serve_workers,
)

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = redis_or_skip()
    yield server
    server.close()


@pytest.fixture(scope="module")
def workers(
    local_aws: LocalAws, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    with serve_workers(local_aws, redis, tmp_path_factory.mktemp("workers")) as running:
        yield running


def ask_form(page: str) -> dict[str, str]:
    """The ask form's hidden fields (the CSRF token, the conversation once there is one)."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert "csrf_token" in fields, page[:1000]
    return fields


def chat_turn(browser: httpx.Client, url: str, fields: dict[str, str], message: str) -> str:
    """POST the ask form (303), then the conversation page, each on a new connection."""
    conversation = fields.get("conversation_id")
    action = "/chat" + (f"?conversation_id={conversation}" if conversation else "")
    asked = browser.post(url + action, data={**fields, "message": message})
    assert asked.status_code == 303, asked.text[:1500]
    page = browser.get(url + asked.headers["location"].split("#")[0])
    assert page.status_code == 200, page.text[:1500]
    assert message in page.text
    return page.text


def test_signed_in_through_one_worker_the_user_chats_through_the_other(workers: Workers) -> None:
    with httpx.Client(timeout=30) as browser:
        params = browse(browser, workers.url + "/login/oidc", username="alice", password="demo",
                        stop_at=BROKER_BASE + "/auth/oidc/callback")  # fmt: skip
        assert isinstance(params, dict), params
        done = browser.get(workers.url + "/auth/oidc/callback", params=params)
        assert done.status_code == 303, done.text[:1500]
        cookies = browser.cookies
    [signed_in_by] = workers.logged_pids("GET", "/auth/oidc/callback", 303, 1)
    with one_request_client(cookies) as tab:
        page = tab.get(workers.url + "/chat")
        assert page.status_code == 200, page.text[:1000]
        fields = ask_form(page.text)
        for turn in range(1, 31):  # until a turn was answered by the other worker, >= 10
            page_text = chat_turn(tab, workers.url, fields, f"question {turn} across workers")
            fields = ask_form(page_text)
            answered_by = workers.logged_pids("POST", "/chat", 303, turn)
            if turn >= 10 and set(answered_by) - {signed_in_by}:
                break
        for _ in range(20):
            home = tab.get(workers.url + "/")
            assert 'id="email">alice@example.com<' in home.text
    answered_by = workers.logged_pids("POST", "/chat", 303, turn)
    homes = workers.logged_pids("GET", "/", 200, 20)
    assert set(answered_by) - {signed_in_by}, "every turn went to the worker that signed in"
    assert len(set(answered_by + homes + [signed_in_by])) == 2
    # One conversation throughout: its later turns went to the same Q Business conversation.
    assert fields.get("conversation_id")


def test_ctrl_c_and_sigterm_stop_every_worker_with_exit_0(
    redis: RedisServer, tmp_path: Path
) -> None:
    for stop in (signal.SIGINT, signal.SIGTERM):
        with running_qbizfed("serve", "--port", "0", "--workers", "2", "--session-store",
                             redis.url, env=saml_env(tmp_path)) as serve:  # fmt: skip
            serve.wait_for(READY, timeout=120)
            started = [int(p) for p in re.findall(r"Started server process \[(\d+)\]", serve.text)]
            assert len(started) == 2, serve.text
            serve.process.send_signal(stop)
            assert serve.wait(timeout=60) == 0, serve.text
        for pid in started:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def test_memory_store_with_two_workers_is_refused_naming_the_fix(tmp_path: Path) -> None:
    env = saml_env(tmp_path)
    result = run_qbizfed("serve", "--port", "0", "--workers", "2", env=env)
    assert result.returncode == 1, result.stderr
    assert "2 workers cannot share the memory:// session store" in result.stderr
    assert "--session-store redis://" in result.stderr
    config = tmp_path / "qbizfed.toml"
    config.write_text("[serve]\nworkers = 3\n")
    from_file = run_qbizfed("serve", "--port", "0", "--config", str(config), env=env)
    assert from_file.returncode == 1, from_file.stderr
    assert "3 workers cannot share the memory:// session store" in from_file.stderr
    zero = run_qbizfed("serve", "--port", "0", "--workers", "0", env=env)
    assert zero.returncode == 1
    assert "serve.workers is 0" in zero.stderr


def saml_env(tmp_path: Path) -> dict[str, str]:
    """SAML sign-in configured (nothing contacted until a user signs in)."""
    cert = tmp_path / "idp.pem"
    cert.write_text(make_idp().cert_pem)
    return {**base_env(), "IDP_SSO_URL": "https://idp.example.test/sso",
            "IDP_ISSUER": "https://idp.example.test/saml",
            "CUSTOM_ACS_URL": "http://127.0.0.1:8000/saml", "WEB_EXPERIENCE_ROLE_ARN": ROLE,
            "IAM_IDENTITY_PROVIDER_ARN": "arn:aws:iam::123456789012:saml-provider/idp",
            "QBIZFED_SAML_IDP_CERT_FILE": str(cert),
            "QBIZFED_SESSION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}  # fmt: skip
