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
from typing import Any

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache, fast, locations, securefile
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.securefile import InsecureCacheFileError
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
    return CacheEntry(
        profile=profile,
        credentials=AwsCredentials(
            access_key_id="ASIAEXAMPLE",
            secret_access_key="secret",
            session_token="token",
            expiration=datetime.now(UTC) + timedelta(hours=1),
        ),
    ).to_record()


def write_raw(cache_dir: Path, data: bytes, *, name: str = "dev.json") -> Path:
    cache.save(CacheEntry.from_record(good_record()))  # creates the 0700 dir
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


class ForeignOwnedView:
    """``os`` as the cache code sees it, with one path reported as owned by ``nobody``.

    Without root nothing can be chowned to another user, so the ownership check is
    reached through its one source of truth instead: what ``lstat``/``fstat`` report.
    """

    def __init__(self, foreign: Path) -> None:
        self.inode = os.lstat(foreign).st_ino

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _owned_by_nobody(self, st: os.stat_result) -> os.stat_result:
        if st.st_ino != self.inode:
            return st
        fields = list(st[:10])
        fields[4] = fields[5] = NOBODY  # st_uid, st_gid
        return os.stat_result(fields)

    def lstat(self, path: str) -> os.stat_result:
        return self._owned_by_nobody(os.lstat(path))

    def fstat(self, fd: int) -> os.stat_result:
        return self._owned_by_nobody(os.fstat(fd))


_FOREIGN: list[Path] = []  # what the running attack handed to another user


def _give_to_nobody(path: Path) -> None:
    if IS_ROOT:
        os.chown(path, NOBODY, NOBODY)
    else:
        _FOREIGN.append(path)


def _foreign_owned_file(d: Path) -> None:
    _give_to_nobody(d / "dev.json")


def _foreign_owned_dir(d: Path) -> None:
    _give_to_nobody(d)


def _oversized_file(d: Path) -> None:
    (d / "dev.json").write_bytes(b" " * (300 * 1024) + doc())


def _cache_dir_is_symlink(d: Path) -> None:
    real = d.parent / "elsewhere"
    d.rename(real)
    d.symlink_to(real)


PERMISSION_ATTACKS: list[tuple[str, Callable[[Path], None], str]] = [
    ("group-readable-file", _group_readable, "dev.json: mode 0640 gives access to group/other"),
    ("world-writable-file", _world_writable, "dev.json: mode 0606 gives access to group/other"),
    ("world-readable-directory", _world_readable_dir, "cache: mode 0755 gives access to group"),
    ("symlink-to-planted-file", _symlink_to_other_file, "dev.json: it is a symbolic link"),
    ("fifo-instead-of-file", _fifo_instead_of_file, "dev.json: not a regular file"),
    ("directory-instead-of-file", _directory_instead_of_file, "dev.json: not a regular file"),
    ("oversized-file", _oversized_file, "dev.json: larger than 262144 bytes"),
    ("cache-dir-is-symlink", _cache_dir_is_symlink, "cache: not a directory"),
    ("foreign-owned-file", _foreign_owned_file, f"dev.json: owned by uid {NOBODY}, not by you"),
    ("foreign-owned-directory", _foreign_owned_dir, f"cache: owned by uid {NOBODY}, not by you"),
]


@pytest.mark.parametrize(
    ("attack", "says"),
    [pytest.param(fn, says, id=name) for name, fn, says in PERMISSION_ATTACKS],
)
def test_insecure_cache_files_are_refused(
    cache_dir: Path, attack: Callable[[Path], None], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.save(CacheEntry.from_record(good_record()))
    _FOREIGN.clear()
    attack(cache_dir)
    for path in _FOREIGN:
        monkeypatch.setattr(securefile, "os", ForeignOwnedView(path))
    with pytest.raises(InsecureCacheFileError) as info:
        cache.load("dev")
    assert "refusing to use " in str(info.value)
    assert says in str(info.value)
    assert "sign in again with qbizfed login" in info.value.remedy
    out = io.StringIO()
    with redirect_stdout(out):
        assert fast.answer_from_warm_cache(["--profile", "dev"]) is None
    assert out.getvalue() == ""


CORRUPT_FILES: list[tuple[str, bytes, str]] = [
    ("not-json", b"AccessKeyId=ASIA...", "not valid JSON"),
    ("truncated-json", doc()[:40], "not valid JSON"),
    ("json-array", b"[1, 2, 3]", "not a JSON object"),
    ("not-utf8", b'{"a": "\xff\xfe"}', "not valid JSON"),
    ("unknown-version", doc(qbizfed_cache=2), "unknown format version"),
    ("missing-secret", doc(SecretAccessKey=None), "SecretAccessKey missing or not a string"),
    ("key-is-a-number", doc(AccessKeyId=12345), "AccessKeyId missing or not a string"),
    ("empty-session-token", doc(SessionToken=""), "SessionToken missing or not a string"),
    ("expiration-not-a-date", doc(Expiration="tomorrow"),
     "Expiration is not an ISO 8601 timestamp with a timezone"),
    ("expiration-without-timezone", doc(Expiration="2099-01-01T00:00:00"),
     "Expiration is not an ISO 8601 timestamp with a timezone"),
    ("nan-constant", doc()[:-1] + b', "x": NaN}', "not valid JSON"),
    ("record-swapped-from-other-profile", json.dumps(good_record("prod")).encode(),
     "it belongs to profile 'prod', not 'dev'"),
    ("client-secret-smuggled-in", doc(client_secret="s3cret"),
     "it contains a client secret, which qbizfed never stores"),
    ("newline-injection-in-key", doc(AccessKeyId="ASIA\nexport EVIL=1"),
     "AccessKeyId has characters no AWS credential has"),
    ("quote-injection-in-token", doc(SessionToken="tok'; rm -rf ~; echo '"),
     "SessionToken has characters no AWS credential has"),
    ("refresh-ahead-not-a-number", doc(refresh_ahead_seconds="300"),
     "refresh_ahead_seconds is not a number of seconds"),
    ("refresh-ahead-bool", doc(refresh_ahead_seconds=True),
     "refresh_ahead_seconds is not a number of seconds"),
    ("retry-pause-not-a-number", doc(refresh_retry_after="never"),
     "refresh_retry_after is not a number of seconds"),
    ("keyring-flag-not-a-bool", doc(refresh_token_in_keyring="yes"),
     "refresh_token_in_keyring is not true or false"),
    ("deeply-nested", b'{"a":' * 50000 + b"1" + b"}" * 50000, "larger than 262144 bytes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "says"), [pytest.param(data, says, id=name) for name, data, says in CORRUPT_FILES]
)
def test_corrupt_cache_files_are_refused(cache_dir: Path, data: bytes, says: str) -> None:
    write_raw(cache_dir, data)
    with pytest.raises(ConfigError) as info:
        cache.load("dev")
    assert str(cache_dir / "dev.json") in str(info.value)
    assert says in str(info.value)
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
    with pytest.raises(ConfigError, match="invalid profile name") as info:
        cache.load(name)
    assert info.value.remedy.startswith("use letters, digits")
    with pytest.raises(ValueError, match="profile"):
        locations.cache_file(name)
