"""Server processes of the benchmarks: ``python -m bench.servers KIND CONFIG_JSON``.

Kinds: ``aws`` (``qbizfed local aws``), ``idp`` (the dev IdP behind a slow token
endpoint), ``serve`` (qbizfed's web broker, OIDC and SAML), ``baseline`` and
``saml_baseline`` (the samples' designs, see :mod:`bench.baselines.sample_oidcapp` and
:mod:`bench.baselines.sample_samlapp`). The child prints ``{"url": ...}`` on its first
line once it accepts connections and exits when its stdin closes. Started only by
:class:`bench.processes.ChildServer`; everything binds to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
KEEP_ALIVE_SECONDS = 75
Wsgi = Callable[[dict[str, Any], Any], Iterable[bytes]]


def announce(url: str) -> None:
    print(json.dumps({"url": url}), flush=True)


def wait_for_parent(stop: Callable[[], None]) -> threading.Thread:
    """Call ``stop`` when the parent closes our stdin (or dies)."""

    def watch() -> None:
        sys.stdin.read()
        stop()

    thread = threading.Thread(target=watch, name="bench-parent-watch", daemon=True)
    thread.start()
    return thread


class SlowTokenEndpoint:
    """WSGI middleware: every request to the token path waits ``delay_ms`` first.

    This is the benchmark's "slow IdP": the delay is spent in the IdP's own request
    thread, so a client sees a token endpoint that answers in ``delay_ms`` + its work.
    """

    def __init__(self, app: Wsgi, *, path: str, delay_ms: float) -> None:
        self.app = app
        self.path = path
        self.delay = delay_ms / 1000.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.delay and environ.get("PATH_INFO") == self.path:
            time.sleep(self.delay)
        return self.app(environ, start_response)


def run_aws(config: dict[str, Any]) -> None:
    import logging

    from werkzeug.serving import BaseWSGIServer

    from qbizfed.local.stack import LocalAws, LocalAwsSettings

    # 200 users connect at once; werkzeug's default listen backlog (128) would make the
    # kernel drop SYNs and the clients wait a second to retry.
    BaseWSGIServer.request_queue_size = 2048
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
    corpus = config.get("corpus_dir")
    stack = LocalAws(
        LocalAwsSettings(
            port=0,
            active_delay_seconds=float(config.get("active_delay_seconds", 0.0)),
            corpus_dir=Path(corpus) if corpus else None,
            stream_delay_ms=int(config.get("stream_delay_ms", 0)),
        )
    ).start()
    done = threading.Event()
    wait_for_parent(done.set)
    announce(stack.url)
    done.wait()
    stack.stop()


def run_idp(config: dict[str, Any]) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    from qbizfed.local.idp.app import IdpApp, IdpEndpoints
    from qbizfed.local.idp.oidc import TOKEN_PATH
    from qbizfed.local.idp.server import DevIdp, DevIdpSettings
    from qbizfed.local.idp.users import OidcClient, Secret, ServiceProvider

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return

    clients = tuple(
        OidcClient(
            client_id=c["client_id"],
            client_secret=Secret(c["client_secret"]),
            redirect_uris=tuple(c["redirect_uris"]),
        )
        for c in config["clients"]
    )
    # DevIdp supplies the demo directory and fresh keys; the app is served here so that
    # the slow-token middleware sits in front of it.
    service_providers = tuple(
        ServiceProvider(entity_id=sp["entity_id"], acs_urls=tuple(sp["acs_urls"]),
                        role_arn=sp["role_arn"], provider_arn=sp["provider_arn"])
        for sp in config.get("service_providers", [])
    )  # fmt: skip
    idp = DevIdp(DevIdpSettings(port=0, clients=clients, service_providers=service_providers))
    app = IdpApp(
        endpoints=IdpEndpoints(base_url=config["url"]), keys=idp.keys, directory=idp.directory
    )
    slow = SlowTokenEndpoint(app, path=TOKEN_PATH, delay_ms=float(config["token_delay_ms"]))
    server = make_server(
        LOOPBACK, 0, slow, threaded=True, request_handler=QuietHandler, fd=int(config["fd"])
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    done = threading.Event()
    wait_for_parent(done.set)
    announce(config["url"])
    done.wait()
    server.shutdown()
    server.server_close()


BASELINE_SERVER_OPTIONS: dict[str, Any] = {"http": "h11", "loop": "asyncio"}
"""The samples' designs keep the uvicorn defaults they were always measured with here
(pure-Python h11, asyncio's own loop), whatever else the web extra installs."""


def _run_asgi(app: Any, fd: int, url: str, *, kind: str, options: dict[str, Any]) -> None:
    """uvicorn on the inherited socket; with ``QBIZFED_BENCH_PROFILE_DIR`` set, the event
    loop's thread runs under cProfile and the stats land in that folder on exit."""
    import uvicorn

    sock = socket.socket(fileno=fd)
    # Keep-alive longer than the slowest login under load: httpx (unlike a browser) does
    # not retry a request on a connection the server closed while the client was at the IdP.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            **{"access_log": False, **options},
            log_level="warning",
            lifespan="on",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    wait_for_parent(lambda: setattr(server, "should_exit", True))

    def announce_when_started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        announce(url)

    threading.Thread(target=announce_when_started, daemon=True).start()
    profile_dir = os.environ.get("QBIZFED_BENCH_PROFILE_DIR")
    if not profile_dir:
        server.run(sockets=[sock])
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run(sockets=[sock])
    finally:
        profiler.disable()
        profiler.dump_stats(Path(profile_dir) / f"{kind}-{os.getpid()}.prof")


def run_serve(config: dict[str, Any]) -> None:
    """serve with its chat pages; ``workers`` > 1 as ``qbizfed serve --workers`` runs it."""
    from starlette.datastructures import Secret

    from qbizfed.settings.chat import ChatSettings
    from qbizfed.settings.oidc import OidcRegistration
    from qbizfed.settings.saml import SamlRegistration
    from qbizfed.settings.serve import SessionSettings, WebSettings
    from qbizfed.web.app import create_app

    saml = config.get("saml")
    key = config.get("session_key")
    settings = WebSettings(
        oidc=OidcRegistration(
            issuer=config["issuer"],
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            redirect_uri=config["url"] + "/auth/oidc/callback",
            role_arn=config["role_arn"],
            allow_insecure_loopback_http=True,
        ),
        saml=SamlRegistration(
            idp_sso_url=saml["idp_sso_url"],
            idp_issuer=saml["idp_entity_id"],
            acs_url=config["url"] + "/saml",
            idp_certificate=saml["idp_certificate"],
            role_arn=saml["role_arn"],
            provider_arn=saml["provider_arn"],
            allow_insecure_loopback_http=True,
        )
        if saml
        else None,
        aws_region=config["region"],
        aws_endpoint_url=config["aws_url"],
        chat=ChatSettings(
            application_id=config.get("application_id") or None,
            max_concurrent_calls=int(config.get("chat_concurrency", 32)),
        ),
        sessions=SessionSettings(
            store=config.get("session_store", "memory://"), key=Secret(key) if key else None
        ),
        workers=int(config.get("workers", 1)),
    )
    if settings.workers > 1:
        _run_workers(settings, int(config["fd"]), config["url"])
        return
    from qbizfed.cli.serve import SERVER_OPTIONS

    _run_asgi(
        create_app(settings), int(config["fd"]), config["url"], kind="serve",
        options=SERVER_OPTIONS,
    )  # fmt: skip


def _run_workers(settings: Any, fd: int, url: str) -> None:
    """``qbizfed serve --workers N`` on the inherited socket: the same supervisor and app
    factory; stopped (SIGTERM to the supervisor) when the parent closes our stdin."""
    import uvicorn

    from qbizfed.cli.serve import SERVER_OPTIONS, BrokerApp, run_workers

    wait_for_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    config = uvicorn.Config(
        BrokerApp(settings, log_level="warning"),
        factory=True,
        workers=settings.workers,
        **SERVER_OPTIONS,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    run_workers(config, socket.socket(fileno=fd), ready=json.dumps({"url": url}))


def run_baseline(config: dict[str, Any]) -> None:
    from bench.baselines.sample_oidcapp import SampleSettings, create_sample_app

    settings = SampleSettings(
        issuer=config["issuer"],
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        redirect_uri=config["url"] + "/auth/oidc/callback",
        role_arn=config["role_arn"],
        region=config["region"],
        aws_endpoint_url=config["aws_url"],
    )
    _run_asgi(
        create_sample_app(settings), int(config["fd"]), config["url"], kind="baseline",
        options=BASELINE_SERVER_OPTIONS,
    )  # fmt: skip


def run_saml_baseline(config: dict[str, Any]) -> None:
    from bench.baselines.sample_samlapp import SampleSamlSettings, create_sample_saml_app

    settings = SampleSamlSettings(
        idp_sso_url=config["idp_sso_url"],
        sp_issuer=config["url"] + "/saml",
        acs_url=config["url"] + "/saml",
        role_arn=config["role_arn"],
        provider_arn=config["provider_arn"],
        region=config["region"],
        aws_endpoint_url=config["aws_url"],
    )
    app = create_sample_saml_app(settings)
    _run_asgi(
        app, int(config["fd"]), config["url"], kind="saml_baseline",
        options=BASELINE_SERVER_OPTIONS,
    )  # fmt: skip


KINDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "aws": run_aws,
    "idp": run_idp,
    "serve": run_serve,
    "baseline": run_baseline,
    "saml_baseline": run_saml_baseline,
}


def main() -> None:
    kind, config = sys.argv[1], json.loads(sys.argv[2])
    KINDS[kind](config)


if __name__ == "__main__":
    main()
