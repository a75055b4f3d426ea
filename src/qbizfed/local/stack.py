"""``qbizfed local aws``: the edge, moto, the federation STS and the Q Business
emulator, served on one loopback port from a background thread."""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server

from qbizfed.errors import LocalStackError
from qbizfed.local.edge import Edge
from qbizfed.local.faults import FaultInjector, FaultRule
from qbizfed.local.iam_gaps import IamGaps
from qbizfed.local.moto_backend import IamView, moto_wsgi_app, reset_moto
from qbizfed.local.qbusiness.service import QBusinessEmulator
from qbizfed.local.sessions import SessionRegistry
from qbizfed.local.sts.service import FederationSts


@dataclass(frozen=True)
class LocalAwsSettings:
    host: str = "127.0.0.1"
    port: int = 4566
    active_delay_seconds: float = 1.0
    """How long Q Business resources stay CREATING before they turn ACTIVE."""
    fault_rules: tuple[FaultRule, ...] = ()
    fault_seed: int | None = None
    corpus_dir: Path | None = None
    allow_non_loopback: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _check_port_free(host: str, port: int) -> None:
    """Fail with OSError before werkzeug would print and ``sys.exit`` on a busy port."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalAws:
    """The running local AWS endpoint. ``start()`` returns once it accepts requests."""

    def __init__(self, settings: LocalAwsSettings | None = None) -> None:
        self.settings = settings or LocalAwsSettings()
        if not is_loopback(self.settings.host) and not self.settings.allow_non_loopback:
            raise LocalStackError(
                f"refusing to serve unauthenticated AWS emulation on {self.settings.host}",
                remedy="bind to 127.0.0.1 (the default), or pass --allow-non-loopback if you "
                "really mean to expose it",
            )
        self.registry = SessionRegistry()
        self.faults = FaultInjector(self.settings.fault_rules, seed=self.settings.fault_seed)
        self.sts = FederationSts(iam=IamView(), registry=self.registry)
        self.qbusiness = QBusinessEmulator(
            registry=self.registry,
            active_delay_seconds=self.settings.active_delay_seconds,
            corpus_dir=self.settings.corpus_dir,
        )
        self.edge = Edge(
            moto_app=moto_wsgi_app(),
            handlers={"sts": self.sts, "qbusiness": self.qbusiness, "iam": IamGaps()},
            faults=self.faults,
            on_reset=self.reset,
            presigned=self.qbusiness.serve_presigned,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise LocalStackError("the local AWS endpoint is not started", remedy="call start()")
        return f"http://{self.settings.host}:{self.port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise LocalStackError("the local AWS endpoint is not started", remedy="call start()")
        return int(self._server.server_address[1])

    def start(self) -> LocalAws:
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        class QuietRequestHandler(MotoRequestHandler):
            """No access log line per request: the stack serves thousands in a test run."""

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                return None

        try:
            _check_port_free(self.settings.host, self.settings.port)
            self._server = make_server(
                self.settings.host,
                self.settings.port,
                self.edge,
                threaded=True,
                request_handler=QuietRequestHandler,
            )
        except OSError as exc:
            raise LocalStackError(
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}",
                remedy="stop whatever uses that port, or pass --port with another one "
                "(0 picks a free port)",
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="qbizfed-local-aws", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def reset(self) -> None:
        """Forget every resource and session (moto's state is process-wide)."""
        reset_moto()
        self.registry.reset()
        self.sts.reset()
        self.qbusiness.reset()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
