"""Output formats of ``qbizfed creds`` and the fast path's JSON (same behaviour as json)."""

from __future__ import annotations

import configparser
import json
import subprocess
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbizfed.creds import lightjson, output

RECORD: dict[str, object] = {
    "qbizfed_cache": 1,
    "profile": "dev",
    "AccessKeyId": "ASIAEXAMPLE",
    "SecretAccessKey": "abc/def+ghi=",
    "SessionToken": "tok+en/" + "z" * 30,
    "Expiration": "2030-01-01T00:00:00Z",
    "region": "eu-west-1",
    "email": "alice@example.com",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_lightjson_parses_like_json(value: object) -> None:
    text = json.dumps(value)
    assert lightjson.loads(text) == json.loads(text)
    assert lightjson.loads(f" \n{text}\t ") == json.loads(text)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(), st.text() | st.integers()))
def test_lightjson_flat_encoding_is_json(obj: dict[str, str | int]) -> None:
    assert json.loads(lightjson.dumps_flat(obj)) == obj


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{", id="truncated"),
        pytest.param('{"a": 1} {"b": 2}', id="two-documents"),
        pytest.param('{"a": NaN}', id="nan-constant"),
        pytest.param('{"a": Infinity}', id="infinity-constant"),
        pytest.param("[" * 100000 + "]" * 100000, id="deep-nesting"),
        pytest.param('{"a": "\x01"}', id="control-character-in-string"),
    ],
)
def test_lightjson_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        lightjson.loads(text)


def test_process_format_is_the_credential_process_contract() -> None:
    doc = json.loads(output.render(RECORD, "process"))
    assert doc == {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "abc/def+ghi=",
        "SessionToken": RECORD["SessionToken"],
        "Expiration": "2030-01-01T00:00:00Z",
    }
    assert datetime.fromisoformat(doc["Expiration"]) > datetime(2029, 1, 1, tzinfo=UTC)


def test_json_format_adds_region_and_email() -> None:
    doc = json.loads(output.render(RECORD, "json"))
    assert doc["Region"] == "eu-west-1"
    assert doc["Email"] == "alice@example.com"
    assert doc["AccessKeyId"] == "ASIAEXAMPLE"


def test_env_format_is_sourceable_by_a_shell() -> None:
    script = output.render(RECORD, "env") + 'printf "%s|%s|%s" "$AWS_SECRET_ACCESS_KEY" '
    script += '"$AWS_REGION" "$AWS_CREDENTIAL_EXPIRATION"'
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout == "abc/def+ghi=|eu-west-1|2030-01-01T00:00:00Z"


def test_env_format_quotes_hostile_values() -> None:
    hostile = {**RECORD, "region": "x'; touch /tmp/pwned-qbizfed; echo '"}
    script = output.render(hostile, "env") + 'printf "%s" "$AWS_REGION"'
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout == hostile["region"]


def test_ini_format_is_a_credentials_file_section() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(output.render(RECORD, "ini"))
    section = parser["dev"]
    assert section["aws_access_key_id"] == "ASIAEXAMPLE"
    assert section["aws_secret_access_key"] == "abc/def+ghi="
    assert section["aws_session_token"] == RECORD["SessionToken"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        output.render(RECORD, "yaml")
