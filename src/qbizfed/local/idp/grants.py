"""Short-lived server-side state of the dev IdP, kept in memory with expiry.

Authorization codes (single use; a replayed code revokes what it produced, RFC 6749
§4.1.2), access and refresh tokens (refresh tokens rotate on use), browser login
sessions and pending interactions (an authorization or SAML request waiting for the
login form). Every value is opaque and random; nothing here is ever logged.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

V = TypeVar("V")

Clock = Callable[[], float]


def new_handle(nbytes: int = 32) -> str:
    """A fresh unguessable, URL-safe value."""
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class LoginSession:
    """A signed-in browser at the IdP (SSO): who, and when they typed the password."""

    sid: str
    """Public session ID (OIDC ``sid`` claim, SAML ``SessionIndex``), not the cookie."""
    username: str
    auth_time: int


@dataclass(frozen=True)
class CodeGrant:
    client_id: str
    redirect_uri: str
    username: str
    scope: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    auth_time: int
    sid: str
    used: bool = False
    issued_tokens: tuple[str, ...] = ()
    """Access and refresh tokens minted from this code (revoked if the code is replayed)."""


@dataclass(frozen=True)
class TokenGrant:
    """What an access or refresh token stands for."""

    kind: str  # "access" | "refresh"
    client_id: str
    username: str
    scope: tuple[str, ...]
    auth_time: int
    sid: str


@dataclass
class _Entry(Generic[V]):
    value: V
    expires_at: float


@dataclass
class ExpiringStore(Generic[V]):
    """A thread-safe map whose entries disappear after their time to live."""

    clock: Clock = time.time
    _items: dict[str, _Entry[V]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, key: str, value: V, ttl_seconds: float) -> None:
        with self._lock:
            self._sweep()
            self._items[key] = _Entry(value, self.clock() + ttl_seconds)

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            if entry.expires_at <= self.clock():
                del self._items[key]
                return None
            return entry.value

    def pop(self, key: str) -> V | None:
        with self._lock:
            entry = self._items.pop(key, None)
            if entry is None or entry.expires_at <= self.clock():
                return None
            return entry.value

    def discard(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, e in self._items.items() if e.expires_at <= now]:
            del self._items[key]


class CodeStore:
    """Authorization codes: redeemable once; a second redemption revokes its tokens."""

    def __init__(self, tokens: ExpiringStore[TokenGrant], ttl_seconds: float, clock: Clock) -> None:
        self._codes: ExpiringStore[CodeGrant] = ExpiringStore(clock)
        self._tokens = tokens
        self._ttl = ttl_seconds
        # Used codes are remembered longer than they live, so a late replay is still seen.
        self._replay_window = max(ttl_seconds * 10, 600.0)
        self._lock = threading.Lock()

    def issue(self, grant: CodeGrant) -> str:
        code = new_handle()
        self._codes.put(code, grant, self._ttl)
        return code

    def redeem(self, code: str) -> CodeGrant | None:
        """The grant on first use; None for unknown, expired or replayed codes."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                return None
            if grant.used:
                for token in grant.issued_tokens:
                    self._tokens.discard(token)
                return None
            self._codes.put(code, replace(grant, used=True), self._replay_window)
            return grant

    def record_tokens(self, code: str, tokens: tuple[str, ...]) -> None:
        with self._lock:
            grant = self._codes.get(code)
            if grant is not None:
                self._codes.put(
                    code,
                    replace(grant, issued_tokens=grant.issued_tokens + tokens),
                    self._replay_window,
                )
