"""``qbizfed serve``: the web broker (sign in with OIDC or SAML, get identity-aware credentials).

Settings come from the sample's environment variables and/or the ``[serve]`` table of
``--config`` (see :mod:`qbizfed.settings.serve`). uvicorn's access log is replaced by a
path-only one, because callback URLs carry authorization codes and states.

``--workers N`` (N > 1) runs uvicorn's own multi-process mode: this process binds the
port, starts N worker processes sharing it, restarts a worker that dies, and stops them
all on Ctrl-C or SIGTERM. Each worker builds its app with :class:`BrokerApp` from the
settings loaded here (pickled to it: settings are values), so every worker serves the
same configuration; sessions, pending sign-ins, SAML request and assertion IDs, CSRF
tokens and the renewal lock live in the shared (Redis) session store.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from qbizfed.errors import ConfigError
from qbizfed.settings.serve import WebSettings

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from qbizfed.web.sessions import SessionStore

WORKER_START_SECONDS = 120.0
"""How long the workers may take to start (imports and app) before serve gives up."""

SERVER_OPTIONS: dict[str, Any] = {
    "access_log": False,
    "proxy_headers": False,
    "server_header": False,
    "http": "h11",
    "loop": "asyncio",
}
"""uvicorn's options for the broker (also used by its tests and benchmarks), named so that
installing uvicorn's optional speed-ups never changes them silently.

The HTTP parser is h11 on purpose: uvicorn's ``httptools`` parser, though cheaper,
accepts a request head of any size (an 8 MB header was served) where h11 answers 400 once
an unfinished head outgrows 16 KiB (a 200 KB header), and it also accepts HTTP/0.9 and
HTTP/1.1 without ``Host``; tests/adversarial/test_web_request_limits.py holds serve to
h11's refusal of an endless head. uvloop was measured and left out: the broker's CPU per
sign-in was the same as on asyncio's loop (login benchmark, alternating runs)."""

# At DEBUG these libraries log request bodies (ID tokens, SAML assertions, credentials).
_QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "httpcore", "s3transfer")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the app starts (so port 0 can be reported)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections queue until uvicorn accepts them
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            remedy="stop whatever uses that port, or pass --port with another one (0 = any)",
        ) from exc
    return sock


def broker_server(config: uvicorn.Config, *, ready: str) -> uvicorn.Server:
    """uvicorn's server that prints ``ready`` once it accepts connections (its Ctrl-C and
    SIGTERM handlers are in place by then) and ends normally when stopped.

    uvicorn re-raises Ctrl-C/SIGTERM after its graceful shutdown, so that its own CLI
    dies of the signal; for ``qbizfed serve`` a requested stop is the normal end (exit
    0), as for ``qbizfed local aws``, ``idp`` and ``up``.
    """
    import uvicorn

    class BrokerServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                typer.echo(ready)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return BrokerServer(config)


def configure_logging(level: str, *, workers: int) -> None:
    """Log lines on stderr; with several workers each line names its process id."""
    import logging

    process = " [%(process)d]" if workers > 1 else ""
    logging.basicConfig(
        level=level.upper(), format=f"%(asctime)s %(levelname)s %(name)s{process} %(message)s"
    )
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))


@dataclass(frozen=True)
class BrokerApp:
    """The app factory each worker process calls (uvicorn ``factory=True``): values only,
    so that it is pickled to workers started with ``spawn``."""

    settings: WebSettings
    log_level: str = "info"

    def __call__(self) -> FastAPI:
        from qbizfed.web.app import create_app

        configure_logging(self.log_level, workers=self.settings.workers)
        return create_app(self.settings, session_store=session_store_of(self.settings))


def session_store_of(settings: WebSettings) -> SessionStore:
    """The store ``settings.sessions`` names (``memory://`` or Redis, sealed by its key)."""
    from qbizfed.web.redis_store import session_store_from_url

    key = settings.sessions.key
    return session_store_from_url(settings.sessions.store, key=str(key) if key else None)


def run_workers(config: uvicorn.Config, sock: socket.socket, *, ready: str) -> None:
    """uvicorn's supervisor for ``config.workers`` processes on ``sock``: prints ``ready``
    once every worker accepts connections; returns when stopped (Ctrl-C, SIGTERM);
    raises ``ConfigError`` when a worker cannot start."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    class BrokerWorkers(Multiprocess):
        def init_processes(self) -> None:
            super().init_processes()
            for process in self.processes:
                if not process.wait_until_ready(WORKER_START_SECONDS, self.should_exit):
                    return  # the supervisor's loop sees the failed worker and stops
            typer.echo(ready)

    supervisor = BrokerWorkers(config, sockets=[sock])
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise ConfigError(
            "a serve worker could not start (its error is logged above)",
            remedy="fix what the worker's log names, then start serve again",
        )


def serve(
    config: Path | None = typer.Option(
        None, "--config", help="TOML file whose serve table overrides the environment."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on; 0 picks a free one."),
    log_level: str = typer.Option("info", help="Log level: debug, info, warning, error."),
    session_store: str | None = typer.Option(
        None,
        "--session-store",
        help="memory:// (one instance) or redis://host:6379/0, rediss://... (several "
        "instances behind a load balancer; needs a session key). Default: [serve.sessions] "
        "store, else QBIZFED_SESSION_STORE, else memory://.",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Processes serving the port (uvicorn's multi-process mode), about one per "
        "core; more than 1 needs a Redis --session-store. Default: [serve] workers, else 1.",
    ),
) -> None:
    """Run the web broker: users sign in with OIDC or SAML and get tagged AWS credentials."""
    import uvicorn

    from qbizfed.settings.serve import load_settings
    from qbizfed.web.app import create_app

    settings = load_settings(config, env=os.environ)
    settings = replace(
        settings,
        sessions=replace(settings.sessions, store=session_store or settings.sessions.store),
        workers=settings.workers if workers is None else workers,
    ).check()
    store = session_store_of(settings)  # refuses a malformed URL or key before binding
    configure_logging(log_level, workers=settings.workers)
    sock = bind(host, port)
    bound_port = int(sock.getsockname()[1])
    methods = [name for name, on in (("OIDC", settings.oidc), ("SAML", settings.saml)) if on]
    shown = f"[{host}]" if ":" in host else host
    ready = f"qbizfed serve: {' and '.join(methods)} sign-in on http://{shown}:{bound_port}/"
    options: dict[str, Any] = {**SERVER_OPTIONS, "log_level": log_level.lower()}
    try:
        if settings.workers > 1:
            run_workers(
                uvicorn.Config(
                    BrokerApp(settings, log_level),
                    factory=True,
                    workers=settings.workers,
                    **options,
                ),
                sock,
                ready=ready + f" ({settings.workers} workers)",
            )
            return
        app = create_app(settings, session_store=store)
        broker_server(uvicorn.Config(app, **options), ready=ready).run(sockets=[sock])
    finally:
        sock.close()
