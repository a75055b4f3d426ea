"""Shared harness for the web broker's tests: the app under uvicorn on 127.0.0.1, port 0.

Also home to :class:`RecordingIssuer`, a fake at the one STS seam (``create_app(sts=)``)
for tests about the web layer itself; end-to-end tests use the real STS adapter
against ``qbizfed local aws``. The tests at the bottom check the harness itself.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from qbizfed.cli.serve import SERVER_OPTIONS
from qbizfed.credentials import AwsCredentials
from qbizfed.identity.federated import FederatedIdentity, SamlRole


class UvicornServer:
    """A FastAPI app served by uvicorn from a thread; the socket is bound before the app
    is built, so settings (redirect URI, ACS URL) can contain the real port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: FastAPI) -> UvicornServer:
        # serve's own uvicorn options (event loop, HTTP parser), so tests see what users do
        config = uvicorn.Config(app, **SERVER_OPTIONS, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sock.close()


@dataclass
class RecordingIssuer:
    """Credentials at the STS seam, recording what the web layer asked for."""

    calls: list[tuple[str, FederatedIdentity, str, int]] = field(default_factory=list)
    error: Exception | None = None
    lifetime: timedelta = timedelta(hours=1)

    def _creds(self, identity: FederatedIdentity, role_arn: str) -> AwsCredentials:
        if self.error is not None:
            raise self.error
        n = len(self.calls)
        return AwsCredentials(
            access_key_id=f"ASIAFAKE{n:012d}",
            secret_access_key=f"fake-secret-{n}-" + "s" * 24,
            session_token=f"fake-session-token-{n}-" + "t" * 64,
            expiration=datetime.now(UTC) + self.lifetime,
            region="us-east-1",
            role_arn=role_arn,
            assumed_role_arn=f"arn:aws:sts::123456789012:assumed-role/r/{identity.email}",
        )

    async def for_web_identity(
        self, identity: FederatedIdentity, *, role_arn: str, duration_seconds: int
    ) -> AwsCredentials:
        self.calls.append(("oidc", identity, role_arn, duration_seconds))
        return self._creds(identity, role_arn)

    async def for_saml(
        self, identity: FederatedIdentity, *, role: SamlRole, duration_seconds: int
    ) -> AwsCredentials:
        self.calls.append(("saml", identity, role.role_arn, duration_seconds))
        return self._creds(identity, role.role_arn)


# --- self-tests ------------------------------------------------------------------------


@pytest.fixture
def tiny_server() -> Iterator[UvicornServer]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, Any]:
        return {"ok": True}

    server = UvicornServer().start(app)
    yield server
    server.stop()


def test_harness_serves_on_loopback_with_the_pre_bound_port(tiny_server: UvicornServer) -> None:
    response = httpx.get(tiny_server.url + "/ping")
    assert response.json() == {"ok": True}
    assert tiny_server.url.startswith("http://127.0.0.1:")


def test_recording_issuer_can_fail() -> None:
    import asyncio

    issuer = RecordingIssuer(error=RuntimeError("boom"))
    identity = FederatedIdentity(
        protocol="oidc", email="a@example.com", subject="s", issuer="i", credential="t"
    )
    with pytest.raises(RuntimeError):
        asyncio.run(issuer.for_web_identity(identity, role_arn="r", duration_seconds=900))
