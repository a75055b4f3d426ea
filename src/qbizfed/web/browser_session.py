"""One browser's server-side session: who signed in, their credentials, the CSRF token.

The cookie holds only an opaque random id; everything else lives in the
:class:`~qbizfed.web.sessions.SessionStore` under ``session:<id>``. A session is
rotated (new id, old one deleted) when the user signs in, and ends at logout, at its
maximum lifetime (``max_session_seconds`` after sign-in), or when its credentials
expire without a way to renew them. An OIDC session whose IdP granted a refresh token
is *renewable*: :mod:`qbizfed.web.session_renewal` replaces its credentials before
they expire, so it lasts until the maximum lifetime or until the IdP refuses.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from qbizfed.credentials import AwsCredentials
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.web.sessions import JsonObject, SessionStore

SESSION_PREFIX = "session:"
Protocol = Literal["oidc", "saml"]


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SignedInUser:
    """What the pages may show about the user (no tokens, no assertion)."""

    protocol: Protocol
    email: str
    issuer: str
    subject: str
    display_name: str | None = None
    groups: tuple[str, ...] = ()

    @classmethod
    def from_identity(cls, protocol: Protocol, identity: FederatedIdentity) -> SignedInUser:
        return cls(
            protocol=protocol,
            email=identity.email,
            issuer=identity.issuer,
            subject=identity.subject,
            display_name=identity.display_name,
            groups=identity.groups,
        )


@dataclass(frozen=True)
class RefreshGrant:
    """What renewing an OIDC session needs: the IdP's refresh token (a secret that never
    leaves the server) and the original login's ``nonce`` and ``auth_time``, which a
    refreshed ID token may repeat but not change (OIDC Core §12.2)."""

    refresh_token: str = field(repr=False)
    nonce: str = field(repr=False)
    auth_time: float | None = None

    def to_json(self) -> JsonObject:
        return {"rt": self.refresh_token, "n": self.nonce, "at": self.auth_time}

    @classmethod
    def from_json(cls, data: JsonObject) -> RefreshGrant:
        auth_time = data.get("at")
        return cls(
            refresh_token=str(data["rt"]),
            nonce=str(data["n"]),
            auth_time=float(auth_time) if isinstance(auth_time, int | float) else None,
        )


@dataclass(frozen=True)
class WebSession:
    """The server-side record behind one session cookie."""

    id: str = field(repr=False)
    csrf_token: str = field(repr=False)
    created_at: float
    user: SignedInUser | None = None
    credentials: AwsCredentials | None = None
    id_token: str | None = field(default=None, repr=False)
    """Kept only when logout sends ``id_token_hint`` by POST."""
    end_session_endpoint: str | None = None
    refresh: RefreshGrant | None = None
    """Present when the IdP granted a refresh token (OIDC with ``offline_access``)."""

    @classmethod
    def anonymous(cls) -> WebSession:
        return cls(
            id=new_session_id(), csrf_token=secrets.token_urlsafe(32), created_at=time.time()
        )

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self.credentials is not None

    @property
    def renewable(self) -> bool:
        return self.signed_in and self.refresh is not None

    def ends_at(self, max_session_seconds: float) -> datetime:
        """When this session ends unless the user signs out first: at its maximum
        lifetime, or earlier when its credentials expire and cannot be renewed."""
        limit = datetime.fromtimestamp(self.created_at, UTC) + timedelta(
            seconds=max_session_seconds
        )
        if self.credentials is None or self.renewable:
            return limit
        return min(limit, self.credentials.expiration)

    def rotated(self) -> WebSession:
        """Same content under a fresh id and CSRF token (login; defeats session fixation)."""
        return replace(self, id=new_session_id(), csrf_token=secrets.token_urlsafe(32))

    def to_json(self) -> JsonObject:
        out: JsonObject = {"csrf": self.csrf_token, "created": self.created_at}
        if self.user is not None:
            u = self.user
            out["user"] = {
                "protocol": u.protocol, "email": u.email, "issuer": u.issuer,
                "subject": u.subject, "name": u.display_name, "groups": list(u.groups),
            }  # fmt: skip
        if self.credentials is not None:
            c = self.credentials
            out["creds"] = {
                "akid": c.access_key_id, "secret": c.secret_access_key, "token": c.session_token,
                "exp": c.expiration.isoformat(), "region": c.region, "role": c.role_arn,
                "arn": c.assumed_role_arn,
            }  # fmt: skip
        if self.id_token is not None:
            out["idt"] = self.id_token
        if self.end_session_endpoint is not None:
            out["eso"] = self.end_session_endpoint
        if self.refresh is not None:
            out["rg"] = self.refresh.to_json()
        return out

    @classmethod
    def from_json(cls, session_id: str, data: JsonObject) -> WebSession:
        user: SignedInUser | None = None
        creds: AwsCredentials | None = None
        raw_user: dict[str, Any] | None = data.get("user")
        if raw_user is not None:
            user = SignedInUser(
                protocol="saml" if raw_user["protocol"] == "saml" else "oidc",
                email=str(raw_user["email"]),
                issuer=str(raw_user["issuer"]),
                subject=str(raw_user["subject"]),
                display_name=raw_user.get("name"),
                groups=tuple(raw_user.get("groups", ())),
            )
        raw_creds: dict[str, Any] | None = data.get("creds")
        if raw_creds is not None:
            creds = AwsCredentials(
                access_key_id=str(raw_creds["akid"]),
                secret_access_key=str(raw_creds["secret"]),
                session_token=str(raw_creds["token"]),
                expiration=datetime.fromisoformat(str(raw_creds["exp"])),
                region=raw_creds.get("region"),
                role_arn=raw_creds.get("role"),
                # absent from sessions saved before the assumed-role ARN was kept ("rsn")
                assumed_role_arn=raw_creds.get("arn"),
            )
        raw_refresh = data.get("rg")
        return cls(
            id=session_id,
            csrf_token=str(data["csrf"]),
            created_at=float(data["created"]),
            user=user,
            credentials=creds,
            id_token=data.get("idt"),
            end_session_endpoint=data.get("eso"),
            refresh=RefreshGrant.from_json(raw_refresh) if isinstance(raw_refresh, dict) else None,
        )


class BrowserSessions:
    """Load, save, rotate and end :class:`WebSession` records in a store.

    ``clock`` (seconds since 1970) decides expiry and maximum lifetime; tests pass a
    clock they move forward to live hours of a session in seconds.
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        anonymous_ttl: float,
        max_ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.anonymous_ttl = anonymous_ttl
        self.max_ttl = max_ttl
        """The maximum lifetime of a signed-in session (``max_session_seconds``)."""
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def load(self, session_id: str | None) -> WebSession | None:
        """The session, or ``None``; a session past its end is deleted. A renewable
        session whose credentials expired is returned: renewal decides its fate."""
        if not session_id or len(session_id) > 128:
            return None
        data = await self.store.get(SESSION_PREFIX + session_id)
        if data is None:
            return None
        session = WebSession.from_json(session_id, data)
        if session.credentials is None:
            return session
        now = self.now()
        if now >= session.ends_at(self.max_ttl) or (
            not session.renewable and session.credentials.seconds_left(now) <= 0
        ):
            await self.end(session)
            return None
        return session

    def ends_at(self, session: WebSession) -> datetime:
        return session.ends_at(self.max_ttl)

    def seconds_left(self, session: WebSession) -> float:
        """Until the session (not its current credentials) ends."""
        return (self.ends_at(session) - self.now()).total_seconds()

    def ttl_for(self, session: WebSession) -> float:
        if session.credentials is None:
            return self.anonymous_ttl
        return max(0.0, min(self.max_ttl, self.seconds_left(session)))

    async def save(self, session: WebSession) -> None:
        await self.store.set(
            SESSION_PREFIX + session.id, session.to_json(), ttl_seconds=self.ttl_for(session)
        )

    async def end(self, session: WebSession) -> None:
        await self.store.delete(SESSION_PREFIX + session.id)

    async def rotate(self, old: WebSession | None, new_content: WebSession) -> WebSession:
        """Save ``new_content`` under a fresh id and delete the old session."""
        if old is not None:
            await self.end(old)
        fresh = new_content.rotated()
        await self.save(fresh)
        return fresh
