"""The local endpoint's one loopback port: HTTP/1.1, HTTP/2 (h2c) and WebSocket.

AWS's clients do not all speak the same HTTP: boto3 and the AWS CLI send HTTP/1.1,
the AWS SDK for JavaScript v3's Q Business client (and the new AWS SDK for Python)
send HTTP/2 with prior knowledge to an ``http://`` endpoint, and streaming chat is a
WebSocket upgrade on ``GET /chat``. One port serves them all, the way AWS's endpoints
do, so that a client configured with one ``AWS_ENDPOINT_URL`` works unchanged.

The server is hypercorn (maintained, sans-IO ``h11``/``h2``/``wsproto`` underneath;
h2c by prior knowledge and by upgrade, WebSocket over HTTP/1.1, ASGI, runs inside this
process's event loop). Compared: werkzeug's development server (used before) speaks
HTTP/1.1 only and answers HTTP/2 with 505; uvicorn has no HTTP/2; daphne offers HTTP/2
only over TLS; granian runs applications in its own worker runtime rather than a thread
of ours. The edge and
moto are WSGI applications; :class:`EndpointApp` hands HTTP requests to them through
``a2wsgi`` (a thread pool, so a slow handler never blocks the event loop) and
WebSocket upgrades to the async handlers registered by path. Everything stays in
this process: moto's state is the test's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from qbizfed.errors import LocalStackError
from qbizfed.local.moto_backend import WsgiApp

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WebSocketHandler = Callable[[Scope, Receive, Send], Awaitable[None]]

HTTP_WORKERS = 64
"""Threads for WSGI requests: fault latency sleeps in them, so leave room."""
WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""hypercorn's own ceiling; the streaming handler enforces its (smaller) frame limit
itself so that it can answer with an exception frame."""
START_TIMEOUT_SECONDS = 10.0


class EndpointApp:
    """ASGI: HTTP to the WSGI edge, WebSocket upgrades to handlers by path."""

    def __init__(self, wsgi_app: WsgiApp, websocket_routes: Mapping[str, WebSocketHandler]):
        from a2wsgi import WSGIMiddleware

        self._http = WSGIMiddleware(cast(Any, wsgi_app), workers=HTTP_WORKERS)
        self._websocket_routes = dict(websocket_routes)
        self.started = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(cast(Any, scope), cast(Any, receive), cast(Any, _coalesced(send)))
        elif kind == "websocket":
            handler = self._websocket_routes.get(scope["path"])
            if handler is None:
                await refuse_upgrade(send, 404, "UnknownOperationException", "No such endpoint")
            else:
                await handler(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.started.set()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return


def _coalesced(send: Send) -> Send:
    """Hold the response head until the first body chunk, then send both at once.

    The AWS SDK for JavaScript's HTTP/2 handler (one session per request for clients
    with event streams) sends GOAWAY as soon as it has the response headers, and
    hypercorn closes the connection on a client's GOAWAY without finishing the
    streams in flight: a body sent a moment after its headers is lost. Sent back to
    back, the body is on the wire before the client can react to the headers.
    """
    held: list[dict[str, Any]] = []

    async def send_coalesced(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if held:
            await send(held.pop())
        await send(message)

    return send_coalesced


async def refuse_upgrade(send: Send, status: int, code: str, message: str) -> None:
    """Answer a WebSocket upgrade with an HTTP error in Q Business's rest-json form."""
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-amzn-errortype", code.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def _ignore_cancelled_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Connections still open at stop are cancelled; that is not an error to print."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class LoopbackServer:
    """hypercorn on a socket bound here (so port 0 is known at once), in a thread."""

    def __init__(self, app: EndpointApp, host: str, port: int) -> None:
        self._app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(1024)
        except OSError:
            listener.close()
            raise
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="qbizfed-local-aws", daemon=True)
        self._thread.start()
        deadline = START_TIMEOUT_SECONDS
        while not self._app.started.wait(0.01):
            deadline -= 0.01
            if self._failure is not None or not self._thread.is_alive() or deadline <= 0:
                raise LocalStackError(
                    f"the local AWS endpoint did not start: {self._failure!r}",
                    remedy="see the error above; report it if it persists",
                )

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._failure = exc

    async def _serve(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_ignore_cancelled_connections)
        self._stopping = asyncio.Event()
        config = Config()
        # hypercorn takes ownership of the descriptor it is given: give it a copy.
        config.bind = [f"fd://{os.dup(self._listener.fileno())}"]
        self._listener.close()
        config.accesslog = None
        config.loglevel = "WARNING"  # no "Running on" line: the CLI prints its own
        config.graceful_timeout = 1.0
        config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
        config.include_server_header = False
        await serve(cast(Any, self._app), config, shutdown_trigger=self._stopping.wait, mode="asgi")

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listener.close()
        self._thread = None
