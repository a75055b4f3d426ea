"""``refresh_store = "keyring"``: the refresh token lives in the OS keyring, not the file.

A small in-memory keyring backend stands in for the platform's store (the keyring
package's own extension point), so the real ``keyring`` API calls run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache, fast
from qbizfed.creds.cache import CacheEntry
from qbizfed.errors import ConfigError

keyring = pytest.importorskip("keyring", reason="optional dependency: pip install keyring")
from keyring.backend import KeyringBackend  # noqa: E402
from keyring.errors import KeyringLocked  # noqa: E402


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.items: dict[tuple[str, str], str] = {}
        self.locked = False

    def get_password(self, service: str, username: str) -> str | None:
        if self.locked:
            raise KeyringLocked("locked")
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.locked:
            raise KeyringLocked("locked")
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.items[(service, username)]


@pytest.fixture
def memory_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def creds(minutes: float = 60, token: str | None = "rt-in-keyring") -> CacheEntry:
    return CacheEntry(
        profile="dev",
        credentials=AwsCredentials(
            access_key_id="ASIAKEYRING000000001",
            secret_access_key="secret",
            session_token="token",
            expiration=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes),
        ),
        refresh_token=token,
        refresh_store="keyring",
    )


def test_token_goes_to_the_keyring_and_not_the_file(memory_keyring: MemoryKeyring) -> None:
    path = Path(cache.save(creds()))
    assert "rt-in-keyring" not in path.read_text()
    assert memory_keyring.items == {("qbizfed", "dev"): "rt-in-keyring"}
    assert cache.load("dev") == creds()


def test_fast_path_knows_a_keyring_token_exists(memory_keyring: MemoryKeyring) -> None:
    cache.save(creds(minutes=3))  # inside the refresh window: the slow path must refresh
    out = io.StringIO()
    with redirect_stdout(out):
        assert fast.answer_from_warm_cache(["--profile", "dev"]) is None
    cache.save(creds(minutes=30))
    with redirect_stdout(out):
        assert fast.answer_from_warm_cache(["--profile", "dev"]) == 0


def test_dropping_the_token_removes_it_from_the_keyring(memory_keyring: MemoryKeyring) -> None:
    cache.save(creds())
    cache.save(replace(creds(), refresh_token=None))
    assert memory_keyring.items == {}
    loaded = cache.load("dev")
    assert loaded is not None
    assert loaded.refresh_token is None


def test_logout_deletes_the_keyring_entry(memory_keyring: MemoryKeyring) -> None:
    cache.save(creds())
    assert cache.delete("dev")
    assert memory_keyring.items == {}


def test_locked_keyring_is_a_clear_error(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.locked = True
    with pytest.raises(ConfigError, match="keyring") as info:
        cache.save(creds())
    assert "unlock" in info.value.remedy
