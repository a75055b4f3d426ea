"""Stopping long-running commands cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def install_stop_signal() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM; install it before announcing readiness."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def wait_for_stop_signal(stop: threading.Event | None = None) -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = stop or install_stop_signal()
    while not stop.wait(0.5):
        pass
