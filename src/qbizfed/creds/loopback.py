"""The loopback redirect receiver of ``qbizfed login`` (RFC 8252 §7.3).

Listens on ``127.0.0.1`` with an ephemeral port (or a fixed one for IdPs that match
redirect URIs exactly), waits for the browser to come back with the authorization
response (``GET /callback?code=...&state=...``) or a SAML response
(``POST /saml/acs``), answers with a page that tells the user to close the tab, and
hands the parameters to the caller. Callbacks whose ``state``/``RelayState`` does not
match the login in progress are answered with 400 and ignored, so another local
process cannot end a login by guessing the port. Nothing received is logged.
"""

from __future__ import annotations

import hmac
import queue
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from qbizfed.errors import IdentityError
from qbizfed.url_policy import is_loopback_ip

CALLBACK_PATH = "/callback"
SAML_ACS_PATH = "/saml/acs"
MAX_BODY_BYTES = 1024 * 1024

_DONE_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>qbizfed</title></head>"
    b"<body><h1>Signed in</h1><p>You can close this tab and return to the terminal.</p>"
    b"</body></html>"
)
_REFUSED_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>qbizfed</title></head>"
    b"<body><h1>Not for this login</h1><p>This response does not belong to the login "
    b"in progress.</p></body></html>"
)


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class LoginTimeoutError(IdentityError):
    """The browser did not come back to the loopback address in time."""


def _single_values(raw: dict[str, list[str]]) -> dict[str, str] | None:
    """First value of each parameter; ``None`` if any parameter is repeated (RFC 6749 §3.1)."""
    if any(len(values) != 1 for values in raw.values()):
        return None
    return {key: values[0] for key, values in raw.items()}


class LoopbackReceiver:
    """A one-shot HTTP server on loopback; use as a context manager."""

    def __init__(
        self,
        *,
        expected_state: Callable[[], str | None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not is_loopback_ip(host):  # an IP literal: a name could resolve elsewhere
            raise ValueError("the login redirect must listen on a loopback IP address")
        self._expected_state = expected_state or (lambda: None)
        self._results: queue.Queue[dict[str, str]] = queue.Queue(maxsize=1)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "qbizfed-login"
            sys_version = ""

            def log_message(self, format: str, *args: object) -> None:
                return  # the query string holds the authorization code

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._answer(404, b"not found")
                    return
                params = _single_values(parse_qs(parts.query, keep_blank_values=True))
                self._deliver(params, state_key="state")

            def do_POST(self) -> None:
                if urlsplit(self.path).path != SAML_ACS_PATH:
                    self._answer(404, b"not found")
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY_BYTES:
                    self._answer(413, b"too large")
                    return
                body = self.rfile.read(length).decode("ascii", errors="replace")
                params = _single_values(parse_qs(body, keep_blank_values=True))
                self._deliver(params, state_key="RelayState")

            def _deliver(self, params: dict[str, str] | None, *, state_key: str) -> None:
                expected = receiver._expected_state()
                got = (params or {}).get(state_key, "")
                if params is None or (
                    expected is not None
                    and not hmac.compare_digest(got.encode(), expected.encode())
                ):
                    self._answer(400, _REFUSED_PAGE)
                    return
                try:
                    receiver._results.put_nowait(params)
                except queue.Full:
                    self._answer(400, _REFUSED_PAGE)
                    return
                self._answer(200, _DONE_PAGE)

        server_class = _V6Server if ":" in host else ThreadingHTTPServer
        try:
            self._server = server_class((host, port), Handler)
        except OSError as exc:
            raise IdentityError(
                f"cannot listen on {host}:{port} for the login redirect: {exc.strerror}",
                remedy="free that port, or set redirect_port = 0 in the profile for any free port",
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # prompt shutdown once the browser came back
            name="qbizfed-login-loopback",
            daemon=True,
        )
        self.host = host

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return self.base_url + CALLBACK_PATH

    @property
    def acs_url(self) -> str:
        return self.base_url + SAML_ACS_PATH

    def start(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def wait(self, timeout: float) -> dict[str, str]:
        """The parameters of the first callback that matched the login in progress."""
        try:
            return self._results.get(timeout=timeout)
        except queue.Empty:
            raise LoginTimeoutError(
                f"no sign-in response reached {self.base_url} within {timeout:.0f} s",
                remedy="finish signing in within the time limit (or raise --timeout), and "
                "check that the IdP allows the redirect URI "
                f"{self.redirect_uri} (any port on 127.0.0.1, RFC 8252)",
            ) from None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
