"""A :class:`~qbizfed.web.sessions.SessionStore` in Redis, shared by several broker instances.

Everything the web app keeps between requests goes through the one ``SessionStore``
seam: browser sessions (``session:``), pending OIDC logins with their state, nonce and
PKCE verifier (``oidc-state:``), SAML relay states, tickets and role choices, issued
AuthnRequest IDs (``saml-request:``) and the assertion replay cache
(``saml-assertion:``). With this store any number of ``qbizfed serve`` instances behind
a load balancer see the same state, and an instance can restart without signing
anybody out.

Each operation is one Redis command, so one-time use holds across instances:

=============  ===================================  ==================================
``get``        ``GET``
``set``        ``SET key value PX ttl``             the TTL is the caller's: a signed-in
                                                    session lives as long as its STS
                                                    credentials (``BrowserSessions``)
``delete``     ``DEL``
``take``       ``GETDEL``                           at most one caller gets the value
``add_once``   ``SET key 1 NX PX ttl``              exactly one caller claims the key
``lock``       redis-py's ``Lock``: ``SET key       serialises a session's credential
               token NX PX ttl``, released by a     renewal across instances; a dead
               compare-and-delete script            holder's lock expires
=============  ===================================  ==================================

Values are JSON, sealed with AES-GCM under ``QBIZFED_SESSION_KEY``
(:mod:`qbizfed.web.sealing`) and bound to their key, so Redis never holds a credential,
token, verifier or assertion in clear. Key names are ``<prefix><namespace>:<digest>``,
the digest being SHA-256 of the app's key: session ids and states, which are bearer
secrets, do not appear in Redis either, and key length is bounded whatever a request
sends.

When Redis cannot be reached or refuses a command (down, timeout, ``OOM``, wrong
password), every operation raises :class:`~qbizfed.web.redis_outage.SessionStoreUnavailable`:
the broker fails closed instead of treating an outage as "no such session" or "assertion
not seen". A value that does not open (tampered, or sealed with a key no longer
configured) reads as absent.

:func:`session_store_from_url` turns ``--session-store`` into a store:
``memory://`` (one process) or ``redis://``, ``rediss://`` (TLS), ``unix://``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import LockError, RedisError

from qbizfed.errors import ConfigError
from qbizfed.web.redis_outage import SessionStoreUnavailable
from qbizfed.web.sealing import SESSION_KEY_ENV, SealedValueError, SessionKeys
from qbizfed.web.sessions import InMemorySessionStore, JsonObject, SessionStore

__all__ = [
    "DEFAULT_PREFIX",
    "RedisSessionStore",
    "SessionStoreUnavailable",
    "redis_key",
    "session_store_from_url",
]

log = logging.getLogger("qbizfed.web")

DEFAULT_PREFIX = "qbizfed:"
CONNECT_TIMEOUT_SECONDS = 1.0
COMMAND_TIMEOUT_SECONDS = 2.0
MAX_CONNECTIONS = 64
"""Per instance (one event loop); commands take ~0.2 ms, so 64 serve thousands per second."""
POOL_TIMEOUT_SECONDS = 5.0
"""How long a request waits for a free connection before the store counts as unavailable."""
MIN_CLAIM_SECONDS = 1.0
"""``add_once`` keeps a claim at least this long (as the in-memory store does)."""
LOCK_POLL_SECONDS = 0.02
"""How often a waiting ``lock`` retries; a renewal holds the lock for one IdP and one STS call."""
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_NAMESPACE = re.compile(r"[a-z0-9-]{1,32}")


def _where(url: str) -> str:
    """Host, port and database of a Redis URL, without user or password (for messages)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    host = parts.hostname or "localhost"
    try:
        port = str(parts.port or 6379)
    except ValueError:
        port = "?"
    database = parts.path.strip("/") or "0"
    return f"{parts.scheme}://{host}:{port}/{database}"


def redis_key(prefix: str, key: str) -> str:
    """The Redis key for an app key: readable namespace, hashed remainder."""
    namespace, sep, _ = key.partition(":")
    if not sep or not _NAMESPACE.fullmatch(namespace):
        namespace = "other"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return f"{prefix}{namespace}:{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def _milliseconds(ttl_seconds: float) -> int:
    return max(1, int(ttl_seconds * 1000))


class RedisSessionStore:
    """:class:`SessionStore` on Redis (redis-py's asyncio client), values sealed.

    The client is created on first use inside the running event loop (redis-py's
    connections belong to one loop), so the store can be built before the server's loop
    exists; :meth:`aclose` releases it.
    """

    def __init__(
        self,
        url: str,
        *,
        keys: SessionKeys,
        prefix: str = DEFAULT_PREFIX,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        command_timeout: float = COMMAND_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._keys = keys
        self.prefix = prefix
        self.where = _where(url)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._max_connections = max_connections
        self._pool_timeout = pool_timeout
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"RedisSessionStore({self.where!r}, prefix={self.prefix!r})"

    def _redis(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A blocking pool: a burst of requests waits for one of ``max_connections``
            # instead of failing (redis-py's default pool raises past 100 connections).
            pool = BlockingConnectionPool.from_url(
                self._url,
                max_connections=self._max_connections,
                timeout=self._pool_timeout,
                socket_connect_timeout=self._connect_timeout,
                socket_timeout=self._command_timeout,
                # One quick retry re-dials a pooled connection Redis dropped (restart,
                # failover); an outage still fails within about the timeouts above.
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
                health_check_interval=30,
                client_name="qbizfed-serve",
            )
            self._client = Redis.from_pool(pool)
            self._loop = loop
        return self._client

    @contextlib.asynccontextmanager
    async def _command(self, what: str) -> AsyncIterator[Redis]:
        try:
            yield self._redis()
        except (RedisError, OSError) as exc:
            # The exception's text may carry the URL; only its type is logged.
            log.warning("session store %s failed at %s: %s", what, self.where,
                        type(exc).__name__)  # fmt: skip
            raise SessionStoreUnavailable(self.where) from exc

    def _name(self, key: str) -> str:
        return redis_key(self.prefix, key)

    def _seal(self, name: str, value: Mapping[str, Any]) -> bytes:
        encoded = json.dumps(dict(value), separators=(",", ":")).encode()
        return self._keys.seal(encoded, context=name.encode())

    def _open(self, name: str, raw: bytes | str | None) -> JsonObject | None:
        if raw is None:
            return None
        if isinstance(raw, str):  # typed bytes | str by redis-py; this client answers bytes
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            value = json.loads(self._keys.open(raw, context=name.encode()))
        except (SealedValueError, ValueError):
            namespace = name[len(self.prefix) :].partition(":")[0]
            log.warning("session store: a %s value did not open; treated as absent", namespace)
            return None
        return value if isinstance(value, dict) else None

    async def get(self, key: str) -> JsonObject | None:
        name = self._name(key)
        async with self._command("GET") as redis:
            raw = await redis.get(name)
        return self._open(name, raw)

    async def set(self, key: str, value: Mapping[str, Any], *, ttl_seconds: float) -> None:
        name = self._name(key)
        if ttl_seconds <= 0:
            await self.delete(key)
            return
        sealed = self._seal(name, value)
        async with self._command("SET") as redis:
            await redis.set(name, sealed, px=_milliseconds(ttl_seconds))

    async def delete(self, key: str) -> None:
        async with self._command("DEL") as redis:
            await redis.delete(self._name(key))

    async def take(self, key: str) -> JsonObject | None:
        name = self._name(key)
        async with self._command("GETDEL") as redis:
            raw = await redis.getdel(name)
        return self._open(name, raw)

    async def add_once(self, key: str, *, ttl_seconds: float) -> bool:
        ttl = _milliseconds(max(ttl_seconds, MIN_CLAIM_SECONDS))
        async with self._command("SET NX") as redis:
            claimed = await redis.set(self._name(key), b"1", px=ttl, nx=True)
        return bool(claimed)

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[bool]:
        return self._lock(key, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds)

    @contextlib.asynccontextmanager
    async def _lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AsyncIterator[bool]:
        async with self._command("LOCK") as redis:
            lock = redis.lock(
                self._name(key), timeout=ttl_seconds, sleep=LOCK_POLL_SECONDS,
                blocking_timeout=wait_seconds,
            )  # fmt: skip
            acquired = bool(await lock.acquire())
        try:
            yield acquired
        finally:
            if acquired:
                async with self._command("UNLOCK"):
                    try:
                        await lock.release()
                    except LockError:  # a RedisError: caught before _command sees it
                        # Held past its expiry (a stalled IdP); someone else may hold it
                        # now, and the token check left their lock alone.
                        log.warning("session store: a lock expired before it was released")

    async def ping(self) -> None:
        """Raise :class:`SessionStoreUnavailable` unless Redis answers (health checks)."""
        async with self._command("PING") as redis:
            await redis.ping()

    async def ttl_seconds(self, key: str) -> float | None:
        """Time left on ``key`` (``PTTL``), ``None`` if absent; for tests and operators."""
        async with self._command("PTTL") as redis:
            left = int(await redis.pttl(self._name(key)))
        return None if left < 0 else left / 1000

    async def aclose(self) -> None:
        """Close the connections of the current loop's client (idempotent)."""
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            # Closing towards a dead server: nothing is left to release.
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def session_store_from_url(
    url: str, *, key: str | SessionKeys | None, prefix: str = DEFAULT_PREFIX
) -> SessionStore:
    """The store for ``--session-store URL``; ``key`` is ``QBIZFED_SESSION_KEY``'s value.

    ``memory://`` needs no key. Redis URLs refuse to start without one: every instance
    must share it, and credentials are never written to Redis in clear.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return InMemorySessionStore()
    if scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"--session-store {scheme or url!r}: unknown kind of session store",
            remedy="use memory:// (one instance) or redis://host:6379/0, rediss://... (TLS), "
            "unix:///path/to/redis.sock",
        )
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ConfigError(
            "a Redis session store needs a session key to encrypt sessions and credentials",
            remedy=f"set {SESSION_KEY_ENV} to 32 random bytes in base64 (openssl rand -base64 "
            "32), the same on every instance",
        )
    keys = key if isinstance(key, SessionKeys) else SessionKeys.parse(key)
    try:
        database = urlsplit(url).path.strip("/") if scheme != "unix" else "0"
        if database and not database.isdigit():
            raise ValueError("the database must be a number")  # redis-py would ignore it
        Redis.from_url(url)  # parses only; no connection is made
    except ValueError as exc:
        raise ConfigError(
            f"--session-store: not a usable Redis URL ({_where(url)})",
            remedy="use redis://[:password@]host:port/db or rediss://... for TLS",
        ) from exc
    return RedisSessionStore(url, keys=keys, prefix=prefix)
