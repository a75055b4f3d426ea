"""The credentials page's formats: shell, credential_process, profile block.

They come from the same renderer as ``qbizfed creds --format`` (one module, so the
page and the CLI cannot drift apart); the shell lines set both region variables.
"""

from __future__ import annotations

import configparser
import json
import shlex
from datetime import UTC, datetime

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import output
from qbizfed.web.credential_export import credential_process_json, mask, profile_name, reveal

CREDS = AwsCredentials(
    access_key_id="ASIAQWERTYUIOPASDFGH",
    secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    session_token="FwoGZXIvYXdzE'quote\"dq$(x)",
    expiration=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    region="us-east-1",
    role_arn="arn:aws:iam::123456789012:role/r",
    assumed_role_arn="arn:aws:sts::123456789012:assumed-role/r/alice@example.com",
)
REVEALED = reveal(CREDS, email="alice@example.com")


def test_export_lines_are_shell_safe_and_complete() -> None:
    lines = REVEALED.export.splitlines()
    parsed = dict(shlex.split(line)[1].split("=", 1) for line in lines)
    assert parsed == {
        "AWS_ACCESS_KEY_ID": CREDS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": CREDS.secret_access_key,
        "AWS_SESSION_TOKEN": CREDS.session_token,
        "AWS_CREDENTIAL_EXPIRATION": "2026-11-26T12:00:00Z",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",  # boto3 reads only this one
    }


def test_the_page_and_qbizfed_creds_share_one_renderer() -> None:
    record = CREDS.to_record(profile=profile_name("alice@example.com"))
    assert REVEALED.export == output.render(record, "env")
    assert REVEALED.credential_process == output.render(record, "process")
    assert REVEALED.credentials_file == output.render(record, "ini")
    assert credential_process_json(CREDS) == REVEALED.credential_process


def test_credential_process_json_is_version_1() -> None:
    data = json.loads(REVEALED.credential_process)
    assert data == {
        "Version": 1,
        "AccessKeyId": CREDS.access_key_id,
        "SecretAccessKey": CREDS.secret_access_key,
        "SessionToken": CREDS.session_token,
        "Expiration": "2026-11-26T12:00:00Z",
    }


def test_profile_block_is_parsed_by_configparser() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(REVEALED.credentials_file)
    section = parser[REVEALED.profile]
    assert REVEALED.profile == "qbizfed-alice"
    assert section["aws_secret_access_key"] == CREDS.secret_access_key
    assert section["aws_session_token"] == CREDS.session_token


def test_profile_names_are_sanitised() -> None:
    assert profile_name("a.b+c@example.com") == "qbizfed-a.b-c"
    assert profile_name("]\n[default") == "qbizfed----default"


def test_masking_hides_everything_but_a_hint_of_the_key_id() -> None:
    assert mask(CREDS.access_key_id) == "ASIA************FGH"[:4] + "*" * 12 + "DFGH"
    assert mask(CREDS.secret_access_key, keep=0) == "*" * 16
    assert mask("short") == "*" * 16
