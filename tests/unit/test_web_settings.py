"""Web broker settings: the sample's variables, the [serve] table, and refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qbizfed.errors import ConfigError
from qbizfed.settings.oidc import issuer_from_discovery_url
from qbizfed.settings.serve import load_settings

SAMPLE_OIDC_ENV = {
    "OIDC_CLIENT_ID": "client-1",
    "OIDC_CLIENT_SECRET": "very-secret-value",
    "OIDC_DISCOVERY_URL": "https://idp.example.com/oauth2/default/.well-known/openid-configuration",
    "OIDC_REDIRECT_URI": "http://localhost:8000/auth/oidc/callback",
    "LOGOUT_REDIRECT_URI": "http://localhost:8000/login/oidc",
    "OIDC_ROLE_ARN": "arn:aws:iam::123456789012:role/web",
}


def test_the_samples_oidc_variables_configure_oidc() -> None:
    settings = load_settings(env=SAMPLE_OIDC_ENV)
    assert settings.oidc is not None
    assert settings.saml is None
    assert settings.oidc.issuer == "https://idp.example.com/oauth2/default"
    assert settings.oidc.client_id == "client-1"
    assert settings.oidc.role_arn == "arn:aws:iam::123456789012:role/web"
    assert settings.oidc.logout_redirect_uri == "http://localhost:8000/login/oidc"


def test_the_client_secret_is_masked_in_repr() -> None:
    settings = load_settings(env=SAMPLE_OIDC_ENV)
    assert "very-secret-value" not in repr(settings)


def test_saml_needs_the_idp_certificate(tmp_path: Path) -> None:
    env = {
        "IDP_SSO_URL": "https://idp.example.com/sso",
        "IDP_ISSUER": "http://www.okta.com/exk1",
        "CUSTOM_ACS_URL": "http://localhost:8000/saml",
        "WEB_EXPERIENCE_ROLE_ARN": "arn:aws:iam::123456789012:role/web",
        "IAM_IDENTITY_PROVIDER_ARN": "arn:aws:iam::123456789012:saml-provider/okta",
    }
    with pytest.raises(ConfigError, match="certificate"):
        load_settings(env=env)
    cert = tmp_path / "idp.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    settings = load_settings(env={**env, "QBIZFED_SAML_IDP_CERT_FILE": str(cert)})
    assert settings.saml is not None
    assert settings.saml.entity_id == "http://localhost:8000/saml"
    assert settings.saml.provider_arn == "arn:aws:iam::123456789012:saml-provider/okta"


def test_both_protocols_can_be_enabled_together(tmp_path: Path) -> None:
    (tmp_path / "idp.pem").write_text("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n")
    config = tmp_path / "qbizfed.toml"
    config.write_text(
        """
[serve]
public_url = "https://broker.example.com"
trusted_hosts = ["broker.example.com"]
session_duration_seconds = 7200

[serve.saml]
idp_sso_url = "https://idp.example.com/sso"
idp_issuer = "https://idp.example.com"
acs_url = "https://broker.example.com/saml"
idp_certificate_file = "idp.pem"
"""
    )
    settings = load_settings(config, env=SAMPLE_OIDC_ENV)
    assert settings.oidc is not None
    assert settings.saml is not None
    assert settings.trusted_hosts == ("broker.example.com",)
    assert settings.cookie_secure is True
    assert settings.session_duration_seconds == 7200
    assert set(settings.idp_origins()) == {"https://idp.example.com"}


def test_toml_overrides_the_environment_key_by_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[serve.oidc]\nclient_id = "from-file"\n')
    settings = load_settings(config, env=SAMPLE_OIDC_ENV)
    assert settings.oidc is not None
    assert settings.oidc.client_id == "from-file"
    assert settings.oidc.redirect_uri == SAMPLE_OIDC_ENV["OIDC_REDIRECT_URI"]


def test_client_secret_can_come_from_a_named_variable(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[serve.oidc]\nclient_secret_env = "MY_SECRET"\n')
    env = {**SAMPLE_OIDC_ENV, "MY_SECRET": "from-variable"}
    settings = load_settings(config, env=env)
    assert settings.oidc is not None
    assert settings.oidc.client_secret is not None
    assert str(settings.oidc.client_secret) == "from-variable"
    with pytest.raises(ConfigError, match="MY_SECRET"):
        load_settings(config, env=SAMPLE_OIDC_ENV)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({}, "neither OIDC nor SAML"),
        ({"OIDC_CLIENT_ID": "x"}, "missing: discovery_url, redirect_uri, role_arn"),
        ({**SAMPLE_OIDC_ENV, "QBIZFED_OIDC_END_SESSION_METHOD": "get"}, "end_session_method"),
    ],
)
def test_incomplete_configuration_is_refused_with_a_fix(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        load_settings(env=env)
    assert info.value.remedy


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[serve\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env=SAMPLE_OIDC_ENV)


@pytest.mark.parametrize(
    ("given", "issuer"),
    [
        ("https://a.example/.well-known/openid-configuration", "https://a.example"),
        ("https://a.example/oauth2/default", "https://a.example/oauth2/default"),
        ("https://a.example/", "https://a.example/"),
    ],
)
def test_discovery_url_or_issuer_both_work(given: str, issuer: str) -> None:
    assert issuer_from_discovery_url(given) == issuer


def test_trusted_hosts_default_to_loopback_and_the_configured_urls() -> None:
    env = {**SAMPLE_OIDC_ENV, "OIDC_REDIRECT_URI": "https://broker.corp.example/auth/oidc/callback",
           "QBIZFED_PUBLIC_URL": "https://qbiz.corp.example"}  # fmt: skip
    settings = load_settings(env=env)
    assert settings.trusted_hosts == (
        "127.0.0.1", "localhost", "qbiz.corp.example", "broker.corp.example"
    )  # fmt: skip
    explicit = load_settings(env={**env, "QBIZFED_TRUSTED_HOSTS": "only.example"})
    assert explicit.trusted_hosts == ("only.example",)


@pytest.mark.parametrize(
    ("attack", "discovery_url"),
    [
        ("plain_http_issuer", "http://idp.example.com"),
        ("loopback_http_without_the_switch", "http://127.0.0.1:9000"),
        ("userinfo_in_issuer", "https://idp.example.com@evil.test"),
    ],
)
def test_insecure_idp_urls_are_refused_at_startup(attack: str, discovery_url: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(env={**SAMPLE_OIDC_ENV, "OIDC_DISCOVERY_URL": discovery_url})


def test_loopback_http_idp_needs_the_loudly_named_switch() -> None:
    env = {**SAMPLE_OIDC_ENV, "OIDC_DISCOVERY_URL": "http://127.0.0.1:9000",
           "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP": "1"}  # fmt: skip
    assert load_settings(env=env).oidc is not None


# --- strict [serve] tables ---------------------------------------------------------------

STRICT_CASES = [
    ("typo_in_serve_oidc", '[serve.oidc]\nscopse = ["openid"]\n',
     "'scopse' (did you mean 'scopes'?)"),
    ("typo_in_serve", '[serve]\npublic_ulr = "https://b.example"\n', "'public_ulr'"),
    ("typo_in_serve_saml", '[serve.saml]\nacs = "https://b.example/saml"\n', "[serve.saml]"),
    ("unknown_table", "[serve.ldap]\nurl = 'x'\n", "'ldap'"),
    ("client_id_is_a_number", "[serve.oidc]\nclient_id = 123\n", "serve.oidc.client_id"),
    ("duration_is_a_string", '[serve]\nsession_duration_seconds = "1h"\n',
     "serve.session_duration_seconds"),
    ("flag_is_a_string", '[serve.saml]\nallow_unsolicited = "yes"\n',
     "serve.saml.allow_unsolicited"),
    ("hosts_not_a_list", '[serve]\ntrusted_hosts = "a.example"\n', "serve.trusted_hosts"),
    ("secure_cookies_is_a_string", '[serve]\nsecure_cookies = "true"\n',
     "serve.secure_cookies"),
    ("oidc_is_not_a_table", '[serve]\noidc = "x"\n', "serve.oidc"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "toml", "says"), STRICT_CASES, ids=[c for c, _, _ in STRICT_CASES]
)
def test_unknown_keys_and_wrong_types_in_serve_tables_are_refused_naming_key_and_file(
    tmp_path: Path, case: str, toml: str, says: str
) -> None:
    config = tmp_path / "broker.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env=SAMPLE_OIDC_ENV)
    assert says in refused.value.message
    assert str(config) in refused.value.message


def test_request_body_limits_are_serve_settings(tmp_path: Path) -> None:
    config = tmp_path / "broker.toml"
    config.write_text(
        "[serve]\nmax_body_bytes = 4096\nmax_chat_body_bytes = 2000000\n"
        "max_saml_body_bytes = 300000\n"
    )
    settings = load_settings(config, env=SAMPLE_OIDC_ENV)
    assert (settings.max_body_bytes, settings.max_chat_body_bytes,
            settings.max_saml_body_bytes) == (4096, 2_000_000, 300_000)  # fmt: skip
    config.write_text("[serve]\nmax_body_bytes = 10\n")
    with pytest.raises(ConfigError, match="max_body_bytes"):
        load_settings(config, env=SAMPLE_OIDC_ENV)


def test_session_lifetime_and_refresh_settings(tmp_path: Path) -> None:
    defaults = load_settings(env=SAMPLE_OIDC_ENV)
    assert (defaults.max_session_seconds, defaults.renew_before_seconds) == (28800, 300)
    assert defaults.oidc is not None
    assert defaults.oidc.offline_access
    assert defaults.oidc.prompt is None
    config = tmp_path / "broker.toml"
    config.write_text(
        "[serve]\nmax_session_seconds = 14400\nrenew_before_seconds = 120\n"
        '[serve.oidc]\noffline_access = false\nprompt = "consent"\n'
    )
    settings = load_settings(config, env=SAMPLE_OIDC_ENV)
    assert (settings.max_session_seconds, settings.renew_before_seconds) == (14400, 120)
    assert settings.oidc is not None
    assert not settings.oidc.offline_access
    assert settings.oidc.prompt == "consent"
    from_env = load_settings(env={**SAMPLE_OIDC_ENV, "QBIZFED_OIDC_OFFLINE_ACCESS": "false",
                                  "QBIZFED_OIDC_PROMPT": "consent"})  # fmt: skip
    assert from_env.oidc is not None
    assert (from_env.oidc.offline_access, from_env.oidc.prompt) == (False, "consent")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("max_session_seconds = 60", "max_session_seconds is 60"),
        ("renew_before_seconds = 5", "renew_before_seconds is 5"),
        ("renew_before_seconds = 2000", "half the session duration (1800)"),
    ],
)
def test_session_lifetime_settings_out_of_range_are_refused(
    tmp_path: Path, table: str, says: str
) -> None:
    config = tmp_path / "broker.toml"
    config.write_text(f"[serve]\n{table}\n")
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_settings(config, env=SAMPLE_OIDC_ENV)
