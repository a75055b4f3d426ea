"""Every loader of :mod:`qbizfed.settings` refuses an unknown key, a wrong type and a missing
required setting, naming the key and the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qbizfed.errors import ConfigError
from qbizfed.settings.profiles import load_profiles
from qbizfed.settings.serve import load_settings
from qbizfed.settings.stack import load_config

STACK = """
mode = "oidc"
region = "us-east-1"
[oidc]
issuer_url = "https://idp.example.com"
client_id = "client"
secret_id = "idp-secret"
"""
SERVE = """
[serve.oidc]
discovery_url = "https://idp.example.com"
client_id = "client"
redirect_uri = "https://broker.example.com/auth/oidc/callback"
role_arn = "arn:aws:iam::123456789012:role/qbiz-web"
"""
PROFILE = """
[profiles.dev]
protocol = "oidc"
issuer = "https://idp.example.com"
client_id = "qbizfed-cli"
role_arn = "arn:aws:iam::123456789012:role/qbiz-web"
"""


LOADERS: dict[str, Callable[[Path], Any]] = {
    "stack": load_config,
    "serve": lambda path: load_settings(path, env={}),
    "profiles": lambda path: load_profiles(str(path)),
}


def _refusal(path: Path, text: str, load: str) -> ConfigError:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        LOADERS[load](path)
    return caught.value


CASES = [
    # (loader, document, key the message must name)
    ("stack", STACK + 'titel = "x"\n', "titel"),
    ("stack", STACK.replace('"client"', "42"), "client_id"),
    ("stack", STACK.replace('secret_id = "idp-secret"\n', ""), "secret_id"),
    ("serve", SERVE + "[serve.chat]\napplication_idd = 'x'\n", "application_idd"),
    ("serve", SERVE + "[serve.chat]\nmax_concurrent_calls = '8'\n", "max_concurrent_calls"),
    ("serve", SERVE + "[serve.sessions]\nkey_env = 1\n", "key_env"),
    ("serve", SERVE + "[serve.sessions]\nstore = 'redis://127.0.0.1:6379/0'\n", "session key"),
    ("serve", SERVE.replace('role_arn = "arn:aws:iam::123456789012:role/qbiz-web"\n', ""),
     "role_arn"),
    ("serve", SERVE + "[serve.chat]\nsaml_application_id = 'nope'\n", "saml_application_id"),
    ("profiles", PROFILE + 'scopse = ["openid"]\n', "scopse"),
    ("profiles", PROFILE + "duration_seconds = '3600'\n", "duration_seconds"),
    ("profiles", PROFILE.replace('client_id = "qbizfed-cli"\n', ""), "client_id"),
]  # fmt: skip


@pytest.mark.parametrize(("load", "document", "key"), CASES)
def test_a_refusal_names_the_key_and_the_file(
    tmp_path: Path, load: str, document: str, key: str
) -> None:
    path = tmp_path / "qbizfed.toml"
    refusal = _refusal(path, document, load)
    assert key in refusal.message
    assert str(path) in refusal.message
    assert refusal.remedy


def test_serve_chat_and_sessions_sections_override_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "qbizfed.toml"
    app = "11111111-2222-3333-4444-555555555555"
    path.write_text(
        SERVE + f"[serve.chat]\noidc_application_id = '{app}'\nmax_concurrent_calls = 4\n"
        "[serve.sessions]\nstore = 'redis://redis:6379/0'\nkey_env = 'MY_KEY'\n",
        encoding="utf-8",
    )
    env = {"QBIZFED_CHAT_CONCURRENCY": "64", "QBIZFED_SESSION_STORE": "memory://",
           "QBUSINESS_APPLICATION_ID": "22222222-2222-3333-4444-555555555555",
           "MY_KEY": "a2V5", "QBIZFED_SESSION_KEY": "ignored"}  # fmt: skip
    settings = load_settings(path, env=env)
    assert settings.chat.max_concurrent_calls == 4
    assert settings.chat.application_for("oidc") == app
    assert settings.chat.application_for("saml") == env["QBUSINESS_APPLICATION_ID"]
    assert settings.sessions.store == "redis://redis:6379/0"
    assert settings.sessions.key is not None
    assert str(settings.sessions.key) == "a2V5"
    assert "a2V5" not in repr(settings)


def test_the_environment_alone_sets_chat_and_sessions() -> None:
    env = {"OIDC_DISCOVERY_URL": "https://idp.example.com", "OIDC_CLIENT_ID": "c",
           "OIDC_REDIRECT_URI": "https://b.example.com/cb",
           "OIDC_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
           "QBIZFED_SESSION_STORE": "redis://r:6379/0", "QBIZFED_SESSION_KEY": "k",
           "QBIZFED_CHAT_CONCURRENCY": "7"}  # fmt: skip
    settings = load_settings(None, env=env)
    assert settings.sessions.store == "redis://r:6379/0"
    assert settings.chat.max_concurrent_calls == 7


def test_a_session_key_variable_that_is_not_set_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "qbizfed.toml"
    path.write_text(SERVE + "[serve.sessions]\nkey_env = 'MISSING_KEY'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"serve\.sessions\.key_env names MISSING_KEY"):
        load_settings(path, env={})
