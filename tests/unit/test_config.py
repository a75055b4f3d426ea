"""Configuration: the sample's variables, TOML files, and bad settings with their fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qbizfed.errors import ConfigError
from qbizfed.settings.stack import (
    Mode,
    SubscriptionType,
    config_from_env,
    config_from_mapping,
    config_template,
    load_config,
    resolve_config,
    slug_from_url,
)
from tests.support.saml_assertions import make_idp

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:idp-AbCdEf"
OIDC_ENV = {
    "AWS_ACCOUNT_ID": "123456789012",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_SECRET_ID": SECRET_ARN,
    "AWS_SECRET_ENCRYPTION_KEY": "arn:aws:kms:us-east-1:123456789012:key/abcd-1234",
    "IDP_CLIENT_ID": "0oa1b2c3d4",
    "IDP_ISSUER_URL": "https://dev-123.okta.com/oauth2/default",
}
METADATA = make_idp().metadata_xml(sso_url="https://idp.example.test/sso")


def saml_env() -> dict[str, str]:
    return {
        "AWS_ACCOUNT_ID": "123456789012",
        "AWS_DEFAULT_REGION": "us-west-2",
        "SAML_METADATA_DOCUMENT": METADATA,
        "IDP_SSO_URL": "https://idp.example.test/sso",
        "CUSTOM_ACS_URL": "http://localhost:8000/saml",
    }


def test_oidc_variables_alone_are_enough() -> None:
    config = config_from_env(OIDC_ENV)
    assert config.mode is Mode.OIDC
    assert config.name == "dev-123-okta-com-oauth2-default"
    assert config.account_id == "123456789012"
    assert config.oidc is not None
    assert config.oidc.provider_path == "dev-123.okta.com/oauth2/default"
    assert config.oidc.secret_id == SECRET_ARN
    assert config.oidc.secret_kms_key == OIDC_ENV["AWS_SECRET_ENCRYPTION_KEY"]
    assert config.auto_subscribe is SubscriptionType.Q_BUSINESS
    assert config.require_email_tag is True


def test_saml_variables_alone_are_enough() -> None:
    config = config_from_env(saml_env())
    assert config.mode is Mode.SAML
    assert config.name == "idp-example-test-saml"  # from the metadata's entityID
    assert config.saml_audiences == ("https://us-west-2.signin.aws.amazon.com/saml",
                                     "http://localhost:8000/saml")


def test_metadata_is_not_in_the_repr() -> None:
    assert "X509Certificate" not in repr(config_from_env(saml_env()))


def test_template_round_trips(tmp_path: Path) -> None:
    (tmp_path / "idp-metadata.xml").write_text(METADATA)
    for mode in Mode:
        path = tmp_path / f"{mode.value}.toml"
        path.write_text(config_template(
            mode=mode, name="demo", region="eu-west-1", issuer_url="https://idp.test/o",
            client_id="c", secret_id="my-secret", sso_url="https://idp.test/sso"))
        config = load_config(path)
        assert (config.name, config.mode, config.region) == ("demo", mode, "eu-west-1")
    assert load_config(tmp_path / "saml.toml").saml is not None


def test_config_file_wins_over_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(config_template(mode=Mode.OIDC, name="fromfile", region="us-east-1",
                                    issuer_url="https://idp.test", client_id="c",
                                    secret_id="s"))
    assert resolve_config(path, OIDC_ENV).name == "fromfile"
    assert resolve_config(None, OIDC_ENV).name.startswith("dev-123")


def test_auto_subscribe_off() -> None:
    config = config_from_mapping({"mode": "oidc", "region": "us-east-1", "name": "x",
                                  "application": {"auto_subscribe": "off"},
                                  "oidc": {"issuer_url": "https://i.test", "client_id": "c",
                                           "secret_id": "s"}})
    assert config.auto_subscribe is None


def _oidc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "demo", "mode": "oidc", "region": "us-east-1",
                            "oidc": {"issuer_url": "https://idp.test/o", "client_id": "c",
                                     "secret_id": SECRET_ARN}}
    for key, value in overrides.items():
        if key.startswith("oidc_"):
            base["oidc"] = {**base["oidc"], key[5:]: value}
        else:
            base[key] = value
    return base


# (case name, configuration, setting named in the message, words in the remedy)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing-mode", {"region": "us-east-1"}, "mode", "oidc"),
    ("unknown-mode", _oidc(mode="ldap"), "mode", "saml"),
    ("region-without-qbusiness", _oidc(region="eu-central-1"), "region", "us-east-1"),
    ("region-malformed", _oidc(region="useast1"), "region", "us-east-1"),
    ("account-not-12-digits", _oidc(account_id="12345"), "account_id", "12-digit"),
    ("name-with-uppercase-and-spaces", _oidc(name="My App"), "name", "lower-case"),
    ("name-too-long-for-iam-roles", _oidc(name="a" * 41), "name", "64"),
    ("issuer-plain-http", _oidc(oidc_issuer_url="http://idp.test/o"), "issuer_url", "https"),
    ("issuer-http-loopback-without-switch", _oidc(oidc_issuer_url="http://127.0.0.1:9/o"),
     "issuer_url", "allow_insecure_loopback_http"),
    ("issuer-with-credentials", _oidc(oidc_issuer_url="https://u:p@idp.test/o"),
     "issuer_url", "user-info"),
    ("issuer-userinfo-host-confusion",
     _oidc(oidc_issuer_url="https://idp.test@attacker.test/o"), "issuer_url", "user-info"),
    ("issuer-javascript-scheme", _oidc(oidc_issuer_url="javascript:alert(1)"),
     "issuer_url", "https"),
    ("issuer-with-fragment", _oidc(oidc_issuer_url="https://idp.test/o#x"), "issuer_url",
     "#..."),
    ("client-id-missing", _oidc(oidc_client_id=""), "client_id", "client ID"),
    ("client-id-with-space", _oidc(oidc_client_id="a b"), "client_id", "exactly"),
    ("secret-missing", _oidc(oidc_secret_id=""), "secret_id", "Secrets Manager"),
    ("secret-arn-of-another-service",
     _oidc(oidc_secret_id="arn:aws:s3:::bucket"), "secret_id", "secretsmanager"),
    ("kms-key-id-not-arn", _oidc(oidc_secret_kms_key="1234abcd"), "secret_kms_key", "arn:aws:kms"),
    ("unknown-top-level-setting", _oidc(colour="blue"), "colour", "top level"),
    ("saml-without-metadata", {"name": "x", "mode": "saml", "region": "us-east-1",
                               "saml": {"sso_url": "https://idp.test/sso"}},
     "metadata_document", "metadata"),
    ("saml-metadata-too-short", {"name": "x", "mode": "saml", "region": "us-east-1",
                                 "saml": {"metadata_document": "<x/>",
                                          "sso_url": "https://idp.test/sso"}},
     "1000", "complete"),
    ("saml-sso-url-plain-http", {"name": "x", "mode": "saml", "region": "us-east-1",
                                 "saml": {"metadata_document": METADATA,
                                          "sso_url": "http://idp.test/sso"}},
     "sso_url", "https"),
    ("service-role-not-an-arn", _oidc(application={"service_role_arn": "MyRole"}),
     "service_role_arn", "arn:aws:iam"),
]


@pytest.mark.parametrize(("case", "data", "setting", "remedy_words"), BAD_CONFIGS,
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_configuration_names_the_setting_and_the_fix(
        case: str, data: dict[str, Any], setting: str, remedy_words: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data)
    assert setting in info.value.message
    assert remedy_words in info.value.remedy


BAD_ENVIRONMENTS: list[tuple[str, dict[str, str], str]] = [
    ("nothing-set", {"AWS_DEFAULT_REGION": "us-east-1"}, "admin init"),
    ("both-oidc-and-saml", {**OIDC_ENV, "IDP_SSO_URL": "https://idp.test/sso"}, "unset one"),
    ("oidc-without-region", {k: v for k, v in OIDC_ENV.items() if k != "AWS_DEFAULT_REGION"},
     "AWS_DEFAULT_REGION"),
]


@pytest.mark.parametrize(("case", "env", "remedy_words"), BAD_ENVIRONMENTS,
                         ids=[c[0] for c in BAD_ENVIRONMENTS])
def test_bad_environment(case: str, env: dict[str, str], remedy_words: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_env(env)
    assert remedy_words in info.value.remedy


def test_unreadable_toml_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(tmp_path / "missing.toml")
    assert "admin init" in info.value.remedy
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_a_loopback_issuer_keeps_its_port_in_the_stack_name() -> None:
    """Two local IdPs differ only by port: their derived stack names must differ."""
    first = config_from_env({**OIDC_ENV, "IDP_ISSUER_URL": "http://127.0.0.1:9000",
                             "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP": "true"})
    second = config_from_env({**OIDC_ENV, "IDP_ISSUER_URL": "http://127.0.0.1:9001",
                              "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP": "true"})
    assert first.name == "127-0-0-1-9000"
    assert second.name == "127-0-0-1-9001"
    assert slug_from_url("https://dev-1.okta.com:8443/oauth2/default") == (
        "dev-1-okta-com-oauth2-default")  # a real host's name is unchanged


def test_plain_http_refusal_in_environment_mode_names_the_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        config_from_env({**OIDC_ENV, "IDP_ISSUER_URL": "http://127.0.0.1:9000"})
    assert "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP=true" in refused.value.remedy


@pytest.mark.parametrize("reference", [
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "mrk-1234abcd12ab34cd56ef1234567890ab",
    "alias/idp-secret",
    "arn:aws:kms:us-east-1:123456789012:alias/idp-secret",
    "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
])
def test_secret_kms_key_accepts_what_the_aws_cli_accepts(reference: str) -> None:
    config = config_from_env({**OIDC_ENV, "AWS_SECRET_ENCRYPTION_KEY": reference})
    assert config.oidc is not None
    assert config.oidc.secret_kms_key == reference
