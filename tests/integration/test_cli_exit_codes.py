"""Every documented exit code of every ``qbizfed`` command, through the installed script.

README "Exit codes" is the contract: 0 success, 1 failure or refusal (the message says
what to do), 2 usage errors, 130 interrupted (Ctrl-C), and for ``exec`` the command's
own code, 126 (found but not executable) or 127 (not found). Each case runs
``.venv/bin/qbizfed`` in a subprocess: ``CliRunner`` skips ``main()``, which is where
``raise typer.Exit(n)`` used to turn into 0. Commands that need AWS use the local stack.
Codes asserted in other files, with the same console script: ``login`` 0
(test_login_local_idp), ``ask`` 0 (test_local_up), ``local up`` 0 (test_local_up),
``local aws`` 0 (test_local_cli), ``local idp`` 0 (test_idp_cli).
"""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbizfed.creds import cache
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import Mode, config_template
from tests.integration.test_creds_cli import cached
from tests.support.console_script import QBIZFED, run_qbizfed, running_qbizfed
from tests.support.saml_assertions import make_idp

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A user's shell: private qbizfed config and cache, no sample variables."""
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    shell = {k: v for k, v in os.environ.items()
             if not k.startswith(("OIDC_", "IDP_", "SAML_", "QBIZFED_", "QBUSINESS_", "CUSTOM_"))}
    shell.update({"QBIZFED_CACHE_DIR": str(tmp_path / "cache"),
                  "QBIZFED_CONFIG": str(tmp_path / "config.toml"),
                  "AWS_CONFIG_FILE": str(tmp_path / "aws-config"), "NO_COLOR": "1"})
    shell.pop("AWS_ENDPOINT_URL", None)
    return shell


def configure_dev(env: dict[str, str]) -> None:
    result = run_qbizfed("configure", "--profile", "dev", "--role-arn", ROLE, "--issuer",
                         "https://idp.example.com", "--client-id", "cli", env=env)
    assert result.returncode == 0, result.stderr


def with_terminal_stdin(args: list[str], env: dict[str, str], answer: bytes | None
                        ) -> subprocess.CompletedProcess[bytes]:
    """Run with stdin on a pseudo-terminal (so confirmations are asked); type ``answer``,
    or press Ctrl-C (SIGINT) once the prompt is shown when it is None."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([QBIZFED, *args], env=env, stdin=terminal,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        seen = b""
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            chunk = process.stdout.read1(4096)  # type: ignore[attr-defined]
            if not chunk:
                break
            seen += chunk
        assert b"[y/N]" in seen, seen.decode(errors="replace")
        if answer is None:
            process.send_signal(signal.SIGINT)
        else:
            os.write(controller, answer)
        rest, errors = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, seen + rest, errors)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()


# --- qbizfed (the group), --version ------------------------------------------------


def test_version_exits_0(env: dict[str, str]) -> None:
    assert run_qbizfed("--version", env=env).returncode == 0


@pytest.mark.parametrize("args", [[], ["no-such-command"], ["admin"], ["local"]],
                         ids=["no-command", "unknown-command", "admin-alone", "local-alone"])
def test_usage_errors_exit_2(env: dict[str, str], args: list[str]) -> None:
    assert run_qbizfed(*args, env=env).returncode == 2


# --- admin -----------------------------------------------------------------------------


@pytest.fixture
def saml_stack(local_aws: LocalAws, unique_name: str, tmp_path: Path,
               env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    (tmp_path / "idp-metadata.xml").write_text(
        make_idp(f"https://{unique_name}.idp.example.test").metadata_xml())
    config = tmp_path / "qbizfed.toml"
    config.write_text(config_template(mode=Mode.SAML, name=unique_name, region="us-east-1",
                                      sso_url="https://idp.example.test/sso",
                                      custom_acs_url="http://localhost:8000/saml"))
    return config, {**env, "AWS_ENDPOINT_URL": local_aws.url}


def test_admin_init_exits_0_then_1_when_the_file_exists(env: dict[str, str],
                                                         tmp_path: Path) -> None:
    args = ["admin", "init", "--mode", "oidc", "--path", str(tmp_path / "q.toml"),
            "--region", "us-east-1", "--issuer-url", "https://idp.example.com/oauth2",
            "--client-id", "c", "--secret-id", "idp-secret"]
    assert run_qbizfed(*args, env=env).returncode == 0
    again = run_qbizfed(*args, env=env)
    assert again.returncode == 1
    assert "--force" in again.stderr


def test_admin_init_usage_error_exits_2(env: dict[str, str]) -> None:
    assert run_qbizfed("admin", "init", "--mode", "ldap", env=env).returncode == 2


def test_admin_lifecycle_exit_codes(saml_stack: tuple[Path, dict[str, str]]) -> None:
    config, env = saml_stack
    c = str(config)
    assert run_qbizfed("admin", "plan", "-c", c, env=env).returncode == 0
    unconfirmed = run_qbizfed("admin", "apply", "-c", c, env=env)
    assert unconfirmed.returncode == 1, unconfirmed.stderr
    assert "--yes" in unconfirmed.stderr
    applied = run_qbizfed("admin", "apply", "-c", c, "--yes", "-o", "json", env=env)
    assert applied.returncode == 0, applied.stderr
    assert run_qbizfed("admin", "status", "-c", c, env=env).returncode == 0
    assert run_qbizfed("admin", "export", "-c", c, env=env).returncode == 0
    healthy = run_qbizfed("doctor", "-c", c, "-o", "json", env=env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert '"exit_code": 0' in healthy.stdout
    unconfirmed = run_qbizfed("admin", "destroy", "-c", c, env=env)
    assert unconfirmed.returncode == 1
    assert "--yes" in unconfirmed.stderr
    declined = with_terminal_stdin(["admin", "destroy", "-c", c], env, b"n\n")
    assert declined.returncode == 1, declined.stderr
    interrupted = with_terminal_stdin(["admin", "destroy", "-c", c], env, None)
    assert interrupted.returncode == 130, interrupted.stderr
    assert run_qbizfed("admin", "destroy", "-c", c, "--yes", env=env).returncode == 0


def test_admin_apply_declined_exits_1_and_ctrl_c_exits_130(
    saml_stack: tuple[Path, dict[str, str]]
) -> None:
    config, env = saml_stack
    args = ["admin", "apply", "-c", str(config), "--no-preflight"]
    declined = with_terminal_stdin(args, env, b"n\n")
    assert declined.returncode == 1, declined.stderr
    interrupted = with_terminal_stdin(args, env, None)
    assert interrupted.returncode == 130, interrupted.stderr


@pytest.mark.parametrize("command", ["plan", "apply", "status", "destroy", "export"])
def test_admin_commands_exit_1_on_a_bad_configuration(env: dict[str, str], tmp_path: Path,
                                                      command: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nmode = "oidc"\nregion = "us-east-1"\n'
                   '[oidc]\nissuer_url = "http://idp.example.com"\nclient_id = "c"\n'
                   'secret_id = "s"\n')
    result = run_qbizfed("admin", command, "-c", str(bad), env=env)
    assert result.returncode == 1
    assert "uses http" in result.stderr


def test_admin_environment_mode_plain_http_names_the_switch(env: dict[str, str]) -> None:
    shell = {**env, "IDP_ISSUER_URL": "http://127.0.0.1:9000", "IDP_CLIENT_ID": "c",
             "AWS_SECRET_ID": "s", "AWS_DEFAULT_REGION": "us-east-1"}
    result = run_qbizfed("admin", "plan", env=shell)
    assert result.returncode == 1
    assert "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP=true" in result.stderr


@pytest.mark.parametrize("command", ["plan", "apply", "status", "destroy", "export"])
def test_admin_commands_exit_2_on_usage_errors(env: dict[str, str], command: str) -> None:
    assert run_qbizfed("admin", command, "--no-such-option", env=env).returncode == 2


# --- doctor ----------------------------------------------------------------------------


def test_doctor_exits_1_on_a_fail_from_a_shell(saml_stack: tuple[Path, dict[str, str]]
                                              ) -> None:
    """The issue's example: a FAIL (nothing applied yet) printed as exit_code 1 in the
    JSON, while the process ended with 0."""
    config, env = saml_stack
    result = run_qbizfed("doctor", "-c", str(config), "-o", "json", env=env)
    assert '"exit_code": 1' in result.stdout
    assert result.returncode == 1
    script = f"{QBIZFED} doctor -c {config} > /dev/null || echo failed=$?"
    shell = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                           timeout=120)
    assert shell.stdout.strip() == "failed=1"


@pytest.mark.parametrize("args", [["--token", "a", "--saml-response", "b"], []],
                         ids=["usage", "no-configuration"])
def test_doctor_exits_2_on_usage_errors(env: dict[str, str], args: list[str]) -> None:
    assert run_qbizfed("doctor", *args, env=env).returncode == 2


# --- serve -----------------------------------------------------------------------------


def test_serve_exits_1_on_a_bad_configuration_and_2_on_usage(env: dict[str, str]) -> None:
    unconfigured = run_qbizfed("serve", "--port", "0", env=env)
    assert unconfigured.returncode == 1
    assert "neither OIDC nor SAML" in unconfigured.stderr
    assert run_qbizfed("serve", "--port", "abc", env=env).returncode == 2


def test_serve_exits_0_when_stopped(env: dict[str, str], tmp_path: Path) -> None:
    cert = tmp_path / "idp.pem"
    cert.write_text(make_idp().cert_pem)
    shell = {**env, "IDP_SSO_URL": "https://idp.example.test/sso",
             "IDP_ISSUER": "https://idp.example.test/saml",
             "CUSTOM_ACS_URL": "http://127.0.0.1:8000/saml",
             "WEB_EXPERIENCE_ROLE_ARN": ROLE,
             "IAM_IDENTITY_PROVIDER_ARN": "arn:aws:iam::123456789012:saml-provider/idp",
             "QBIZFED_SAML_IDP_CERT_FILE": str(cert), "PYTHONUNBUFFERED": "1"}
    with running_qbizfed("serve", "--port", "0", "--log-level", "warning", env=shell) as serve:
        serve.wait_for(r"SAML sign-in on http://127\.0\.0\.1:\d+/")
        serve.process.send_signal(signal.SIGINT)
        assert serve.wait(timeout=30) == 0, serve.text


def test_serve_exits_1_when_the_port_is_taken(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        cert_env = {**env, "IDP_SSO_URL": "https://idp.example.test/sso",
                    "IDP_ISSUER": "https://idp.example.test/saml",
                    "CUSTOM_ACS_URL": "http://127.0.0.1:8000/saml",
                    "WEB_EXPERIENCE_ROLE_ARN": ROLE,
                    "IAM_IDENTITY_PROVIDER_ARN": "arn:aws:iam::123456789012:saml-provider/idp"}
        cert = Path(env["QBIZFED_CONFIG"]).with_name("idp.pem")
        cert.write_text(make_idp().cert_pem)
        cert_env["QBIZFED_SAML_IDP_CERT_FILE"] = str(cert)
        result = run_qbizfed("serve", "--port", port, env=cert_env)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


# --- configure, login, creds, exec, logout --------------------------------------------


def test_configure_exits_0_1_and_2(env: dict[str, str]) -> None:
    configure_dev(env)
    invalid = run_qbizfed("configure", "--profile", "bad", "--role-arn", "not-an-arn",
                          "--issuer", "https://idp.example.com", "--client-id", "c", env=env)
    assert invalid.returncode == 1, invalid.stderr
    assert run_qbizfed("configure", "--profile", "x", env=env).returncode == 2  # --role-arn


@pytest.mark.parametrize("command", [["login"], ["creds"], ["logout"],
                                     ["exec", "--profile", "typo", "--", "true"]],
                         ids=["login", "creds", "logout", "exec"])
def test_a_profile_typo_exits_1_listing_the_profiles(env: dict[str, str],
                                                     command: list[str]) -> None:
    configure_dev(env)
    args = command if "--profile" in command else [*command, "--profile", "typo"]
    result = run_qbizfed(*args, env=env)
    assert result.returncode == 1
    assert "profile 'typo' does not exist" in result.stderr
    assert "existing profiles: dev" in result.stderr
    assert "qbizfed login" not in result.stderr  # not "sign in": the name is wrong


def test_login_exits_2_on_usage_errors(env: dict[str, str]) -> None:
    assert run_qbizfed("login", "--timeout", "soon", env=env).returncode == 2


def test_creds_exits_0_1_and_2(env: dict[str, str]) -> None:
    configure_dev(env)
    assert run_qbizfed("creds", "--profile", "dev", env=env).returncode == 1  # not signed in
    cache.save(cached())
    assert run_qbizfed("creds", "--profile", "dev", env=env).returncode == 0
    assert run_qbizfed("creds", "--profile", "dev", "--format", "yaml", env=env).returncode == 2


def test_logout_exits_0_and_2(env: dict[str, str]) -> None:
    configure_dev(env)
    cache.save(cached())
    assert run_qbizfed("logout", "--profile", "dev", env=env).returncode == 0
    assert run_qbizfed("logout", "--profile", "dev", env=env).returncode == 0  # nothing left
    assert run_qbizfed("logout", "--bogus", env=env).returncode == 2


@pytest.fixture
def signed_in(env: dict[str, str]) -> dict[str, str]:
    configure_dev(env)
    cache.save(cached())
    return env


@pytest.mark.parametrize("code", [0, 1, 3, 7, 255])
def test_exec_passes_the_commands_code_through(signed_in: dict[str, str], code: int) -> None:
    result = run_qbizfed("exec", "--profile", "dev", "--", sys.executable, "-c",
                         f"raise SystemExit({code})", env=signed_in)
    assert result.returncode == code


def test_exec_exits_127_when_the_command_is_not_found(signed_in: dict[str, str]) -> None:
    result = run_qbizfed("exec", "--profile", "dev", "--", "no-such-command-qbizfed",
                         env=signed_in)
    assert result.returncode == 127
    assert "command not found: no-such-command-qbizfed" in result.stderr


@pytest.mark.parametrize("what", ["file-without-x-bit", "directory"])
def test_exec_exits_126_when_the_command_cannot_run(signed_in: dict[str, str], tmp_path: Path,
                                                    what: str) -> None:
    target = tmp_path / "script.sh"
    if what == "directory":
        target.mkdir()
    else:
        target.write_text("#!/bin/sh\nexit 0\n")
        target.chmod(0o644)
    result = run_qbizfed("exec", "--profile", "dev", "--", str(target), env=signed_in)
    assert result.returncode == 126
    assert f"cannot run {target}" in result.stderr


def test_exec_exits_1_when_not_signed_in_and_2_without_a_command(env: dict[str, str]) -> None:
    configure_dev(env)
    result = run_qbizfed("exec", "--profile", "dev", "--", "true", env=env)
    assert result.returncode == 1
    assert "qbizfed login --profile dev" in result.stderr
    assert run_qbizfed("exec", "--profile", "dev", env=env).returncode == 2


# --- ask, chat -------------------------------------------------------------------------


def test_ask_exits_1_without_an_application_and_2_without_a_question(env: dict[str, str]
                                                                      ) -> None:
    missing = run_qbizfed("ask", "hello", env=env)
    assert missing.returncode == 1
    assert "QBUSINESS_APPLICATION_ID" in missing.stderr
    assert run_qbizfed("ask", env=env).returncode == 2


def test_ask_exits_1_when_q_business_refuses(env: dict[str, str], local_aws: LocalAws) -> None:
    shell = {**env, "AWS_ENDPOINT_URL": local_aws.url}
    result = run_qbizfed("ask", "--app-id", "00000000-0000-0000-0000-000000000000", "hello",
                         env=shell)
    assert result.returncode == 1, result.stderr


def test_chat_exits_0_at_end_of_input_1_without_an_application_2_on_usage(
    env: dict[str, str]
) -> None:
    done = run_qbizfed("chat", env={**env, "QBUSINESS_APPLICATION_ID": "app"}, stdin="/quit\n")
    assert done.returncode == 0, done.stderr
    assert run_qbizfed("chat", env=env, stdin="").returncode == 1
    assert run_qbizfed("chat", "--bogus", env=env).returncode == 2


# --- local aws / idp / up --------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[str]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield str(taken.getsockname()[1])


@pytest.mark.parametrize("command", ["aws", "idp"])
def test_local_servers_exit_1_when_they_cannot_start_and_2_on_bad_arguments(
    env: dict[str, str], command: str, taken_port: str
) -> None:
    refused = run_qbizfed("local", command, "--host", "0.0.0.0", "--port", "0", env=env)
    assert refused.returncode == 1
    assert "--allow-non-loopback" in refused.stderr
    assert run_qbizfed("local", command, "--port", taken_port, env=env).returncode == 1
    assert run_qbizfed("local", command, "--port", "abc", env=env).returncode == 2


def test_local_idp_exits_1_on_a_malformed_client(env: dict[str, str]) -> None:
    result = run_qbizfed("local", "idp", "--port", "0", "--client", "web", env=env)
    assert result.returncode == 1
    assert "ID:SECRET:REDIRECT_URI" in result.stderr  # printed as typed, no emoji


def test_local_up_exits_1_when_a_port_is_taken_and_2_on_bad_arguments(
    env: dict[str, str], taken_port: str
) -> None:
    result = run_qbizfed("local", "up", "--aws-port", "0", "--idp-port", "0",
                         "--serve-port", taken_port, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert run_qbizfed("local", "up", "--aws-port", "abc", env=env).returncode == 2
