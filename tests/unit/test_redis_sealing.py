"""Sealing of session-store values: AES-GCM under QBIZFED_SESSION_KEY, bound to the key name,
with rotation; and how the key is read from configuration."""

from __future__ import annotations

import base64
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbizfed.errors import ConfigError
from qbizfed.settings.environment import SERVE_SESSIONS, table_from_env
from qbizfed.web.sealing import (
    KEY_BYTES,
    SESSION_KEY_ENV,
    SealedValueError,
    SessionKeys,
    fingerprint,
)

PLAINTEXT = b'{"creds":{"secret":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}'
CONTEXT = b"qbizfed:session:abc"
PROPERTY_KEYS = SessionKeys.generate()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_sealed_value_opens_and_hides_the_plaintext() -> None:
    keys = SessionKeys.generate()
    sealed = keys.seal(PLAINTEXT, context=CONTEXT)
    assert b"wJalrXUtnFEMI" not in sealed
    assert b"creds" not in sealed
    assert keys.open(sealed, context=CONTEXT) == PLAINTEXT


def test_two_seals_of_the_same_value_differ() -> None:
    keys = SessionKeys.generate()
    assert keys.seal(PLAINTEXT, context=CONTEXT) != keys.seal(PLAINTEXT, context=CONTEXT)


def _flip(sealed: bytes, index: int) -> bytes:
    return sealed[:index] + bytes([sealed[index] ^ 1]) + sealed[index + 1 :]


@pytest.mark.parametrize(
    "attack",
    [
        "ciphertext_bit_flip",
        "tag_bit_flip",
        "nonce_bit_flip",
        "fingerprint_bit_flip",
        "version_changed",
        "truncated",
        "empty",
        "plain_json_written_by_an_attacker",
        "moved_to_another_users_key",
    ],
)
def test_tampered_or_moved_values_do_not_open(attack: str) -> None:
    keys = SessionKeys.generate()
    sealed = keys.seal(PLAINTEXT, context=CONTEXT)
    context = CONTEXT
    forged = {
        "ciphertext_bit_flip": _flip(sealed, 20),
        "tag_bit_flip": _flip(sealed, len(sealed) - 1),
        "nonce_bit_flip": _flip(sealed, 6),
        "fingerprint_bit_flip": _flip(sealed, 2),
        "version_changed": b"\x02" + sealed[1:],
        "truncated": sealed[:20],
        "empty": b"",
        "plain_json_written_by_an_attacker": PLAINTEXT,
        "moved_to_another_users_key": sealed,
    }[attack]
    if attack == "moved_to_another_users_key":
        context = b"qbizfed:session:victim"
    with pytest.raises(SealedValueError):
        keys.open(forged, context=context)


def test_rotation_new_key_seals_old_key_still_opens() -> None:
    old = SessionKeys.generate()
    new = SessionKeys.generate()
    rotated = SessionKeys(new.keys + old.keys)
    from_before = old.seal(PLAINTEXT, context=CONTEXT)
    assert rotated.open(from_before, context=CONTEXT) == PLAINTEXT
    after = rotated.seal(PLAINTEXT, context=CONTEXT)
    assert after[1:5] == fingerprint(new.keys[0])
    assert new.open(after, context=CONTEXT) == PLAINTEXT
    with pytest.raises(SealedValueError):
        old.open(after, context=CONTEXT)
    with pytest.raises(SealedValueError):  # the old key dropped: its values are gone
        new.open(from_before, context=CONTEXT)


def test_parse_reads_a_comma_separated_list_current_first() -> None:
    a, b = secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES)
    keys = SessionKeys.parse(f" {b64(a)} , {base64.urlsafe_b64encode(b).decode().rstrip('=')}\n")
    assert keys.keys == (a, b)
    assert SessionKeys.parse(keys.encoded()) == keys


@pytest.mark.parametrize(
    ("case", "value", "says"),
    [
        ("too_short_16_bytes", b64(bytes(16)), "16 bytes"),
        ("too_long_64_bytes", b64(bytes(64)), "64 bytes"),
        ("not_base64", "this is not base64!!", "not base64"),
        ("non_ascii", "ключ" * 11, "not base64"),
        ("a_passphrase_instead_of_a_key", "correct horse battery staple", "not base64"),
        ("only_commas", ",,,", "no session key"),
        ("second_key_broken", b64(bytes(32)) + ",abc", "#2"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(case: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SessionKeys.parse(value)
    assert says in caught.value.message
    assert "openssl rand -base64 32" in caught.value.remedy or "set" in caught.value.remedy
    if len(value) > 8:
        assert value not in caught.value.diagnostics()


def test_the_session_key_variable_is_none_when_unset_and_parses_when_set() -> None:
    assert table_from_env({}, SERVE_SESSIONS)["key"] is None
    assert table_from_env({SESSION_KEY_ENV: "  "}, SERVE_SESSIONS)["key"] is None
    raw = secrets.token_bytes(KEY_BYTES)
    value = table_from_env({SESSION_KEY_ENV: b64(raw)}, SERVE_SESSIONS)["key"]
    assert value is not None
    assert SessionKeys.parse(value).keys == (raw,)


def test_keys_never_appear_in_repr_or_str() -> None:
    keys = SessionKeys.generate()
    for text in (repr(keys), str(keys), f"{keys}", repr([keys])):
        assert b64(keys.keys[0]) not in text
        assert keys.keys[0].hex() not in text
        assert str(keys.keys[0]) not in text


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=4096), context=st.binary(max_size=200))
def test_any_value_round_trips_under_its_own_context(plaintext: bytes, context: bytes) -> None:
    sealed = PROPERTY_KEYS.seal(plaintext, context=context)
    assert PROPERTY_KEYS.open(sealed, context=context) == plaintext


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=512), data=st.data())
def test_any_single_bit_flip_anywhere_is_detected(plaintext: bytes, data: st.DataObject) -> None:
    sealed = PROPERTY_KEYS.seal(plaintext, context=CONTEXT)
    index = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    forged = sealed[:index] + bytes([sealed[index] ^ (1 << bit)]) + sealed[index + 1 :]
    with pytest.raises(SealedValueError):
        PROPERTY_KEYS.open(forged, context=CONTEXT)
