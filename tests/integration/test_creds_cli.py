"""``qbizfed creds / logout / exec / configure`` as the AWS CLI and users run them: real
processes, a real cache directory, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache
from qbizfed.creds.cache import CacheEntry

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))
HEAVY_MODULES = ("boto3", "botocore", "typer", "rich", "click", "fastapi", "httpx", "joserfc")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    for name in (
        "QBIZFED_PROFILE",
        "QBIZFED_NO_FAST_PATH",
        "QBIZFED_EXEC_PROFILE",
        "AWS_ENDPOINT_URL",  # set by the session's local_aws fixture when it ran first
    ):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def cached(minutes: float = 60, refresh_token: str | None = None) -> CacheEntry:
    return CacheEntry(
        profile="dev",
        credentials=AwsCredentials(
            access_key_id="ASIACLITEST000000001",
            secret_access_key="cli-secret",
            session_token="cli-token",
            expiration=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes),
            region="eu-west-1",
            session_tags=(("Email", "alice@example.com"),),
        ),
        refresh_token=refresh_token,
    )


def qbizfed(
    *args: str, env: dict[str, str], python_flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *python_flags, QBIZFED, *args] if python_flags else [QBIZFED, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_warm_creds_prints_credential_process_json(env: dict[str, str]) -> None:
    creds = cached()
    cache.save(creds)
    result = qbizfed("creds", "--profile", "dev", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["Version"] == 1
    assert doc["AccessKeyId"] == creds.credentials.access_key_id
    assert doc["Expiration"] == creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_warm_creds_imports_nothing_heavy(env: dict[str, str]) -> None:
    cache.save(cached())
    result = qbizfed("creds", "--profile", "dev", env=env, python_flags=("-X", "importtime"))
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "qbizfed.creds.fast" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY_MODULES}


def test_slow_path_gives_the_same_answer(env: dict[str, str]) -> None:
    cache.save(cached())
    fast = qbizfed("creds", "--profile", "dev", env=env)
    slow = qbizfed("creds", "--profile", "dev", env={**env, "QBIZFED_NO_FAST_PATH": "1"})
    assert slow.returncode == 0, slow.stderr
    assert json.loads(slow.stdout) == json.loads(fast.stdout)


@pytest.mark.parametrize("fmt", ["env", "json", "ini"])
def test_other_formats_on_both_paths(env: dict[str, str], fmt: str) -> None:
    cache.save(cached())
    fast = qbizfed("creds", "--profile", "dev", "--format", fmt, env=env)
    slow = qbizfed(
        "creds", "--profile", "dev", "--format", fmt, env={**env, "QBIZFED_NO_FAST_PATH": "1"}
    )
    assert fast.returncode == slow.returncode == 0
    assert fast.stdout == slow.stdout
    assert "cli-secret" in fast.stdout


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "full-command"])
def test_env_output_pasted_into_a_shell_sets_the_variables(
    env: dict[str, str], fast_path: bool
) -> None:
    creds = cached()
    cache.save(creds)
    run_env = env if fast_path else {**env, "QBIZFED_NO_FAST_PATH": "1"}
    printed = qbizfed("creds", "--profile", "dev", "--format", "env", env=run_env)
    assert printed.returncode == 0, printed.stderr
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
             "AWS_CREDENTIAL_EXPIRATION", "AWS_REGION", "AWS_DEFAULT_REGION")  # fmt: skip
    script = printed.stdout + "".join(f'printf "%s\\n" "${name}"\n' for name in names)
    shell = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env={}, check=True)
    assert dict(zip(names, shell.stdout.splitlines(), strict=True)) == {
        "AWS_ACCESS_KEY_ID": creds.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": "cli-secret",
        "AWS_SESSION_TOKEN": "cli-token",
        "AWS_CREDENTIAL_EXPIRATION": creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_expired_without_refresh_token_tells_to_login(env: dict[str, str]) -> None:
    cache.save(cached(minutes=-5))
    result = qbizfed("creds", "--profile", "dev", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "expired" in result.stderr
    assert "qbizfed login --profile dev" in result.stderr
    assert "cli-secret" not in result.stderr


def test_never_signed_in_tells_to_login(env: dict[str, str]) -> None:
    assert _configure(env).returncode == 0
    result = qbizfed("creds", "--profile", "dev", env=env)
    assert result.returncode == 1
    assert "qbizfed login --profile dev" in result.stderr


def test_insecure_cache_is_reported_not_used(env: dict[str, str]) -> None:
    path = Path(cache.save(cached()))
    os.chmod(path, 0o644)
    result = qbizfed("creds", "--profile", "dev", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "group/other" in result.stderr


def test_logout_deletes_the_cache(env: dict[str, str]) -> None:
    path = Path(cache.save(cached()))
    result = qbizfed("logout", "--profile", "dev", env=env)
    assert result.returncode == 0, result.stderr
    assert not path.exists()
    after = qbizfed("creds", "--profile", "dev", env=env)
    assert after.returncode == 1


def _configure(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return qbizfed(
        "configure", "--profile", "dev", "--role-arn", "arn:aws:iam::123456789012:role/QBizWeb",
        "--issuer", "https://idp.example.com", "--client-id", "cli", "--region", "eu-west-1",
        *extra, env=env,
    )  # fmt: skip


def test_exec_runs_the_command_with_credentials(env: dict[str, str]) -> None:
    assert _configure(env, "--endpoint-url", "http://127.0.0.1:9").returncode == 0
    cache.save(cached())
    script = (
        "import os, json; print(json.dumps({k: os.environ.get(k) for k in "
        "['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', "
        "'AWS_ENDPOINT_URL', 'QBIZFED_EXEC_PROFILE', 'AWS_PROFILE']}))"
    )
    result = qbizfed(
        "exec", "--profile", "dev", "--", sys.executable, "-c", script,
        env={**env, "AWS_PROFILE": "someone-else"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "AWS_ACCESS_KEY_ID": "ASIACLITEST000000001",
        "AWS_SECRET_ACCESS_KEY": "cli-secret",
        "AWS_SESSION_TOKEN": "cli-token",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "QBIZFED_EXEC_PROFILE": "dev",
        "AWS_PROFILE": None,
    }


def test_exec_passes_the_exit_code_through(env: dict[str, str]) -> None:
    assert _configure(env).returncode == 0
    cache.save(cached())
    result = qbizfed(
        "exec", "--profile", "dev", "--", sys.executable, "-c", "raise SystemExit(7)", env=env
    )
    assert result.returncode == 7


def test_exec_refuses_to_nest(env: dict[str, str]) -> None:
    assert _configure(env).returncode == 0
    cache.save(cached())
    inner = f"{QBIZFED} exec --profile dev -- true"
    result = qbizfed("exec", "--profile", "dev", "--", "sh", "-c", inner, env=env)
    assert result.returncode == 1
    assert "refusing to nest" in result.stderr


def test_configure_writes_profile_and_aws_config(env: dict[str, str], tmp_path: Path) -> None:
    aws_config = tmp_path / "aws" / "config"
    aws_config.parent.mkdir()
    aws_config.write_text("[profile keep]\nregion = us-west-2\n")
    result = _configure(env, "--aws-profile", "qbiz", "--endpoint-url", "http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    text = aws_config.read_text()
    assert text.startswith("[profile keep]\nregion = us-west-2\n")
    command = str(Path(QBIZFED)) if not shutil.which("qbizfed") else "qbizfed"
    assert f"[profile qbiz]\ncredential_process = {command} creds --profile dev\n" in text
    assert "endpoint_url = http://127.0.0.1:9" in text
    assert (tmp_path / "aws" / "config.qbizfed-backup").exists()
    assert "[profiles.dev]" in (tmp_path / "config.toml").read_text()
