"""The installed ``qbizfed`` console script, run as users run it: a real process.

``run_qbizfed`` runs a command to completion; ``running_qbizfed`` starts a long-running
one (``local idp``, ``serve``, ``login``), collects its output lines in the background,
and stops it with SIGINT (Ctrl-C) on exit. Exit codes are only trustworthy this way:
``CliRunner`` skips ``main()``, where they are set.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


def run_qbizfed(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QBIZFED, *args], env=dict(env), input=stdin, capture_output=True, text=True,
        timeout=timeout, stdin=None if stdin is not None else subprocess.DEVNULL,
    )  # fmt: skip


class RunningQbizfed:
    """A started ``qbizfed`` process and the lines it printed so far (stdout + stderr)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first match of ``pattern`` in a printed line (waits for it to appear)."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        with self._changed:
            while True:
                for line in self.lines:
                    match = compiled.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{pattern!r} never printed:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


@contextmanager
def running_qbizfed(*args: str, env: Mapping[str, str]) -> Iterator[RunningQbizfed]:
    process = subprocess.Popen(
        [QBIZFED, *args], env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    started = RunningQbizfed(process)
    try:
        yield started
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
