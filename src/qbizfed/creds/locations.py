"""Where qbizfed keeps CLI state: the cache directory, the config file, cache file names.

``QBIZFED_CACHE_DIR`` and ``QBIZFED_CONFIG`` override the defaults (tests point them at
temporary directories). The cache directory is ``platformdirs.user_cache_dir("qbizfed")``;
on Linux and macOS it is computed here without importing platformdirs, because this
module is on the ``credential_process`` fast path (a unit test proves both agree).
"""

from __future__ import annotations

import os
import sys

APP_NAME = "qbizfed"
CACHE_DIR_ENV = "QBIZFED_CACHE_DIR"
CONFIG_ENV = "QBIZFED_CONFIG"
PROFILE_ENV = "QBIZFED_PROFILE"
DEFAULT_PROFILE = "default"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
MAX_PROFILE_NAME = 64


def is_valid_profile_name(name: str) -> bool:
    """Letters, digits, ``_ . -``; not starting with ``.`` or ``-``; at most 64 chars.

    The name becomes a file name in the cache directory, so nothing that could
    traverse paths or hide a file is allowed.
    """
    return (
        0 < len(name) <= MAX_PROFILE_NAME
        and name[0] not in ".-"
        and all(char in _NAME_CHARS for char in name)
    )


def default_profile_name() -> str:
    return os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE


def cache_dir() -> str:
    """The directory holding one cache file per profile."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return os.path.abspath(os.path.expanduser(override))
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Caches"), APP_NAME)
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        return os.path.join(xdg if xdg.strip() else os.path.expanduser("~/.cache"), APP_NAME)
    import platformdirs  # Windows and others: let the library decide

    return platformdirs.user_cache_dir(APP_NAME)


def cache_file(profile: str) -> str:
    """The cache file of one profile; the name must be valid (see ``is_valid_profile_name``)."""
    if not is_valid_profile_name(profile):
        raise ValueError(f"invalid profile name {profile!r}")
    return os.path.join(cache_dir(), f"{profile}.json")


def lock_file(profile: str) -> str:
    """The lock serialising refreshes of one profile (refresh tokens rotate)."""
    if not is_valid_profile_name(profile):
        raise ValueError(f"invalid profile name {profile!r}")
    return os.path.join(cache_dir(), f".{profile}.lock")


def config_path() -> str:
    """The TOML config file (``QBIZFED_CONFIG`` or the platform's user config dir)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return os.path.abspath(os.path.expanduser(override))
    import platformdirs

    return os.path.join(platformdirs.user_config_dir(APP_NAME), "config.toml")
