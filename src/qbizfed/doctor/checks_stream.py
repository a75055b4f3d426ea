"""Can this machine reach Q Business's streaming chat endpoint?

Streamed answers (``qbizfed ask`` in a terminal, ``serve``'s chat page, the library's
``Conversation.stream``) use a WebSocket to ``qbusiness-websocket.<region>.api.aws``
on port 443, a different host from the rest of the API, which corporate firewalls
and proxies allow-lists often miss. The check opens a TCP connection and closes it:
no request is sent, so nothing is signed and nothing reaches AWS's service. Under a
custom ``AWS_ENDPOINT_URL`` (``qbizfed local aws``) it checks that endpoint's host and
port instead, as the client would use. A machine that cannot resolve names at all is
offline: the check is skipped.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from qbizfed.aws.chat_stream import stream_endpoint
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip
from qbizfed.errors import ConfigError

NAME = "network.streaming-endpoint"
CONNECT_TIMEOUT = 5.0

Connect = Callable[[tuple[str, int], float], Any]


def _connect(address: tuple[str, int], timeout: float) -> Any:
    return socket.create_connection(address, timeout=timeout)


def check_streaming_endpoint(
    region: str,
    endpoint_url: str | None,
    *,
    connect: Connect = _connect,
    timeout: float = CONNECT_TIMEOUT,
) -> CheckResult:
    """OK when a TCP connection opens; FAIL (with the firewall rule to add) when it does
    not; SKIP when names do not resolve (offline)."""
    try:
        url = stream_endpoint(endpoint_url, region)
    except ConfigError as err:
        return fail(NAME, f"streaming endpoint for {endpoint_url}", err.message,
                    Fix(err.remedy))  # fmt: skip
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    looked_at = f"TCP {host}:{port} (streamed chat: {url})"
    try:
        connection = connect((host, port), timeout)
    except socket.gaierror as exc:
        return skip(NAME, looked_at, f"cannot resolve {host} ({exc.strerror}): offline?")
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        return fail(
            NAME, looked_at,
            f"cannot open a TCP connection to {host}:{port}: {reason}. Streamed answers "
            "(qbizfed ask in a terminal, the chat page) will fail; ChatSync still works",
            Fix(
                f"allow outbound HTTPS with WebSocket upgrades to {host} port {port} in the "
                "firewall or proxy (besides qbusiness.<region>.api.aws); until then use "
                "`qbizfed ask --no-stream`",
                command=f"nc -vz {host} {port}",
            ),
        )  # fmt: skip
    close = getattr(connection, "close", None)
    if callable(close):
        close()
    return ok(NAME, looked_at, "a TCP connection opens (no request was sent)")
