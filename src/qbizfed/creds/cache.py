"""The per-profile credential cache: load, save and delete a :class:`CacheEntry`.

One JSON file per profile under the user cache directory (see
:mod:`qbizfed.creds.locations`), ``0600`` in a ``0700`` directory, replaced atomically.
It holds the temporary AWS credentials and, for OIDC profiles, the refresh token; never
the IdP client secret. Insecure files are refused (:mod:`qbizfed.creds.securefile`),
malformed ones too (:mod:`qbizfed.creds.record`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import locations, record, securefile
from qbizfed.errors import ConfigError, QbizfedError


@dataclass(frozen=True)
class CacheEntry:
    """One profile's cache entry: its credentials and what is needed to renew them."""

    profile: str
    credentials: AwsCredentials
    protocol: str | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_ahead_seconds: int = record.DEFAULT_REFRESH_AHEAD_SECONDS
    refresh_store: str = "file"
    """``"file"`` (in this cache file) or ``"keyring"`` (see :mod:`qbizfed.creds.keystore`)."""
    refresh_retry_after: int | None = None
    """Epoch seconds: after a failed refresh, do not try again before then."""

    @property
    def expiration(self) -> datetime:
        return self.credentials.expiration

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.credentials.is_expired(now)

    def needs_renewal(self, now: datetime | None = None) -> bool:
        """The fast path's rule (:func:`record.needs_renewal`), on this value."""
        return record.needs_renewal(self.to_record(), now)

    def to_record(self) -> dict[str, object]:
        return {
            "qbizfed_cache": record.FORMAT_VERSION,
            **self.credentials.to_record(profile=self.profile),
            "protocol": self.protocol,
            "refresh_token": self.refresh_token,
            "refresh_ahead_seconds": self.refresh_ahead_seconds,
            record.RETRY_AFTER_KEY: self.refresh_retry_after,
        }

    def to_stored_record(self) -> dict[str, object]:
        """The record as written to disk: a keyring-held token is only flagged."""
        rec = self.to_record()
        if self.refresh_store == "keyring":
            rec["refresh_token"] = None
            rec[record.KEYRING_FLAG] = self.refresh_token is not None
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, object]) -> CacheEntry:
        """Build from a record that :func:`record.parse_record` accepted."""
        retry = rec.get(record.RETRY_AFTER_KEY)
        protocol = rec.get("protocol")
        refresh_token = rec.get("refresh_token")
        return cls(
            profile=str(rec["profile"]),
            credentials=AwsCredentials.from_record(rec),
            protocol=protocol if isinstance(protocol, str) and protocol else None,
            refresh_token=refresh_token
            if isinstance(refresh_token, str) and refresh_token
            else None,
            refresh_ahead_seconds=record.refresh_ahead(rec),
            refresh_store="keyring" if record.KEYRING_FLAG in rec else "file",
            refresh_retry_after=retry if isinstance(retry, int) else None,
        )


def _check_name(profile: str) -> None:
    if not locations.is_valid_profile_name(profile):
        raise ConfigError(
            f"invalid profile name {profile!r}",
            remedy="use letters, digits, '_', '.' and '-' (not first), at most 64 characters",
        )


def load(profile: str) -> CacheEntry | None:
    """The cached credentials, ``None`` when there are none; raises on insecure/corrupt files."""
    _check_name(profile)
    path = locations.cache_file(profile)
    data = securefile.read_private(path)
    if data is None:
        return None
    rec = record.parse_record(data, path, profile=profile)
    creds = CacheEntry.from_record(rec)
    if creds.refresh_store == "keyring" and record.has_refresh_token(rec):
        from qbizfed.creds import keystore

        creds = replace(creds, refresh_token=keystore.get(profile))
    return creds


def save(creds: CacheEntry) -> str:
    """Write the profile's cache file atomically; returns its path."""
    _check_name(creds.profile)
    path = locations.cache_file(creds.profile)
    if creds.refresh_store == "keyring":
        from qbizfed.creds import keystore

        if creds.refresh_token is None:
            keystore.delete(creds.profile)
        else:
            keystore.put(creds.profile, creds.refresh_token)
    securefile.write_private(path, record.encode_record(creds.to_stored_record()))
    return path


def delete(profile: str) -> bool:
    """Remove the profile's cache (and lock) file, and its keyring entry if it has one.

    ``True`` if a cache file was there. Works on corrupt or insecure files too: deleting
    them is the remedy those errors give.
    """
    _check_name(profile)
    path = locations.cache_file(profile)
    in_keyring = False
    try:
        data = securefile.read_private(path)
        if data is not None:
            rec = record.parse_record(data, path, profile=profile)
            in_keyring = rec.get(record.KEYRING_FLAG) is True
    except QbizfedError:
        pass  # unreadable: nothing to learn from it, delete it all the same
    removed = securefile.delete_private(path)
    securefile.delete_private(locations.lock_file(profile))
    if in_keyring:
        from qbizfed.creds import keystore

        keystore.delete(profile)
    return removed
