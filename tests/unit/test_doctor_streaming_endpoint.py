"""Doctor's streaming-endpoint check: a TCP connection only, OK / FAIL with the fix / SKIP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from qbizfed.doctor.checks_stream import NAME, check_streaming_endpoint
from qbizfed.doctor.result import Status


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server
    finally:
        server.close()


def test_a_reachable_loopback_endpoint_is_ok_and_nothing_is_sent(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = check_streaming_endpoint("us-east-1", f"http://127.0.0.1:{port}")
    assert result.name == NAME
    assert result.status is Status.OK
    assert f"127.0.0.1:{port}" in result.looked_at
    accepted, _ = listener.accept()
    accepted.settimeout(1)
    assert accepted.recv(1) == b""  # connected and closed: no request was sent
    accepted.close()


def test_aws_host_is_checked_without_a_custom_endpoint() -> None:
    tried: list[tuple[str, int]] = []

    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        tried.append(address)
        raise TimeoutError("timed out")

    result = check_streaming_endpoint("eu-west-1", None, connect=connect)
    assert tried == [("qbusiness-websocket.eu-west-1.api.aws", 443)]
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert "qbusiness-websocket.eu-west-1.api.aws port 443" in result.fix.summary
    assert "--no-stream" in result.fix.summary


def test_a_blocked_port_fails_with_the_firewall_fix(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there any more: connection refused
    result = check_streaming_endpoint("us-east-1", f"http://127.0.0.1:{port}")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert "firewall" in result.fix.summary


def test_offline_is_a_skip() -> None:
    def offline(address: tuple[str, int], timeout: float) -> socket.socket:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = check_streaming_endpoint("us-east-1", None, connect=offline)
    assert result.status is Status.SKIP
    assert "offline" in result.detail


def test_plain_http_beyond_loopback_fails() -> None:
    result = check_streaming_endpoint("us-east-1", "http://proxy.example.com:8080")
    assert result.status is Status.FAIL
    assert "loopback" in result.detail
