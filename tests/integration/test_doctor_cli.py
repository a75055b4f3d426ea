"""``qbizfed doctor`` as a command: exit codes 0 / 1 / 2, text and JSON output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from joserfc import jwt
from joserfc.jwk import RSAKey
from typer.testing import CliRunner

from qbizfed.aws.provision import AwsClients, apply_stack
from qbizfed.aws.sts import federation_client
from qbizfed.cli.doctor import doctor
from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache as creds_cache
from qbizfed.creds.cache import CacheEntry
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import load_config
from tests.support.saml_assertions import (
    AssertionSpec,
    SamlIdp,
    build_response,
    encode,
    make_idp,
)

REGION = "us-east-1"
ACS_URL = "http://127.0.0.1:8000/saml"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(doctor)
    return app


@pytest.fixture
def saml_idp() -> SamlIdp:
    return make_idp()


@pytest.fixture
def config_file(tmp_path: Path, unique_name: str, saml_idp: SamlIdp) -> Path:
    (tmp_path / "idp-metadata.xml").write_text(saml_idp.metadata_xml(), encoding="utf-8")
    path = tmp_path / "qbizfed.toml"
    path.write_text(
        f'name = "{unique_name}"\nmode = "saml"\nregion = "{REGION}"\n\n[saml]\n'
        'metadata_file = "idp-metadata.xml"\nsso_url = "https://idp.example.com/sso"\n'
        f'custom_acs_url = "{ACS_URL}"\n',
        encoding="utf-8",
    )
    return path


def test_exit_codes_and_output_of_a_healthy_then_broken_stack(
    local_aws: LocalAws, config_file: Path
) -> None:
    config = load_config(config_file)
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    observed = apply_stack(config, clients=clients)
    assert observed.application is not None
    runner = CliRunner()

    healthy = runner.invoke(_app(), ["--config", str(config_file), "--output", "json"])
    assert healthy.exit_code == 0, healthy.output
    data = json.loads(healthy.output)
    assert data["summary"]["FAIL"] == 0
    assert data["summary"]["WARN"] == 0
    assert data["exit_code"] == 0
    streaming = {r["name"]: r for r in data["results"]}["network.streaming-endpoint"]
    assert streaming["status"] == "OK"  # AWS_ENDPOINT_URL's host and port: the local stack
    assert local_aws.url.split("://", 1)[1] in streaming["looked_at"]

    clients.qbusiness.update_application(
        applicationId=observed.application.id,
        autoSubscriptionConfiguration={"autoSubscribe": "DISABLED"},
    )
    broken = runner.invoke(_app(), ["--config", str(config_file)], terminal_width=200)
    assert broken.exit_code == 1, broken.output
    assert "stack.auto-subscription" in broken.output
    assert "aws qbusiness update-application" in broken.output
    assert "1 FAIL" in broken.output


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--token", "t.jwt", "--saml-response", "r.xml"], "not both"),
        (["--token", "t.jwt"], "use --saml-response"),
        (["--assume"], "--assume needs"),
        (["--duration", "60"], "--duration"),
        (["--output", "yaml"], "--output"),
        (["--login-profile", "nobody"], "qbizfed login --profile nobody"),
    ],
)
def test_usage_errors_exit_2(
    config_file: Path, tmp_path: Path, extra: list[str], why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "t.jwt").write_text("a.b.c", encoding="utf-8")
    (tmp_path / "r.xml").write_text("<x/>", encoding="utf-8")
    args = [str(tmp_path / a) if a.endswith((".jwt", ".xml")) else a for a in extra]
    result = CliRunner().invoke(_app(), ["--config", str(config_file), *args])
    assert result.exit_code == 2
    assert why in result.output


def test_unreadable_config_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "qbizfed admin init" in result.output


@pytest.mark.parametrize("output", ["text", "json"])
def test_the_token_never_reaches_the_output(
    local_aws: LocalAws, tmp_path: Path, unique_name: str, output: str
) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256"},
        {
            "iss": "http://127.0.0.1:9/nowhere",
            "aud": "client",
            "sub": "s",
            "iat": now,
            "exp": now + 300,
            "https://aws.amazon.com/tags": {"principal_tags": {"Email": ["ada@example.com"]}},
        },
        RSAKey.generate_key(2048),
    )
    (tmp_path / "id.jwt").write_text(token, encoding="utf-8")
    config = tmp_path / "oidc.toml"
    config.write_text(
        f'name = "{unique_name}"\nmode = "oidc"\nregion = "{REGION}"\n'
        'account_id = "123456789012"\n\n[oidc]\nissuer_url = "http://127.0.0.1:9/nowhere"\n'
        'client_id = "client"\nsecret_id = "idp-secret"\nallow_insecure_loopback_http = true\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        _app(), ["--config", str(config), "--token", str(tmp_path / "id.jwt"), "--output", output]
    )
    assert result.exit_code == 1  # the IdP is unreachable, among others
    assert "ada@example.com" in result.output  # the claim doctor looked at, decoded
    for part in token.split("."):
        assert part not in result.output


def test_login_profile_runs_the_end_to_end_check_with_cached_credentials(
    local_aws: LocalAws,
    config_file: Path,
    saml_idp: SamlIdp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(config_file)
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    observed = apply_stack(config, clients=clients)
    assert observed.web_role is not None
    assert observed.provider is not None
    # What `qbizfed login` leaves behind: a signed-in user's credentials in the cache.
    spec = AssertionSpec(
        role_arn=observed.web_role.arn,
        provider_arn=observed.provider.arn,
        recipient=ACS_URL,
        audience=ACS_URL,
        email="dora@example.com",
        session_name="dora@example.com",
    )
    answer = federation_client(region=REGION, endpoint_url=local_aws.url).assume_role_with_saml(
        RoleArn=observed.web_role.arn,
        PrincipalArn=observed.provider.arn,
        SAMLAssertion=encode(build_response(saml_idp, spec)),
    )
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    sts_creds = answer["Credentials"]
    creds_cache.save(
        CacheEntry(
            profile="dora",
            credentials=AwsCredentials(
                access_key_id=sts_creds["AccessKeyId"],
                secret_access_key=sts_creds["SecretAccessKey"],
                session_token=sts_creds["SessionToken"],
                expiration=sts_creds["Expiration"],
                role_arn=observed.web_role.arn,
                session_tags=(("Email", "dora@example.com"),),
            ),
            protocol="saml",
        )
    )

    result = CliRunner().invoke(
        _app(), ["--config", str(config_file), "--login-profile", "dora", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    checks = {r["name"]: r for r in json.loads(result.output)["results"]}
    assert checks["e2e.caller-identity"]["status"] == "OK"
    assert checks["e2e.caller-identity"]["detail"].endswith("/dora@example.com")
    assert checks["e2e.list-conversations"]["status"] == "OK"
    assert sts_creds["SecretAccessKey"] not in result.output
    assert sts_creds["SessionToken"] not in result.output
