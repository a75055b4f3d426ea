"""Parsing of ``qbizfed local idp``'s registration flags."""

from __future__ import annotations

import pytest

from qbizfed.cli.local_idp import parse_client_flag, parse_sp_flag
from qbizfed.errors import ConfigError


def test_client_flag_keeps_the_colons_of_the_uris() -> None:
    assert parse_client_flag("web:s3cret:http://127.0.0.1:8000/cb,http://localhost:8000/cb") == (
        "web",
        "s3cret",
        ("http://127.0.0.1:8000/cb", "http://localhost:8000/cb"),
    )


def test_sp_flag_splits_at_the_last_equals_sign() -> None:
    assert parse_sp_flag("https://sp.test/md?x=1=http://127.0.0.1:8000/saml") == (
        "https://sp.test/md?x=1",
        ("http://127.0.0.1:8000/saml",),
    )


@pytest.mark.parametrize("value", ["just-an-id", "id:secret", "id::http://x/", ":s:http://x/"])
def test_malformed_client_flag(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_client_flag(value)
    assert "--client must look like" in err.value.message
    assert err.value.remedy


@pytest.mark.parametrize("value", ["urn:sp", "=http://x/acs", "urn:sp="])
def test_malformed_sp_flag(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_sp_flag(value)
