"""Which Q Business application the chat pages use, per sign-in protocol."""

from __future__ import annotations

import pytest

from qbizfed.errors import ConfigError
from qbizfed.settings.chat import ChatSettings, chat_from_values
from qbizfed.settings.environment import SERVE_CHAT, table_from_env

DEFAULT = "11111111-2222-3333-4444-555555555555"
OIDC = "aaaaaaaa-2222-3333-4444-555555555555"
SAML = "bbbbbbbb-2222-3333-4444-555555555555"


def chat_from_env(env: dict[str, str]) -> ChatSettings:
    return chat_from_values(table_from_env(env, SERVE_CHAT), where="the environment")


def test_protocol_specific_ids_override_the_default() -> None:
    settings = chat_from_env({
        "QBUSINESS_APPLICATION_ID": DEFAULT, "QBUSINESS_SAML_APPLICATION_ID": f" {SAML} ",
    })  # fmt: skip
    assert settings.application_for("oidc") == DEFAULT
    assert settings.application_for("saml") == SAML
    both = chat_from_env({
        "QBUSINESS_OIDC_APPLICATION_ID": OIDC, "QBUSINESS_SAML_APPLICATION_ID": SAML,
    })  # fmt: skip
    assert (both.application_for("oidc"), both.application_for("saml")) == (OIDC, SAML)


def test_nothing_configured_means_no_application() -> None:
    settings = chat_from_env({"QBUSINESS_APPLICATION_ID": "  "})
    assert settings.application_for("oidc") is None
    assert settings.application_for("saml") is None


@pytest.mark.parametrize(
    "bad", ["my-app", DEFAULT + "0", "../" + DEFAULT[3:], "-" + DEFAULT[1:], DEFAULT[:-1] + "/"]
)
def test_malformed_application_ids_are_refused_with_a_remedy(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        chat_from_env({"QBUSINESS_OIDC_APPLICATION_ID": bad})
    assert "QBUSINESS_OIDC_APPLICATION_ID" in caught.value.message
    assert caught.value.remedy


def test_negative_retry_settings_are_refused() -> None:
    with pytest.raises(ConfigError):
        ChatSettings(subscription_retries=-1).check()


def test_chat_concurrency_comes_from_the_environment_and_must_be_a_positive_number() -> None:
    assert chat_from_env({}).max_concurrent_calls == 32
    assert chat_from_env({"QBIZFED_CHAT_CONCURRENCY": "64"}).max_concurrent_calls == 64
    with pytest.raises(ConfigError, match="QBIZFED_CHAT_CONCURRENCY='many' is not a number"):
        chat_from_env({"QBIZFED_CHAT_CONCURRENCY": "many"})
    with pytest.raises(ConfigError, match="QBIZFED_CHAT_CONCURRENCY must be at least 1"):
        chat_from_env({"QBIZFED_CHAT_CONCURRENCY": "0"})
