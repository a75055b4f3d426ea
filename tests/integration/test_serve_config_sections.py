"""``qbizfed serve --config`` with ``[serve.chat]``, ``[serve.sessions]`` and the session key
in the TOML file alone: the installed console script, a real Redis, requests over HTTP."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.console_script import run_qbizfed, running_qbizfed
from tests.support.redis_server import RedisServer, redis_or_skip
from tests.support.rp_idp import LoopbackOidcIdp

APP_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = redis_or_skip()
    yield server
    server.stop()


def _env() -> dict[str, str]:
    """No qbizfed setting in the environment: everything comes from the file."""
    prefixes = ("OIDC_", "IDP_", "QBIZFED_", "QBUSINESS_", "SAML_", "CUSTOM_ACS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _config(tmp_path: Path, idp: LoopbackOidcIdp, *, store: str, chat: str) -> Path:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    path = tmp_path / "qbizfed.toml"
    path.write_text(
        f"""
[serve.oidc]
discovery_url = "{idp.issuer}"
client_id = "{idp.client_id}"
client_secret = "{idp.client_secret}"
redirect_uri = "http://127.0.0.1:8000/auth/oidc/callback"
role_arn = "arn:aws:iam::123456789012:role/QBizWeb"
allow_insecure_loopback_http = true

[serve.chat]
{chat}

[serve.sessions]
store = "{store}"
key = "{key}"
""",
        encoding="utf-8",
    )
    return path


def test_chat_sessions_and_session_key_come_from_the_toml_file(
    tmp_path: Path, idp: LoopbackOidcIdp, redis: RedisServer
) -> None:
    config = _config(
        tmp_path, idp, store=redis.url,
        chat=f'application_id = "{APP_ID}"\nmax_concurrent_calls = 8',
    )  # fmt: skip
    with running_qbizfed(
        "serve", "--config", str(config), "--port", "0", "--log-level", "warning", env=_env()
    ) as serve:
        url = serve.wait_for(r"OIDC sign-in on (http://\S+)/").group(1)
        start = httpx.get(url + "/login/oidc")
        assert start.status_code == 302
        # The pending sign-in went to the Redis named in [serve.sessions], sealed with
        # the key given there (a Redis store refuses to start without one).
        stored = redis.dump_all()
        assert stored
        assert all(idp.client_id.encode() not in value for value in stored.values())


def test_a_bad_chat_application_id_in_the_file_stops_serve_naming_the_key(
    tmp_path: Path, idp: LoopbackOidcIdp
) -> None:
    config = _config(tmp_path, idp, store="memory://", chat='application_id = "my-app"')
    result = run_qbizfed("serve", "--config", str(config), "--port", "0", env=_env())
    assert result.returncode == 1
    assert "serve.chat.application_id" in result.stderr


def test_a_wrong_type_in_serve_sessions_stops_serve_naming_the_key_and_the_file(
    tmp_path: Path, idp: LoopbackOidcIdp
) -> None:
    config = _config(tmp_path, idp, store="memory://", chat="")
    config.write_text(config.read_text().replace('store = "memory://"', "store = 6379"))
    result = run_qbizfed("serve", "--config", str(config), "--port", "0", env=_env())
    assert result.returncode == 1
    assert "serve.sessions.store" in result.stderr
    assert str(config) in result.stderr.replace("\n", "")
