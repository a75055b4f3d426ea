"""The two pieces of state a SAML service provider needs, as injectable interfaces.

* ``RequestIdStore``: the AuthnRequest IDs this deployment issued, so that a response's
  ``InResponseTo`` can be matched once (and only once).
* ``ReplayCache``: assertion IDs already used, kept until the assertion expires.

The in-memory versions serve one process (CLI, tests, single instance); the web layer
provides Redis-backed ones for several instances (same method names and meaning).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol


class RequestIdStore(Protocol):
    def remember_request(self, request_id: str, ttl_seconds: int) -> None:
        """Record an issued AuthnRequest ID for ``ttl_seconds``."""
        ...

    def consume_request(self, request_id: str) -> bool:
        """True exactly once for a remembered, unexpired ID; False otherwise."""
        ...


class ReplayCache(Protocol):
    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        """First call records the ID (until ``not_on_or_after``) and returns False;
        later calls return True."""
        ...


class MemoryRequestIdStore:
    """Thread-safe in-process :class:`RequestIdStore`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def remember_request(self, request_id: str, ttl_seconds: int) -> None:
        with self._lock:
            now = self._clock()
            self._expiry = {k: v for k, v in self._expiry.items() if v > now}
            self._expiry[request_id] = now + ttl_seconds

    def consume_request(self, request_id: str) -> bool:
        with self._lock:
            expiry = self._expiry.pop(request_id, None)
            return expiry is not None and expiry > self._clock()


class MemoryReplayCache:
    """Thread-safe in-process :class:`ReplayCache`."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        with self._lock:
            now = self._clock()
            self._until = {k: v for k, v in self._until.items() if v > now}
            if assertion_id in self._until:
                return True
            # Keep a little past expiry: validators accept a few minutes of clock drift.
            self._until[assertion_id] = not_on_or_after.timestamp() + 600
            return False
