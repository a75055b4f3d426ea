"""Counting how many calls of one kind run at once (allowances of worker-thread pools)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class CallsAtOnce:
    """``with counter.running(): ...`` around each call; ``most`` is the peak seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.finished = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            yield
        finally:
            with self._lock:
                self.now -= 1
                self.finished += 1

    def hold(self, seconds: float) -> None:
        """One call that takes ``seconds`` (sleeping: a thread waiting on I/O)."""
        with self.running():
            time.sleep(seconds)
