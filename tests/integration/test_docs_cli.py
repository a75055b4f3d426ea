"""``qbizfed admin docs sync`` and ``qbizfed doctor --user --document`` as users run them:
the installed console script in a subprocess against the local stack, exit codes first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from qbizfed.local.stack import LocalAws
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.support.document_folder import ALL_IDS, empty_index, write_folder

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


@pytest.fixture
def env(local_aws: LocalAws, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QBIZFED_"))}
    env.update(
        AWS_ACCESS_KEY_ID=FAKE_ADMIN_KEY,
        AWS_SECRET_ACCESS_KEY=FAKE_ADMIN_SECRET,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=local_aws.url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        XDG_STATE_HOME=str(tmp_path / "state"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


@pytest.fixture
def index(local_aws: LocalAws) -> tuple[str, str]:
    qb = boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name=REGION,
    ).client("qbusiness", endpoint_url=local_aws.url)
    return empty_index(qb)


def qbizfed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([QBIZFED, *args], env=env, capture_output=True, text=True, timeout=120)


def sync(folder: Path, index: tuple[str, str], env: dict[str, str], *extra: str) -> Any:
    app, idx = index
    return qbizfed(
        "admin",
        "docs",
        "sync",
        str(folder),
        "--application-id",
        app,
        "--index-id",
        idx,
        *extra,
        env=env,
    )


def test_sync_then_resync_through_the_console_script(
    index: tuple[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "docs")
    first = sync(folder, index, env, "--output", "json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["documents"]["create"] == len(ALL_IDS)
    assert report["failures"] == []
    record = tmp_path / "state" / "qbizfed" / "docs-sync" / f"{index[0]}-{index[1]}.json"
    assert report["record"] == str(record)
    assert oct(record.stat().st_mode & 0o777) == "0o600"

    again = sync(folder, index, env, "--output", "json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["documents"]["unchanged"] == len(ALL_IDS)
    assert report["calls"]["mutating"] == 0

    (folder / "handbook.md").write_text("# Handbook\n\nZebulon: the office opens at ten.\n")
    dry = sync(folder, index, env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "~ document handbook update" in dry.stdout
    assert "Dry run: nothing was changed." in dry.stdout


def test_a_failed_document_exits_1_with_the_reason(
    index: tuple[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "docs")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 not a PDF at all")
    result = sync(folder, index, env)
    assert result.returncode == 1
    assert "failed broken (indexing): FAILED: The PDF document could not be parsed" in result.stdout


def test_a_malformed_sidecar_exits_1_naming_the_file(
    index: tuple[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "docs")
    (folder / "eng/runbook.meta.json").write_text('{"title": "Runbook",}')
    result = sync(folder, index, env)
    assert result.returncode == 1
    assert "eng/runbook.meta.json: is not valid JSON (line 1" in result.stderr
    assert "fix:" in result.stderr


def test_doctor_explains_an_allowed_and_a_denied_user(
    index: tuple[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    assert sync(write_folder(tmp_path / "docs"), index, env).returncode == 0
    app, idx = index

    def doctor(user: str, document: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return qbizfed(
            "doctor",
            "--user",
            user,
            "--document",
            document,
            "--application-id",
            app,
            "--index-id",
            idx,
            *extra,
            env=env,
        )

    carol = doctor("carol@example.com", "eng/runbook")
    assert carol.returncode == 0, carol.stderr
    assert "carol@example.com CAN see document eng/runbook" in carol.stdout
    assert "user's groups: engineering, sre" in carol.stdout  # nested: sre is in engineering
    assert "why: allowed by ALLOW group engineering" in carol.stdout

    bob = doctor("bob@example.com", "eng/runbook")
    assert bob.returncode == 1
    assert "bob@example.com CANNOT see document eng/runbook" in bob.stdout
    assert "user's groups: finance" in bob.stdout
    assert "document ACL: ALLOW group engineering" in bob.stdout
    assert "fix: add bob@example.com to group engineering" in bob.stdout
    assert "qbizfed admin docs sync" in bob.stdout

    denied = doctor("carol@example.com", "finance/forecast", "--output", "json")
    assert denied.returncode == 1
    explained = json.loads(denied.stdout)
    assert explained["hasAccess"] is False
    assert explained["deciding"] == ["DENY user carol@example.com"]
    assert "permissions.deny.users" in explained["fixes"][0]

    missing = doctor("alice@example.com", "no/such-doc")
    assert missing.returncode == 1
    assert "not in index" in missing.stdout


def test_doctor_user_without_document_is_a_usage_error(env: dict[str, str]) -> None:
    result = qbizfed("doctor", "--user", "alice@example.com", env=env)
    assert result.returncode == 2
    assert "--document" in result.stderr


def test_doctor_access_check_with_an_unreadable_config_is_a_usage_error(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = qbizfed(
        "doctor",
        "--user",
        "alice@example.com",
        "--document",
        "handbook",
        "-c",
        str(tmp_path / "missing.toml"),
        env=env,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr
