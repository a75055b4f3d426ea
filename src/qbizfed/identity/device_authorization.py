"""OAuth 2.0 Device Authorization Grant (RFC 8628), on the OIDC relying party.

For machines without a browser: the IdP hands out a ``device_code`` (kept here) and a
``user_code`` the user types at ``verification_uri`` on any other device; meanwhile the
client polls the token endpoint::

    authorization = await start_device_authorization(rp)   # §3.1-3.2
    show(authorization.verification_uri, authorization.user_code)
    tokens = await poll_for_tokens(rp, authorization)      # §3.4-3.5

Polling honours the IdP's ``interval`` (5 s when absent), adds 5 s on every
``slow_down``, keeps going on ``authorization_pending``, and stops on
``access_denied``, ``expired_token`` or when ``expires_in`` has passed. The ID token is
validated by :meth:`OidcRelyingParty.token_grant`, exactly as after a browser login.
The device code is a credential: it is never logged, shown or put in messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qbizfed.errors import ConfigError, IdentityError
from qbizfed.identity.errors import TokenEndpointError
from qbizfed.identity.oidc import OidcRelyingParty, TokenSet
from qbizfed.url_policy import require_secure_url

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL_SECONDS = 5  # RFC 8628 §3.2
SLOW_DOWN_SECONDS = 5  # RFC 8628 §3.5
MAX_INTERVAL_SECONDS = 60
MAX_EXPIRES_IN_SECONDS = 3600
MAX_USER_CODE_CHARS = 64

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class DeviceAuthorizationError(IdentityError):
    """The device sign-in could not start or finish; ``reason`` is the RFC 8628 code."""

    def __init__(self, message: str, *, reason: str, remedy: str) -> None:
        super().__init__(message, remedy=remedy)
        self.reason = reason


@dataclass(frozen=True)
class DeviceAuthorization:
    """The device authorization response (RFC 8628 §3.2), checked."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


def no_device_endpoint(issuer: str) -> ConfigError:
    return ConfigError(
        f"the IdP {issuer} does not advertise a device_authorization_endpoint, so it does not "
        "offer device sign-in (RFC 8628)",
        remedy="enable the device authorization grant for this client at the IdP, or sign in "
        "with the browser flow (qbizfed login without --device; --no-browser prints the URL)",
    )


def _positive_int(doc: Mapping[str, Any], key: str, default: int | None, limit: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DeviceAuthorizationError(
            f"the IdP's device authorization response has no valid {key!r}",
            reason="invalid_response",
            remedy="check the IdP's device flow settings",
        )
    return min(value, limit)


def parse_device_authorization(
    doc: Mapping[str, Any], *, allow_insecure_loopback_http: bool
) -> DeviceAuthorization:
    """Check the §3.2 response: required fields, types, URLs (https), sane bounds."""
    strings: dict[str, str] = {}
    for key in ("device_code", "user_code", "verification_uri"):
        value = doc.get(key)
        if not isinstance(value, str) or not value:
            raise DeviceAuthorizationError(
                f"the IdP's device authorization response lacks {key!r}",
                reason="invalid_response",
                remedy="check the IdP's device flow settings",
            )
        strings[key] = value
    if len(strings["user_code"]) > MAX_USER_CODE_CHARS or not strings["user_code"].isprintable():
        raise DeviceAuthorizationError(
            "the IdP's user_code is not a short printable code",
            reason="invalid_response",
            remedy="check the IdP's device flow settings",
        )
    complete = doc.get("verification_uri_complete")
    urls = [strings["verification_uri"]] + ([complete] if isinstance(complete, str) else [])
    for url in urls:
        require_secure_url(
            url, what="verification_uri", allow_insecure_loopback_http=allow_insecure_loopback_http
        )
    expires_in = _positive_int(doc, "expires_in", None, MAX_EXPIRES_IN_SECONDS)
    if expires_in == 0:
        raise DeviceAuthorizationError(
            "the IdP's device code expires immediately (expires_in = 0)",
            reason="invalid_response",
            remedy="check the IdP's device flow settings",
        )
    return DeviceAuthorization(
        device_code=strings["device_code"],
        user_code=strings["user_code"],
        verification_uri=strings["verification_uri"],
        verification_uri_complete=complete if isinstance(complete, str) and complete else None,
        expires_in=expires_in,
        interval=_positive_int(doc, "interval", DEFAULT_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS),
    )


async def start_device_authorization(rp: OidcRelyingParty) -> DeviceAuthorization:
    """Ask the IdP for a device code and user code (RFC 8628 §3.1)."""
    endpoint = rp.metadata.device_authorization_endpoint
    if endpoint is None:
        raise no_device_endpoint(rp.settings.issuer)
    scopes = list(dict.fromkeys(["openid", *rp.settings.scopes]))
    doc = await rp.authenticated_post(
        endpoint, {"scope": " ".join(scopes)}, what="device authorization endpoint"
    )
    return parse_device_authorization(
        doc, allow_insecure_loopback_http=rp.settings.allow_insecure_loopback_http
    )


async def poll_for_tokens(
    rp: OidcRelyingParty,
    authorization: DeviceAuthorization,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    on_slow_down: Callable[[int], None] | None = None,
) -> TokenSet:
    """Poll the token endpoint until the user approves (§3.4-3.5); validated tokens."""
    deadline = clock() + authorization.expires_in
    interval = authorization.interval
    body = {"grant_type": DEVICE_CODE_GRANT, "device_code": authorization.device_code}
    while True:
        await sleep(interval)
        if clock() > deadline:
            raise _expired()
        try:
            return await rp.token_grant(body)
        except TokenEndpointError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval = min(interval + SLOW_DOWN_SECONDS, MAX_INTERVAL_SECONDS)
                if on_slow_down is not None:
                    on_slow_down(interval)
                continue
            if exc.error == "access_denied":
                raise DeviceAuthorizationError(
                    "the sign-in was denied at the IdP",
                    reason="access_denied",
                    remedy="run qbizfed login --device again and approve the request",
                ) from exc
            if exc.error == "expired_token":
                raise _expired() from exc
            raise


def _expired() -> DeviceAuthorizationError:
    return DeviceAuthorizationError(
        "the device code expired before the sign-in was approved",
        reason="expired_token",
        remedy="run qbizfed login --device again and enter the new code sooner",
    )
