"""Ctrl-C and SIGTERM: stopping long-running commands cleanly, and telling an
interrupted command (exit 130) from a refused one (exit 1)."""

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


class InterruptRecorder:
    """Remembers whether Ctrl-C was pressed, then interrupts as Python does by default.

    Click turns both Ctrl-C at a prompt and a declined confirmation into the same
    ``Abort`` (and drops the ``KeyboardInterrupt`` it came from), so ``main()`` asks
    this recorder which one it was.
    """

    def __init__(self) -> None:
        self.interrupted = False

    def install(self) -> InterruptRecorder:
        signal.signal(signal.SIGINT, self._record)
        return self

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True
        signal.default_int_handler(signum, frame)
