"""Optional home for refresh tokens: the OS keyring instead of the cache file.

With ``refresh_store = "keyring"`` in a profile, the refresh token goes to the
platform's credential store (macOS Keychain, Windows Credential Locker, Secret Service)
through the ``keyring`` package, and the cache file only records that one is there.
The temporary AWS credentials stay in the ``0600`` cache file either way: the
``credential_process`` fast path must not pay for a keyring round trip.
"""

from __future__ import annotations

from typing import Any

from qbizfed.errors import ConfigError

SERVICE = "qbizfed"


def _keyring() -> Any:
    try:
        import keyring
    except ImportError as exc:
        raise ConfigError(
            'refresh_store = "keyring" needs the keyring package',
            remedy='pip install keyring, or set refresh_store = "file" in the profile',
        ) from exc
    return keyring


def _failure(action: str, exc: Exception) -> ConfigError:
    return ConfigError(
        f"the OS keyring refused to {action} the refresh token ({type(exc).__name__})",
        remedy='unlock or configure the keyring, or set refresh_store = "file"',
    )


def put(profile: str, token: str) -> None:
    keyring = _keyring()
    try:
        keyring.set_password(SERVICE, profile, token)
    except Exception as exc:  # keyring backends raise their own error types
        raise _failure("store", exc) from exc


def get(profile: str) -> str | None:
    keyring = _keyring()
    try:
        value = keyring.get_password(SERVICE, profile)
    except Exception as exc:
        raise _failure("read", exc) from exc
    return value if isinstance(value, str) and value else None


def delete(profile: str) -> None:
    try:
        keyring = _keyring()
        if keyring.get_password(SERVICE, profile) is not None:
            keyring.delete_password(SERVICE, profile)
    except Exception:  # noqa: S110 - logout must not fail because a keyring is locked
        pass
