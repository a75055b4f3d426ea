"""``qbizfed login --device``: sign in on a machine without a browser (RFC 8628).

The user is shown the IdP's verification URI and a user code (and the complete URI
that carries the code, when the IdP gives one) to open on any other device; meanwhile
:mod:`qbizfed.identity.device_authorization` polls the token endpoint. The ID token is
validated by the same relying party as the browser flow, then the role is assumed
and the credentials cached exactly as by :mod:`qbizfed.creds.login`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.session import RoleExchange, cached_from
from qbizfed.errors import ConfigError
from qbizfed.settings.profiles import Profile

if TYPE_CHECKING:
    from qbizfed.identity.oidc import TokenSet

Announce = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]


def device_login_oidc(
    profile: Profile,
    *,
    announce: Announce,
    exchange: RoleExchange,
    timeout: float,
    sleep: Sleep = asyncio.sleep,
) -> CacheEntry:
    """Device sign-in for an OIDC profile; the credentials (not yet cached)."""
    if profile.protocol != "oidc":
        raise ConfigError(
            f"profile {profile.name!r} signs in with SAML, which has no device flow",
            remedy=f"run qbizfed login --profile {profile.name} without --device",
        )
    tokens = asyncio.run(_device_tokens(profile, announce=announce, timeout=timeout, sleep=sleep))
    return cached_from(
        profile, tokens.identity, exchange(tokens.identity, profile),
        refresh_token=tokens.refresh_token,
    )  # fmt: skip


async def _device_tokens(
    profile: Profile,
    *,
    announce: Announce,
    timeout: float,
    sleep: Sleep,
) -> TokenSet:
    from qbizfed.identity.device_authorization import (
        DeviceAuthorizationError,
        poll_for_tokens,
        start_device_authorization,
    )
    from qbizfed.identity.oidc import OidcRelyingParty

    settings = profile.oidc_registration()  # the device flow has no redirect
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        rp = await OidcRelyingParty.discover(settings, http=http)
        authorization = await start_device_authorization(rp)
        lines = [
            "To sign in, open this page on any device:",
            f"  {authorization.verification_uri}",
            f"and enter the code: {authorization.user_code}",
        ]
        if authorization.verification_uri_complete:
            lines.append(f"(or open {authorization.verification_uri_complete})")
        minutes = max(1, authorization.expires_in // 60)
        lines.append(f"Waiting for you to approve (the code expires in {minutes} min)...")
        announce("\n".join(lines))

        try:
            return await asyncio.wait_for(
                poll_for_tokens(
                    rp,
                    authorization,
                    sleep=sleep,
                    on_slow_down=lambda s: announce(f"the IdP asked to poll slower: every {s} s"),
                ),
                timeout=timeout,
            )
        except TimeoutError:
            raise DeviceAuthorizationError(
                f"no approval within {timeout:g} s",
                reason="timeout",
                remedy="run qbizfed login --device again (--timeout waits longer)",
            ) from None

