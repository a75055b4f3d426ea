"""Parent-side handles of the benchmark's server processes (see :mod:`bench.servers`).

Each server runs in its own Python process so that the load generator, the broker,
the IdP and the local AWS do not share one GIL, as in a real deployment. Listening
sockets are bound here (loopback, port 0) and handed to the child by file descriptor,
so every URL is known before any process starts and no port can be taken in between.
A child stops when its stdin closes, so none outlives the benchmark.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
BACKLOG = 2048
START_TIMEOUT_SECONDS = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOG_DIR = Path(tempfile.gettempdir()) / "qbizfed-bench"
"""Each child's stderr (refusals, tracebacks), one file per kind and benchmark process."""


def listening_socket() -> socket.socket:
    """A loopback socket on a free port, already listening with a deep backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    sock.listen(BACKLOG)
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://{LOOPBACK}:{sock.getsockname()[1]}"


def child_environment(**extra: str) -> dict[str, str]:
    """Fake AWS credentials and no shared config: children can never reach real AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="fake-secret-for-the-local-stack-only-000",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


@dataclass
class ChildServer:
    """One server process: ``ChildServer.spawn(...)``, then ``ready()``; ``url`` is where it
    listens."""

    kind: str
    url: str
    process: subprocess.Popen[str]
    log: Path

    @classmethod
    def spawn(
        cls, kind: str, config: dict[str, Any], *, sock: socket.socket | None = None
    ) -> ChildServer:
        """Start the process without waiting; call :meth:`ready` before using ``url``."""
        fds: tuple[int, ...] = ()
        if sock is not None:
            config = {**config, "fd": sock.fileno()}
            fds = (sock.fileno(),)
        log = LOG_DIR / f"{kind}-{os.getpid()}.log"
        LOG_DIR.mkdir(exist_ok=True)
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.servers", kind, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=REPO_ROOT,
                env=child_environment(),
                pass_fds=fds,
            )
        if sock is not None:
            sock.close()  # the child holds its own copy
        return cls(kind=kind, url="", process=process, log=log)

    def ready(self) -> ChildServer:
        """Wait for the child's first line, ``{"url": ...}``: it accepts connections."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=START_TIMEOUT_SECONDS)
            raise RuntimeError(
                f"the {self.kind} server process exited with {self.process.returncode}; "
                f"see {self.log}"
            )
        self.url = str(json.loads(line)["url"])
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process, all threads (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / CLOCK_TICKS

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
