"""The dev IdP's Device Authorization Grant (RFC 8628), as protocol logic without HTTP.

    POST /oidc/device_authorization   a client (authenticated as at the token endpoint)
                                      gets a device_code and a user_code (§3.1-3.2)
    GET/POST /device                  the verification page: the user enters the code,
                                      signs in as usual, then approves or denies (§3.3)
    POST /oidc/token                  grant_type=urn:ietf:params:oauth:grant-type:device_code
                                      answers authorization_pending, slow_down (polled
                                      sooner than ``interval`` after the previous poll),
                                      access_denied, expired_token, or the tokens (§3.5)

``expires_in`` and ``interval`` come from :class:`DeviceFlowSettings` so tests can run
in seconds. User codes are 8 consonants (§6.1: no vowels, so no words), typed with or
without the dash and in any case. A device code is redeemed once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from qbizfed.local.idp.grants import Clock, ExpiringStore, new_handle
from qbizfed.local.idp.oidc import SUPPORTED_SCOPES, OAuthError
from qbizfed.local.idp.users import OidcClient

DEVICE_AUTHORIZATION_PATH = "/oidc/device_authorization"
DEVICE_VERIFICATION_PATH = "/device"
DEVICE_DECISION_PATH = "/device/decision"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
CONSENT_SECONDS = 600
# Expired device codes are remembered a while, so a late poll gets expired_token.
EXPIRED_MEMORY_SECONDS = 600


@dataclass(frozen=True)
class DeviceFlowSettings:
    expires_in: int = 600
    """Seconds a device code and user code stay valid."""
    interval: int = 5
    """Seconds a client must wait between polls (slow_down when sooner)."""


@dataclass(frozen=True)
class DeviceGrant:
    """One device sign-in: what the client asked for and what the user decided."""

    client_id: str
    scope: tuple[str, ...]
    user_code: str
    expires_at: float
    status: Literal["pending", "approved", "denied"] = "pending"
    username: str | None = None
    auth_time: int = 0
    sid: str = ""
    last_poll: float | None = None


@dataclass(frozen=True)
class DeviceVerification:
    """A user who entered a valid user code and is on their way through the login form."""

    user_code: str
    client_id: str


@dataclass(frozen=True)
class DeviceConsent:
    """The approve/deny form shown to a signed-in user (its handle is single use)."""

    user_code: str
    username: str
    auth_time: int
    sid: str


def normalise_user_code(typed: str) -> str:
    """What the user typed, without dashes and spaces, upper case (§6.1)."""
    return "".join(ch for ch in typed.upper() if ch not in "- ")[:32]


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class DeviceFlow:
    """Device codes, user codes and consents of one dev IdP (all in memory)."""

    def __init__(
        self, settings: DeviceFlowSettings, *, issuer: str, clock: Clock = time.time
    ) -> None:
        self.settings = settings
        self.issuer = issuer.rstrip("/")
        self._clock = clock
        self._grants: ExpiringStore[DeviceGrant] = ExpiringStore(clock)
        self._by_user_code: ExpiringStore[str] = ExpiringStore(clock)
        self.consents: ExpiringStore[DeviceConsent] = ExpiringStore(clock)
        self._lock = threading.Lock()

    @property
    def verification_uri(self) -> str:
        return self.issuer + DEVICE_VERIFICATION_PATH

    def advertise(self, discovery: Mapping[str, Any]) -> dict[str, Any]:
        """The discovery document with the device endpoint and grant type added."""
        grants = list(discovery.get("grant_types_supported", []))
        return {
            **discovery,
            "device_authorization_endpoint": self.issuer + DEVICE_AUTHORIZATION_PATH,
            "grant_types_supported": [*grants, DEVICE_CODE_GRANT],
        }

    # -- §3.1-3.2: the device authorization endpoint ---------------------------------

    def authorize(self, client: OidcClient, form: Mapping[str, str]) -> dict[str, Any]:
        scope = tuple(s for s in form.get("scope", "").split() if s in SUPPORTED_SCOPES)
        if "openid" not in scope:
            raise OAuthError("invalid_scope", "the openid scope is required")
        device_code = new_handle()
        user_code = "".join(
            secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH)
        )
        expires_in = self.settings.expires_in
        grant = DeviceGrant(
            client_id=client.client_id,
            scope=scope,
            user_code=user_code,
            expires_at=self._clock() + expires_in,
        )
        self._grants.put(device_code, grant, expires_in + EXPIRED_MEMORY_SECONDS)
        self._by_user_code.put(user_code, device_code, expires_in)
        shown = display_user_code(user_code)
        return {
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": f"{self.verification_uri}?user_code={shown}",
            "expires_in": expires_in,
            "interval": self.settings.interval,
        }

    # -- §3.3: the user's side -------------------------------------------------------

    def pending(self, typed_user_code: str) -> DeviceVerification | None:
        """The pending sign-in a typed user code names, if it is still waiting."""
        user_code = normalise_user_code(typed_user_code)
        device_code = self._by_user_code.get(user_code) if user_code else None
        grant = self._grants.get(device_code) if device_code else None
        if grant is None or grant.status != "pending" or grant.expires_at <= self._clock():
            return None
        return DeviceVerification(user_code=user_code, client_id=grant.client_id)

    def consent_handle(self, consent: DeviceConsent) -> str:
        handle = new_handle()
        self.consents.put(handle, consent, CONSENT_SECONDS)
        return handle

    def decide(self, consent: DeviceConsent, *, approve: bool) -> bool:
        """Record the user's decision; False when the code expired or was decided."""
        with self._lock:
            device_code = self._by_user_code.pop(consent.user_code)
            grant = self._grants.get(device_code) if device_code else None
            if device_code is None or grant is None or grant.status != "pending":
                return False
            if grant.expires_at <= self._clock():
                return False
            decided = replace(
                grant,
                status="approved" if approve else "denied",
                username=consent.username,
                auth_time=consent.auth_time,
                sid=consent.sid,
            )
            self._grants.put(device_code, decided, EXPIRED_MEMORY_SECONDS)
            return True

    # -- §3.4-3.5: the token endpoint ------------------------------------------------

    def redeem(self, client: OidcClient, form: Mapping[str, str]) -> DeviceGrant:
        """The approved grant (once), or the OAuth error the client must act on."""
        device_code = form.get("device_code", "")
        with self._lock:
            grant = self._grants.get(device_code) if device_code else None
            if grant is None or grant.client_id != client.client_id:
                raise OAuthError("invalid_grant", "the device code is unknown")
            now = self._clock()
            if grant.expires_at <= now and grant.status == "pending":
                raise OAuthError("expired_token", "the device code has expired")
            if grant.status == "denied":
                self._grants.discard(device_code)
                raise OAuthError("access_denied", "the user denied the sign-in")
            too_soon = (
                grant.last_poll is not None and now - grant.last_poll < self.settings.interval
            )
            if grant.status == "pending" or too_soon:
                self._grants.put(
                    device_code, replace(grant, last_poll=now), EXPIRED_MEMORY_SECONDS
                )
                if too_soon:
                    raise OAuthError("slow_down", "poll no more often than the interval")
                raise OAuthError("authorization_pending", "the user has not decided yet")
            self._grants.discard(device_code)  # single use
            return grant
