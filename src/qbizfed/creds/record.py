"""The cache record: the JSON document stored per profile, and its validation.

Shape (version 1)::

    {"qbizfed_cache": 1, "profile": "dev",
     "AccessKeyId": "...", "SecretAccessKey": "...", "SessionToken": "...",
     "Expiration": "2026-11-26T10:00:00Z",
     "region": "us-east-1", "email": "alice@example.com", "role_arn": "arn:...",
     "refresh_ahead_seconds": 300, "refresh_token": "..." | null, "protocol": "oidc"}

The IdP client secret is never part of it. Anything that does not match this shape is
refused as corrupt (:class:`CorruptCacheFileError`), never half-used. Light module: it is on
the ``credential_process`` fast path, so it returns plain dicts; the values for the rest
of qbizfed are :class:`qbizfed.credentials.AwsCredentials` (the credential keys) inside a
:class:`qbizfed.creds.cache.CacheEntry` (the profile and how to renew).
"""

from __future__ import annotations

from datetime import UTC, datetime

from qbizfed.creds import lightjson
from qbizfed.errors import ConfigError
from qbizfed.expiration import parse_expiration

FORMAT_VERSION = 1
DEFAULT_REFRESH_AHEAD_SECONDS = 300
_REQUIRED_STRINGS = ("profile", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
_OPTIONAL_STRINGS = ("region", "email", "role_arn", "refresh_token", "protocol")
_FORBIDDEN_KEYS = ("client_secret", "ClientSecret")
KEYRING_FLAG = "refresh_token_in_keyring"
RETRY_AFTER_KEY = "refresh_retry_after"
"""Epoch seconds before which a failed refresh is not retried (the IdP may be down)."""


class CorruptCacheFileError(ConfigError):
    """A cache file is not a valid qbizfed cache record."""


def _corrupt(path: str, why: str) -> CorruptCacheFileError:
    return CorruptCacheFileError(
        f"the credential cache {path} is unusable: {why}",
        remedy="run qbizfed logout and then qbizfed login to write a fresh one",
    )


def parse_record(data: bytes, path: str, *, profile: str) -> dict[str, object]:
    """Validate a cache file's bytes; the record, or :class:`CorruptCacheFileError`."""
    try:
        raw = lightjson.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, "not valid JSON") from exc
    if not isinstance(raw, dict):
        raise _corrupt(path, "not a JSON object")
    if raw.get("qbizfed_cache") != FORMAT_VERSION:
        raise _corrupt(path, "unknown format version")
    for key in _REQUIRED_STRINGS:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise _corrupt(path, f"{key} missing or not a string")
    for key in _OPTIONAL_STRINGS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _corrupt(path, f"{key} is not a string")
    for key in _FORBIDDEN_KEYS:
        if key in raw:
            raise _corrupt(path, "it contains a client secret, which qbizfed never stores")
    if raw["profile"] != profile:
        raise _corrupt(path, f"it belongs to profile {raw['profile']!r}, not {profile!r}")
    if KEYRING_FLAG in raw and not isinstance(raw[KEYRING_FLAG], bool):
        raise _corrupt(path, f"{KEYRING_FLAG} is not true or false")
    retry = raw.get(RETRY_AFTER_KEY)
    if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int)):
        raise _corrupt(path, f"{RETRY_AFTER_KEY} is not a number of seconds")
    ahead = raw.get("refresh_ahead_seconds", DEFAULT_REFRESH_AHEAD_SECONDS)
    if isinstance(ahead, bool) or not isinstance(ahead, int) or not 0 <= ahead <= 43200:
        raise _corrupt(path, "refresh_ahead_seconds is not a number of seconds")
    try:
        parse_expiration(str(raw["Expiration"]))
    except ValueError as exc:
        raise _corrupt(path, "Expiration is not an ISO 8601 timestamp with a timezone") from exc
    for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        if not str(raw[key]).isprintable() or any(c in str(raw[key]) for c in " '\"\\"):
            raise _corrupt(path, f"{key} has characters no AWS credential has")
    return raw


def has_refresh_token(record: dict[str, object]) -> bool:
    """A refresh token is in the file, or flagged as held by the OS keyring."""
    return bool(record.get("refresh_token")) or record.get(KEYRING_FLAG) is True


def seconds_left(record: dict[str, object], now: datetime | None = None) -> float:
    """Seconds until the credentials expire (negative once expired)."""
    moment = parse_expiration(str(record["Expiration"]))
    return (moment - (now or datetime.now(UTC))).total_seconds()


def needs_renewal(record: dict[str, object], now: datetime | None = None) -> bool:
    """Whether ``creds`` must renew (or explain) instead of handing these out.

    With a refresh token: inside the refresh window, unless a failed refresh asked to
    wait and the credentials are still valid. Without one: only once expired.
    """
    moment = now or datetime.now(UTC)
    left = seconds_left(record, moment)
    if not has_refresh_token(record):
        return left <= 0
    retry_after = record.get(RETRY_AFTER_KEY)
    if isinstance(retry_after, int) and moment.timestamp() < retry_after and left > 0:
        return False
    return left <= refresh_ahead(record)


def refresh_ahead(record: dict[str, object]) -> int:
    value = record.get("refresh_ahead_seconds", DEFAULT_REFRESH_AHEAD_SECONDS)
    return value if isinstance(value, int) else DEFAULT_REFRESH_AHEAD_SECONDS


def encode_record(record: dict[str, object]) -> bytes:
    import json

    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")
