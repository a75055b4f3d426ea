"""A clock tests move forward, for hours of a ``serve`` session lived in seconds.

``create_app(clock=MovableClock())`` decides session ends and credential renewals on
it. :class:`ClockedIssuer` wraps the real STS issuer: STS issues real credentials (15
minutes at least, longer than a test runs), and their expiry is restated from the
test clock's now with the same lifetime. :class:`RefreshGrants` counts the refresh
grants a broker sends, as an ``httpx`` request hook on its IdP client.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from qbizfed.identity.federated import FederatedIdentity, SamlRole
from qbizfed.web.browser_session import SessionCredentials
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer


class MovableClock:
    """Real time plus an offset the test moves forward (thread-safe enough: one float)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class ClockedIssuer:
    """The real STS issuer; each credential's lifetime is kept, but counted from the test
    clock's now (STS issued it for 15 real minutes, far longer than the test runs)."""

    inner: ThreadPoolStsIssuer
    clock: MovableClock
    web_identity_calls: int = 0

    def _shifted(self, creds: SessionCredentials) -> SessionCredentials:
        lifetime = creds.expiration - datetime.now(UTC)
        return replace(creds, expiration=datetime.fromtimestamp(self.clock(), UTC) + lifetime)

    async def for_web_identity(
        self, identity: FederatedIdentity, *, role_arn: str, duration_seconds: int
    ) -> SessionCredentials:
        self.web_identity_calls += 1
        creds = await self.inner.for_web_identity(
            identity, role_arn=role_arn, duration_seconds=duration_seconds
        )
        return self._shifted(creds)

    async def for_saml(
        self, identity: FederatedIdentity, *, role: SamlRole, duration_seconds: int
    ) -> SessionCredentials:
        creds = await self.inner.for_saml(identity, role=role, duration_seconds=duration_seconds)
        return self._shifted(creds)


@dataclass
class RefreshGrants:
    """Refresh grants every instance sent to the IdP's token endpoint (their http hook)."""

    count: int = 0
    tokens: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def hook(self, request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/token"):
            body = request.content.decode()
            if "grant_type=refresh_token" in body:
                with self.lock:
                    self.count += 1
