"""A real ``redis-server`` (Debian's) for tests: 127.0.0.1, a free port, nothing on disk.

``RedisServer().start()`` runs ``redis-server`` in the foreground with persistence off
(``--save "" --appendonly no``) and a private working directory, and waits until it
answers ``PING``. ``stop()`` ends that process (and only it); ``start()`` again brings
it back on the same port, empty, which is how tests simulate an outage and recovery.

:func:`redis_or_skip` is what fixtures call: without ``redis-server`` a local run skips
with the reason, while under ``CI=true`` the fixture fails loudly, so CI can never pass
by silently not running the multi-instance tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def _free_port() -> int:
    # redis-server cannot be told "port 0"; take a free one and retry if it is lost.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 owned by the test that started it."""

    def __init__(self, executable: str = REDIS_SERVER) -> None:
        self.executable = executable
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="qbizfed-redis-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        for _attempt in range(5):
            port = self.port or _free_port()
            # fmt: off
            argv = [
                self.executable,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "yes",
                "--dir", str(self._dir),
                "--loglevel", "warning",
            ]
            # fmt: on
            process = subprocess.Popen(
                argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                if _answers_ping(port):
                    self._process, self.port = process, port
                    return self
                time.sleep(0.02)
            process.kill()
            process.wait(timeout=5)
            if self.port:  # a restart on the known port failed: no other port will do
                break
        raise RuntimeError(f"redis-server did not start on 127.0.0.1 (last port {port})")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def cli(self, *args: str) -> bytes:
        """Run ``redis-cli`` against this server and return its raw output."""
        return subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), *args],
            check=True,
            capture_output=True,
            timeout=10,
        ).stdout

    def dump_all(self) -> dict[bytes, bytes]:
        """Every key and its raw value as ``redis-cli --raw`` prints them."""
        keys = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "--raw", "--scan"],
            check=True, capture_output=True, timeout=10,
        ).stdout.split()  # fmt: skip
        out: dict[bytes, bytes] = {}
        for key in keys:
            out[key] = subprocess.run(
                [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "--raw", "GET", key],
                check=True, capture_output=True, timeout=10,
            ).stdout  # fmt: skip
        return out


def redis_or_skip() -> RedisServer:
    """A started server; skip locally, fail under ``CI=true``, when Redis is not installed."""
    if not (os.access(REDIS_SERVER, os.X_OK) and os.access(REDIS_CLI, os.X_OK)):
        reason = f"{REDIS_SERVER} is not installed (Debian package redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return RedisServer().start()
