"""``qbizfed local aws``: the edge, moto, the federation STS and the Q Business
emulator (with its streaming chat), served on one loopback port from a background
thread; HTTP/1.1, HTTP/2 and WebSocket on that port (``qbizfed.local.transports``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qbizfed.errors import LocalStackError
from qbizfed.local.edge import Edge
from qbizfed.local.faults import FaultInjector, FaultRule
from qbizfed.local.iam_gaps import IamGaps
from qbizfed.local.loopback import is_loopback_host
from qbizfed.local.moto_backend import IamView, moto_wsgi_app, reset_moto
from qbizfed.local.qbusiness.service import QBusinessEmulator
from qbizfed.local.qbusiness.state import DEFAULT_APPLICATION_QUOTA
from qbizfed.local.qbusiness.streaming import CHAT_PATH, ChatStreamEndpoint, StreamSettings
from qbizfed.local.sessions import SessionRegistry
from qbizfed.local.sts.service import FederationSts
from qbizfed.local.transports import EndpointApp, LoopbackServer


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
    stream_delay_ms: int = 0
    """Pause between the text events of a streamed chat turn."""
    application_quota: int = DEFAULT_APPLICATION_QUOTA
    """Q Business applications per account and region (raise it as a quota increase would)."""
    extra: dict[str, str] = field(default_factory=dict)


class LocalAws:
    """The running local AWS endpoint. ``start()`` returns once it accepts requests."""

    def __init__(self, settings: LocalAwsSettings | None = None) -> None:
        self.settings = settings or LocalAwsSettings()
        if not is_loopback_host(self.settings.host) and not self.settings.allow_non_loopback:
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
            application_quota=self.settings.application_quota,
        )
        self.edge = Edge(
            moto_app=moto_wsgi_app(),
            handlers={"sts": self.sts, "qbusiness": self.qbusiness, "iam": IamGaps()},
            faults=self.faults,
            on_reset=self.reset,
            presigned=self.qbusiness.serve_presigned,
        )
        self._server: LoopbackServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise LocalStackError("the local AWS endpoint is not started", remedy="call start()")
        return f"http://{self.settings.host}:{self.port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise LocalStackError("the local AWS endpoint is not started", remedy="call start()")
        return self._server.port

    def start(self) -> LocalAws:
        chat_stream = ChatStreamEndpoint(
            emulator=self.qbusiness,
            faults=self.faults,
            settings=StreamSettings(delay_seconds=self.settings.stream_delay_ms / 1000.0),
        )
        app = EndpointApp(self.edge, {CHAT_PATH: chat_stream})
        try:
            server = LoopbackServer(app, self.settings.host, self.settings.port)
        except OSError as exc:
            raise LocalStackError(
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}",
                remedy="stop whatever uses that port, or pass --port with another one "
                "(0 picks a free port)",
            ) from exc
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

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
