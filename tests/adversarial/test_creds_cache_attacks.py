"""Hostile cache files: each case is an attack on ``qbizfed creds`` and must be refused.

Refused means: ``cache.load`` raises a qbizfed error with a remedy, and the
``credential_process`` fast path hands nothing out (it falls back to the full command,
which reports the error).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbizfed.creds import cache, fast, locations
from qbizfed.creds.cache import CachedCredentials
from qbizfed.errors import ConfigError

NOBODY = 65534
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(directory))
    monkeypatch.delenv("QBIZFED_NO_FAST_PATH", raising=False)
    return directory


def good_record(profile: str = "dev") -> dict[str, object]:
    return CachedCredentials(
        profile=profile,
        access_key_id="ASIAEXAMPLE",
        secret_access_key="secret",
        session_token="token",
        expiration=datetime.now(UTC) + timedelta(hours=1),
    ).to_record()


def write_raw(cache_dir: Path, data: bytes, *, name: str = "dev.json") -> Path:
    cache.save(CachedCredentials.from_record(good_record()))  # creates the 0700 dir
    path = cache_dir / name
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


def doc(**changes: object) -> bytes:
    rec = good_record()
    for key, value in changes.items():
        if value is None:
            rec.pop(key, None)
        else:
            rec[key] = value
    return json.dumps(rec).encode()


def _group_readable(d: Path) -> None:
    os.chmod(d / "dev.json", 0o640)


def _world_writable(d: Path) -> None:
    os.chmod(d / "dev.json", 0o606)  # noqa: S103 - the attack under test


def _world_readable_dir(d: Path) -> None:
    os.chmod(d, 0o755)  # noqa: S103 - the attack under test


def _symlink_to_other_file(d: Path) -> None:
    target = d.parent / "planted.json"
    target.write_bytes((d / "dev.json").read_bytes())
    os.chmod(target, 0o600)
    (d / "dev.json").unlink()
    (d / "dev.json").symlink_to(target)


def _fifo_instead_of_file(d: Path) -> None:
    (d / "dev.json").unlink()
    os.mkfifo(d / "dev.json", 0o600)


def _directory_instead_of_file(d: Path) -> None:
    (d / "dev.json").unlink()
    (d / "dev.json").mkdir(mode=0o700)


def _foreign_owned_file(d: Path) -> None:
    os.chown(d / "dev.json", NOBODY, NOBODY)


def _foreign_owned_dir(d: Path) -> None:
    os.chown(d, NOBODY, NOBODY)


def _oversized_file(d: Path) -> None:
    (d / "dev.json").write_bytes(b" " * (300 * 1024) + doc())


def _cache_dir_is_symlink(d: Path) -> None:
    real = d.parent / "elsewhere"
    d.rename(real)
    d.symlink_to(real)


PERMISSION_ATTACKS: list[tuple[str, Callable[[Path], None], bool]] = [
    ("group-readable-file", _group_readable, False),
    ("world-writable-file", _world_writable, False),
    ("world-readable-directory", _world_readable_dir, False),
    ("symlink-to-planted-file", _symlink_to_other_file, False),
    ("fifo-instead-of-file", _fifo_instead_of_file, False),
    ("directory-instead-of-file", _directory_instead_of_file, False),
    ("oversized-file", _oversized_file, False),
    ("cache-dir-is-symlink", _cache_dir_is_symlink, False),
    ("foreign-owned-file", _foreign_owned_file, True),
    ("foreign-owned-directory", _foreign_owned_dir, True),
]


@pytest.mark.parametrize(
    ("attack", "needs_root"),
    [pytest.param(fn, root, id=name) for name, fn, root in PERMISSION_ATTACKS],
)
def test_insecure_cache_files_are_refused(
    cache_dir: Path, attack: Callable[[Path], None], needs_root: bool
) -> None:
    if needs_root and not IS_ROOT:
        pytest.skip("chown to another user needs root")
    cache.save(CachedCredentials.from_record(good_record()))
    attack(cache_dir)
    with pytest.raises(ConfigError) as info:
        cache.load("dev")
    assert info.value.remedy
    out = io.StringIO()
    with redirect_stdout(out):
        assert fast.answer_from_warm_cache(["--profile", "dev"]) is None
    assert out.getvalue() == ""


CORRUPT_FILES: list[tuple[str, bytes]] = [
    ("not-json", b"AccessKeyId=ASIA..."),
    ("truncated-json", doc()[:40]),
    ("json-array", b"[1, 2, 3]"),
    ("not-utf8", b'{"a": "\xff\xfe"}'),
    ("unknown-version", doc(qbizfed_cache=2)),
    ("missing-secret", doc(SecretAccessKey=None)),
    ("key-is-a-number", doc(AccessKeyId=12345)),
    ("empty-session-token", doc(SessionToken="")),
    ("expiration-not-a-date", doc(Expiration="tomorrow")),
    ("expiration-without-timezone", doc(Expiration="2099-01-01T00:00:00")),
    ("nan-constant", doc()[:-1] + b', "x": NaN}'),
    ("record-swapped-from-other-profile", json.dumps(good_record("prod")).encode()),
    ("client-secret-smuggled-in", doc(client_secret="s3cret")),
    ("newline-injection-in-key", doc(AccessKeyId="ASIA\nexport EVIL=1")),
    ("quote-injection-in-token", doc(SessionToken="tok'; rm -rf ~; echo '")),
    ("refresh-ahead-not-a-number", doc(refresh_ahead_seconds="300")),
    ("refresh-ahead-bool", doc(refresh_ahead_seconds=True)),
    ("retry-pause-not-a-number", doc(refresh_retry_after="never")),
    ("keyring-flag-not-a-bool", doc(refresh_token_in_keyring="yes")),
    ("deeply-nested", b'{"a":' * 50000 + b"1" + b"}" * 50000),
]


@pytest.mark.parametrize("data", [pytest.param(data, id=name) for name, data in CORRUPT_FILES])
def test_corrupt_cache_files_are_refused(cache_dir: Path, data: bytes) -> None:
    write_raw(cache_dir, data)
    with pytest.raises(ConfigError) as info:
        cache.load("dev")
    assert "qbizfed login" in info.value.remedy or "qbizfed logout" in info.value.remedy
    out = io.StringIO()
    with redirect_stdout(out):
        assert fast.answer_from_warm_cache(["--profile", "dev"]) is None
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../outside", id="parent-traversal"),
        pytest.param("/etc/passwd", id="absolute-path"),
        pytest.param(".hidden", id="dotfile"),
        pytest.param("a/b", id="subdirectory"),
        pytest.param("x" * 65, id="overlong"),
        pytest.param("dev\0.json", id="nul-byte"),
        pytest.param("-rf", id="option-like"),
    ],
)
def test_hostile_profile_names_never_become_paths(cache_dir: Path, name: str) -> None:
    assert not locations.is_valid_profile_name(name)
    with pytest.raises(ConfigError):
        cache.load(name)
    with pytest.raises(ValueError):
        locations.cache_file(name)
