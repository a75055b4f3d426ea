"""The SAML service provider's request-ID store and replay cache, on the session store.

:mod:`qbizfed.identity.saml_stores` defines them as blocking interfaces (python3-saml
is synchronous), so the web layer runs SAML work in a worker thread and these adapters
hop back onto the event loop (``anyio.from_thread``) for each store operation. Both
are atomic in the store (``take`` = GETDEL, ``add_once`` = SET NX), so several broker
instances sharing one Redis can never accept the same response or assertion twice.
"""

from __future__ import annotations

from datetime import datetime

import anyio.from_thread

from qbizfed.web.sessions import SessionStore

REQUEST_PREFIX = "saml-request:"
ASSERTION_PREFIX = "saml-assertion:"
DRIFT_SECONDS = 600
"""Assertion IDs are remembered this long past ``NotOnOrAfter`` (validators allow drift)."""


class StoreRequestIds:
    """:class:`~qbizfed.identity.saml_stores.RequestIdStore` over a :class:`SessionStore`."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def remember_request(self, request_id: str, ttl_seconds: int) -> None:
        anyio.from_thread.run(self._remember, request_id, ttl_seconds)

    async def _remember(self, request_id: str, ttl_seconds: int) -> None:
        await self._store.set(REQUEST_PREFIX + request_id, {"issued": True},
                              ttl_seconds=ttl_seconds)  # fmt: skip

    def consume_request(self, request_id: str) -> bool:
        return anyio.from_thread.run(self._consume, request_id)

    async def _consume(self, request_id: str) -> bool:
        return await self._store.take(REQUEST_PREFIX + request_id) is not None


class StoreReplayCache:
    """:class:`~qbizfed.identity.saml_stores.ReplayCache` over a :class:`SessionStore`."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        return anyio.from_thread.run(self._seen, assertion_id, not_on_or_after)

    async def _seen(self, assertion_id: str, not_on_or_after: datetime) -> bool:
        ttl = max(1.0, not_on_or_after.timestamp() - datetime.now().timestamp()) + DRIFT_SECONDS
        claimed = await self._store.add_once(ASSERTION_PREFIX + assertion_id, ttl_seconds=ttl)
        return not claimed
