"""The configured IdP's relying party, discovered on first use and then shared.

Discovery happens lazily (so ``serve`` starts even while the IdP is down) under a lock
(so a burst of first logins fetches the document once); a failed discovery is retried
on the next login instead of being cached.
"""

from __future__ import annotations

import asyncio

import httpx

from qbizfed.identity.oidc import OidcRelyingParty
from qbizfed.settings.oidc import OidcRegistration


class LazyRelyingParty:
    """``await get()`` returns the one :class:`OidcRelyingParty` of this app."""

    def __init__(self, settings: OidcRegistration, *, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self._http = http
        self._rp: OidcRelyingParty | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> OidcRelyingParty:
        if self._rp is not None:
            return self._rp
        async with self._lock:
            if self._rp is None:
                self._rp = await OidcRelyingParty.discover(self.settings, http=self._http)
        return self._rp
