"""``qbizfed serve`` as a user runs it: the sample's variables in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.rp_idp import LoopbackOidcIdp


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "IDP_", "QBIZFED_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def test_serve_starts_from_the_samples_variables_and_offers_oidc(idp: LoopbackOidcIdp) -> None:
    env = _env(
        OIDC_CLIENT_ID=idp.client_id,
        OIDC_CLIENT_SECRET=idp.client_secret,
        OIDC_DISCOVERY_URL=idp.issuer + "/.well-known/openid-configuration",
        OIDC_REDIRECT_URI="http://127.0.0.1:8000/auth/oidc/callback",
        OIDC_ROLE_ARN="arn:aws:iam::123456789012:role/QBizWeb",
        QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "qbizfed.cli.main", "serve", "--port", "0",
         "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        reader = threading.Thread(target=lambda: line.append(stdout.readline()))
        reader.start()
        reader.join(timeout=30)
        assert line, "serve printed nothing"
        assert "OIDC sign-in on http://127.0.0.1:" in line[0]
        url = line[0].rsplit(" ", 1)[1].strip().rstrip("/")
        assert 'id="login-oidc"' in httpx.get(url + "/").text
        start = httpx.get(url + "/login/oidc")
        assert start.status_code == 302
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["client_id"] == [idp.client_id]
        assert query["redirect_uri"] == ["http://127.0.0.1:8000/auth/oidc/callback"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert idp.client_secret not in stderr


def test_serve_without_configuration_says_what_to_set() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qbizfed.cli.main", "serve", "--port", "0"],
        env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "neither OIDC nor SAML" in result.stderr
    assert "fix:" in result.stderr


def test_serve_refuses_a_misspelt_key_in_its_config_file_naming_key_and_file(
    tmp_path: os.PathLike[str],
) -> None:
    """Through the installed console script: a typo used to load silently."""
    config = os.path.join(tmp_path, "broker.toml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(
            '[serve.oidc]\ndiscovery_url = "https://idp.example.com"\nclient_id = "c"\n'
            'redirect_uri = "https://b.example/auth/oidc/callback"\n'
            'role_arn = "arn:aws:iam::123456789012:role/QBizWeb"\nscopse = ["openid"]\n'
        )
    qbizfed = os.path.join(os.path.dirname(sys.executable), "qbizfed")
    result = subprocess.run(
        [qbizfed, "serve", "--port", "0", "--config", config],
        env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "'scopse' (did you mean 'scopes'?)" in result.stderr
    assert config in result.stderr
    assert "fix:" in result.stderr
