"""The one credentials value and the one renderer, as every caller uses them.

``AwsCredentials`` is what STS hands out, serve keeps, the CLI caches and doctor signs
with; ``qbizfed.creds.output`` renders it for ``qbizfed creds --format``, the web
credentials page and ``qbizfed exec``.
"""

from __future__ import annotations

import configparser
import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import output, record
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.execenv import child_environment
from qbizfed.web.credential_export import credential_process_json, reveal

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzE+session/token=" + "t" * 40
CREDS = AwsCredentials(
    access_key_id="ASIAQWERTYUIOPASDFGH",
    secret_access_key=SECRET,
    session_token=TOKEN,
    expiration=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    region="eu-west-1",
    role_arn="arn:aws:iam::123456789012:role/QBizWeb",
    assumed_role_arn="arn:aws:sts::123456789012:assumed-role/QBizWeb/alice@example.com",
    session_tags=(("Email", "alice@example.com"),),
    subject="user-alice",
)
RECORD = CREDS.to_record(profile="dev")
ENV_NAMES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION", "AWS_REGION", "AWS_DEFAULT_REGION",
)  # fmt: skip


# -- the value ---------------------------------------------------------------------------


def test_repr_and_str_mask_the_secret_and_the_token() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}", repr([CREDS])):
        assert SECRET not in text
        assert TOKEN not in text
        assert "**********" in text
        assert "ASIAQWERTYUIOPASDFGH" in text  # the key id is not a secret: it names them


def test_a_cache_entry_masks_the_refresh_token_too() -> None:
    entry = CacheEntry(profile="dev", credentials=CREDS, refresh_token="rt-very-secret")
    for text in (repr(entry), str(entry)):
        assert "rt-very-secret" not in text
        assert SECRET not in text
        assert TOKEN not in text


def test_what_the_value_knows_about_itself() -> None:
    assert CREDS.email == "alice@example.com"
    assert CREDS.role_session_name == "alice@example.com"
    assert CREDS.seconds_left(datetime(2030, 1, 2, 3, 0, 5, tzinfo=UTC)) == 240
    assert not CREDS.is_expired(datetime(2030, 1, 2, 3, 4, 4, tzinfo=UTC))
    assert CREDS.is_expired(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert replace(CREDS, session_tags=()).email is None
    assert replace(CREDS, assumed_role_arn=None).role_session_name is None


def test_an_existing_cache_file_still_reads() -> None:
    """A cache file as earlier versions wrote it (format 1) loads into the one type."""
    on_disk = (
        b'{"AccessKeyId": "ASIAOLDFORMAT0000001", "Expiration": "2030-01-02T03:04:05Z",\n'
        b' "SecretAccessKey": "old/secret", "SessionToken": "old-token", "email":'
        b' "bob@example.com", "profile": "dev", "protocol": "saml", "qbizfed_cache": 1,'
        b' "refresh_ahead_seconds": 300, "refresh_retry_after": null, "refresh_token": null,'
        b' "region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/R"}\n'
    )
    entry = CacheEntry.from_record(record.parse_record(on_disk, "dev.json", profile="dev"))
    assert entry.credentials == AwsCredentials(
        access_key_id="ASIAOLDFORMAT0000001",
        secret_access_key="old/secret",
        session_token="old-token",
        expiration=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        region="us-east-1",
        role_arn="arn:aws:iam::123456789012:role/R",
        session_tags=(("Email", "bob@example.com"),),
    )
    assert (entry.profile, entry.protocol, entry.refresh_token) == ("dev", "saml", None)
    # and writing it again gives the same document
    assert json.loads(record.encode_record(entry.to_stored_record())) == json.loads(on_disk)


# -- the renderer, each format -------------------------------------------------------------


def test_process_is_the_credential_process_contract() -> None:
    document = json.loads(output.render(RECORD, "process"))
    assert document == {
        "Version": 1,
        "AccessKeyId": CREDS.access_key_id,
        "SecretAccessKey": SECRET,
        "SessionToken": TOKEN,
        "Expiration": "2030-01-02T03:04:05Z",
    }
    assert datetime.fromisoformat(document["Expiration"]) == CREDS.expiration


def test_process_expiration_is_utc_whatever_the_value_carries() -> None:
    plus_two = timezone(timedelta(hours=2))
    elsewhere = replace(CREDS, expiration=CREDS.expiration.astimezone(plus_two))
    assert json.loads(credential_process_json(elsewhere))["Expiration"] == "2030-01-02T03:04:05Z"


def test_env_pasted_into_a_shell_sets_every_variable() -> None:
    script = output.render(RECORD, "env")
    script += "".join(f'printf "%s\\n" "${name}"\n' for name in ENV_NAMES)
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert dict(zip(ENV_NAMES, result.stdout.splitlines(), strict=True)) == {
        "AWS_ACCESS_KEY_ID": CREDS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_CREDENTIAL_EXPIRATION": "2030-01-02T03:04:05Z",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",  # boto3 reads only this one
    }


def test_env_without_a_region_sets_no_region() -> None:
    text = output.render(replace(CREDS, region=None).to_record(), "env")
    assert "AWS_REGION" not in text
    assert "AWS_DEFAULT_REGION" not in text


def test_json_names_the_region_email_role_and_profile() -> None:
    document = json.loads(output.render(RECORD, "json"))
    assert document == {
        "AccessKeyId": CREDS.access_key_id,
        "SecretAccessKey": SECRET,
        "SessionToken": TOKEN,
        "Expiration": "2030-01-02T03:04:05Z",
        "Region": "eu-west-1",
        "Email": "alice@example.com",
        "RoleArn": "arn:aws:iam::123456789012:role/QBizWeb",
        "Profile": "dev",
    }


def test_ini_is_a_credentials_file_profile() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(output.render(RECORD, "ini"))
    assert dict(parser["dev"]) == {
        "aws_access_key_id": CREDS.access_key_id,
        "aws_secret_access_key": SECRET,
        "aws_session_token": TOKEN,
    }


def test_an_unknown_format_is_refused_naming_the_formats() -> None:
    with pytest.raises(ValueError, match="process, env, json, ini"):
        output.render(RECORD, "yaml")


# -- one renderer for every caller ---------------------------------------------------------


def test_the_fast_path_record_and_the_value_render_the_same() -> None:
    """``qbizfed creds`` answers from the parsed cache file (fast path) or from the value."""
    entry = CacheEntry(profile="dev", credentials=CREDS, protocol="oidc")
    stored = record.parse_record(
        record.encode_record(entry.to_stored_record()), "dev.json", profile="dev"
    )
    for fmt in output.FORMATS:
        assert output.render(stored, fmt) == output.render(entry.to_record(), fmt)


def test_the_web_page_renders_what_qbizfed_creds_prints() -> None:
    revealed = reveal(CREDS, email="alice@example.com")
    record_for_page = CREDS.to_record(profile=revealed.profile)
    assert revealed.export == output.render(record_for_page, "env")
    assert revealed.credential_process == output.render(record_for_page, "process")
    assert revealed.credentials_file == output.render(record_for_page, "ini")
    assert "export AWS_DEFAULT_REGION='eu-west-1'" in revealed.export
    assert "export AWS_REGION='eu-west-1'" in revealed.export


def test_exec_sets_the_variables_of_the_env_format() -> None:
    entry = CacheEntry(profile="dev", credentials=CREDS)
    env = child_environment({"AWS_PROFILE": "other", "HOME": "/home/a"}, entry)
    assert dict(output.environment(entry.to_record())).items() <= env.items()
    assert "AWS_PROFILE" not in env
    assert env["QBIZFED_EXEC_PROFILE"] == "dev"
