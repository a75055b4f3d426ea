"""``qbizfed admin`` end to end: TOML or env configuration, JSON output, errors printed."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qbizfed.cli.main import app, main
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import Mode, config_template
from tests.support.oidc_issuer import running_oidc_issuer
from tests.support.saml_assertions import make_idp

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    result = runner.invoke(app, ["admin", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_saml_stack_through_the_cli(local_aws: LocalAws, unique_name: str,
                                    tmp_path: Path) -> None:
    (tmp_path / "idp-metadata.xml").write_text(
        make_idp(f"https://{unique_name}.idp.example.test").metadata_xml())
    config = tmp_path / "qbizfed.toml"
    config.write_text(config_template(mode=Mode.SAML, name=unique_name, region="us-east-1",
                                      sso_url="https://idp.example.test/sso",
                                      custom_acs_url="http://localhost:8000/saml"))

    plan = json.loads(run("plan", "--config", str(config), "-o", "json").stdout)
    assert plan["pending"] == 9 or plan["pending"] == 8  # 8 if the account has the SLR

    applied = json.loads(run("apply", "--config", str(config), "--yes", "-o", "json").stdout)
    states = {r["resource"]: r["state"] for r in applied["status"]}
    assert states["application"] == "ACTIVE"
    assert states["web experience"] == "ACTIVE"
    idp = applied["idp"]
    assert idp["role_attribute_value"].startswith(f"arn:aws:iam::123456789012:role/qbizfed-"
                                                  f"{unique_name}-web,arn:aws:iam::")
    assert idp["acs_urls"][0].endswith("/saml")

    again = json.loads(run("plan", "--config", str(config), "-o", "json").stdout)
    assert again["pending"] == 0

    text = run("apply", "--config", str(config), "--yes").stdout
    assert "Up to date: no changes." in text
    assert "https://aws.amazon.com/SAML/Attributes/Role" in text

    status = json.loads(run("status", "--config", str(config), "-o", "json").stdout)
    assert {r["resource"] for r in status["resources"]} >= {"application", "index", "retriever"}

    exported = json.loads(run("export", "--config", str(config)).stdout)
    assert "AWS::QBusiness::WebExperience" in {r["Type"] for r in
                                                exported["Resources"].values()}

    destroyed = json.loads(run("destroy", "--config", str(config), "--yes", "-o",
                               "json").stdout)
    assert "application" in {c["resource"] for c in destroyed["deleted"]}
    status = json.loads(run("status", "--config", str(config), "-o", "json").stdout)
    assert {r["resource"]: r["state"] for r in status["resources"]}["application"] == "MISSING"


def test_sample_environment_variables_alone(local_aws: LocalAws, unique_name: str,
                                            admin_client: Callable[..., Any]) -> None:
    secret = admin_client("secretsmanager").create_secret(
        Name=f"{unique_name}-idp", SecretString="{}")["ARN"]
    env = {
        "AWS_ACCOUNT_ID": "123456789012",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SECRET_ID": secret,
        "IDP_CLIENT_ID": "sample-client",
        "IDP_ISSUER_URL": f"https://{unique_name}.idp.example.test/oauth2/default",
    }
    applied = json.loads(run("apply", "--yes", "-o", "json", "--no-preflight",
                             env=env).stdout)
    assert applied["stack"] == f"{unique_name}-idp-example-test-oauth2-default"[:40].rstrip("-")
    assert applied["idp"]["redirect_uris"][0].endswith("/authorization-code/callback")
    assert json.loads(run("plan", "-o", "json", "--no-preflight", env=env).stdout)[
        "pending"] == 0
    run("destroy", "--yes", "-o", "json", env=env)


def test_preflight_runs_before_any_aws_call(tmp_path: Path) -> None:
    """A wrong issuer is caught by discovery; no endpoint for AWS is even configured."""
    with running_oidc_issuer() as issuer:
        config = tmp_path / "c.toml"
        config.write_text(config_template(mode=Mode.OIDC, name="pre", region="us-east-1",
                                          issuer_url=issuer.url + "/", client_id="c",
                                          secret_id="s").replace(
            "[oidc]", "[oidc]\nallow_insecure_loopback_http = true"))
        result = runner.invoke(app, ["admin", "plan", "--config", str(config)])
    assert result.exit_code != 0
    assert "discovery document names issuer" in str(result.exception)


def test_bad_configuration_is_printed_with_its_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\nmode = "oidc"\nregion = "eu-central-1"\n')
    monkeypatch.setattr(sys, "argv", ["qbizfed", "admin", "plan", "--config", str(config)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "region (AWS_DEFAULT_REGION) = 'eu-central-1'" in err
    assert "fix:" in err
    assert "us-east-1" in err


def test_apply_without_yes_refuses_when_not_interactive(tmp_path: Path,
                                                        local_aws: LocalAws,
                                                        unique_name: str) -> None:
    (tmp_path / "idp-metadata.xml").write_text(make_idp().metadata_xml())
    config = tmp_path / "c.toml"
    config.write_text(config_template(mode=Mode.SAML, name=unique_name, region="us-east-1",
                                      sso_url="https://idp.example.test/sso"))
    result = runner.invoke(app, ["admin", "apply", "--config", str(config)])
    assert result.exit_code != 0
    assert "--yes" in getattr(result.exception, "remedy", "")


def test_init_writes_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    run("init", "--path", str(path), "--mode", "oidc", "--region", "us-west-2",
        "--issuer-url", "https://idp.example.test/oauth2/default", "--client-id", "c",
        "--secret-id", "my-secret")
    text = path.read_text()
    assert 'issuer_url = "https://idp.example.test/oauth2/default"' in text
    assert text.count("#") > 10  # commented
    result = runner.invoke(app, ["admin", "init", "--path", str(path), "--mode", "oidc"])
    assert result.exit_code != 0  # refuses to overwrite
