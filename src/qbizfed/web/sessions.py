"""Server-side storage for web sessions and one-time login values.

:class:`SessionStore` is the seam: an in-memory implementation here, a Redis one
later (every operation maps onto one Redis command, noted below). Values are JSON
objects, so anything stored must survive ``json.dumps``; the in-memory store proves
it by keeping the encoded form. Keys are namespaced by the caller
(``session:...``, ``oidc-state:...``, ``saml-request:...``, ``saml-assertion:...``).

One-time use is atomic: :meth:`SessionStore.take` (``GETDEL``) hands a value to
exactly one caller, :meth:`SessionStore.add_once` (``SET NX EX``) lets exactly one
caller claim a key, which is what a replay cache needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

JsonObject = dict[str, Any]


@runtime_checkable
class SessionStore(Protocol):
    """Async key -> JSON object store with per-key expiry."""

    async def get(self, key: str) -> JsonObject | None:
        """The value, or ``None`` if absent or expired (``GET``)."""

    async def set(self, key: str, value: Mapping[str, Any], *, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds`` (``SET key value EX ttl``)."""

    async def delete(self, key: str) -> None:
        """Forget ``key`` (``DEL``)."""

    async def take(self, key: str) -> JsonObject | None:
        """Atomically read and delete (``GETDEL``): at most one caller gets the value."""

    async def add_once(self, key: str, *, ttl_seconds: float) -> bool:
        """Claim ``key`` for ``ttl_seconds``; ``False`` if already claimed (``SET NX EX``)."""

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[bool]:
        """Hold ``key``'s lock inside the block; the block gets ``False`` when it could not
        be had within ``wait_seconds`` (a random token ``SET NX PX``, released by
        compare-and-delete, so an expired holder never frees its successor's lock)."""


class InMemorySessionStore:
    """A :class:`SessionStore` for one process; expired entries are swept lazily."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000):
        self._data: dict[str, tuple[float, str]] = {}
        self._clock = clock
        self._lock = asyncio.Lock()
        self._max_entries = max_entries
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def _live(self, key: str, now: float) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, encoded = entry
        if expires <= now:
            del self._data[key]
            return None
        return encoded

    def _sweep(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._data.items() if expires <= now]:
            del self._data[key]

    def _evict_soonest_expiring(self) -> None:
        """Still full after the sweep (a flood of anonymous sessions): drop the tenth
        closest to expiry, so memory stays bounded. Redis does this with maxmemory."""
        if len(self._data) < self._max_entries:
            return
        by_expiry = sorted(self._data, key=lambda k: self._data[k][0])
        for key in by_expiry[: max(1, self._max_entries // 10)]:
            del self._data[key]

    async def get(self, key: str) -> JsonObject | None:
        async with self._lock:
            encoded = self._live(key, self._clock())
        return None if encoded is None else _decode(encoded)

    async def set(self, key: str, value: Mapping[str, Any], *, ttl_seconds: float) -> None:
        encoded = json.dumps(dict(value), separators=(",", ":"))
        async with self._lock:
            now = self._clock()
            if ttl_seconds <= 0:
                self._data.pop(key, None)
                return
            if len(self._data) >= self._max_entries:
                self._sweep(now)
                self._evict_soonest_expiring()
            self._data[key] = (now + ttl_seconds, encoded)

    async def delete(self, key: str) -> None:
        async with self._lock:
            self._data.pop(key, None)

    async def take(self, key: str) -> JsonObject | None:
        async with self._lock:
            encoded = self._live(key, self._clock())
            self._data.pop(key, None)
        return None if encoded is None else _decode(encoded)

    async def add_once(self, key: str, *, ttl_seconds: float) -> bool:
        async with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._data[key] = (now + max(ttl_seconds, 1.0), "{}")
            return True

    @contextlib.asynccontextmanager
    async def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AsyncIterator[bool]:
        """One process: an ``asyncio.Lock`` per key (``ttl_seconds`` is moot: a holder
        cannot die without the process)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), timeout=wait_seconds)
            except TimeoutError:
                yield False
                return
            try:
                yield True
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]  # nobody else holds or waits: forget the key
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._data)


def _decode(encoded: str) -> JsonObject:
    value = json.loads(encoded)
    assert isinstance(value, dict)
    return value
