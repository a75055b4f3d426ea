"""``qbizfed serve``: the web broker (sign in with OIDC or SAML, get identity-aware credentials).

Settings come from the sample's environment variables and/or the ``[serve]`` table of
``--config`` (see :mod:`qbizfed.settings.serve`). uvicorn's access log is replaced by a
path-only one, because callback URLs carry authorization codes and states.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from qbizfed.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

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
) -> None:
    """Run the web broker: users sign in with OIDC or SAML and get tagged AWS credentials."""
    import logging

    import uvicorn

    from qbizfed.settings.serve import load_settings
    from qbizfed.web.app import create_app
    from qbizfed.web.redis_store import session_store_from_url

    settings = load_settings(config, env=os.environ)
    key = settings.sessions.key
    store = session_store_from_url(
        session_store or settings.sessions.store, key=str(key) if key is not None else None
    )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
    sock = bind(host, port)
    bound_port = int(sock.getsockname()[1])
    methods = [name for name, on in (("OIDC", settings.oidc), ("SAML", settings.saml)) if on]
    shown = f"[{host}]" if ":" in host else host
    server = broker_server(
        uvicorn.Config(
            create_app(settings, session_store=store),
            access_log=False,
            log_level=log_level.lower(),
            proxy_headers=False,
            server_header=False,
        ),
        ready=f"qbizfed serve: {' and '.join(methods)} sign-in on http://{shown}:{bound_port}/",
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
