"""Renewal of an OIDC browser session's STS credentials with the IdP's refresh token.

When the IdP granted a refresh token at sign-in (``offline_access``), the user's
credentials are replaced shortly before they expire (``renew_before_seconds``):
refresh grant at the token endpoint, the new ID token validated like at sign-in plus
OIDC Core §12.2 (same ``sub``, the original ``nonce`` and ``auth_time`` if repeated),
then ``AssumeRoleWithWebIdentity``. The rotated refresh token replaces the old one.
The user notices nothing, also in the middle of a chat: every page asks
:meth:`SessionRenewal.fresh` for the session before using its credentials.

Renewal is serialised per session with the store's lock, across every instance that
shares it: the first request redeems the refresh token, the others wait, re-read the
session and use the credentials it saved, so a refresh token is never redeemed twice
(IdPs that rotate refresh tokens revoke the whole grant on reuse).

A renewal the IdP or STS refuses ends the session: the next page is the sign-in page,
which returns to the same conversation (``chat.js`` keeps the unsent question). An IdP
that cannot be reached is retried on the next request while the current credentials
last. Logout revokes the refresh token at the IdP (RFC 7009, when it has a revocation
endpoint) and forgets it, under the same lock, so a renewal in flight cannot bring the
session back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from qbizfed.errors import NetworkError, QbizfedError
from qbizfed.identity.oidc import OidcRelyingParty
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.web.browser_session import (
    SESSION_PREFIX,
    BrowserSessions,
    RefreshGrant,
    WebSession,
)
from qbizfed.web.credential_issuer import CredentialIssuer
from qbizfed.web.oidc_relying_party import LazyRelyingParty

log = logging.getLogger("qbizfed.web")

LOCK_PREFIX = "renewal-lock:"
OFFLINE_ACCESS = "offline_access"
LOCK_SECONDS = 30.0
"""Longest a renewal may hold its lock: one token request and one STS call, each bounded
by its client's timeout (10 s for the IdP). A holder that dies frees it by expiry."""
WAIT_SECONDS = 35.0
"""A request that finds a renewal under way waits this long for it (past LOCK_SECONDS,
so it outlives a dead holder's lock)."""


def offline_scopes(rp: OidcRelyingParty, settings: OidcRegistration) -> Sequence[str]:
    """``offline_access`` when it is wanted and the IdP advertises it (an IdP that does
    not know the scope may refuse the whole sign-in with ``invalid_scope``)."""
    if settings.offline_access and OFFLINE_ACCESS in rp.metadata.scopes_supported:
        return (OFFLINE_ACCESS,)
    return ()


class SessionRenewal:
    """Keeps renewable sessions' credentials fresh; one per app."""

    def __init__(
        self,
        *,
        sessions: BrowserSessions,
        relying_party: LazyRelyingParty,
        issuer: CredentialIssuer,
        duration_seconds: int,
        renew_before_seconds: float,
    ) -> None:
        self.sessions = sessions
        self.relying_party = relying_party
        self.issuer = issuer
        self.duration_seconds = duration_seconds
        self.renew_before_seconds = renew_before_seconds

    def due(self, session: WebSession) -> bool:
        credentials = session.credentials
        return (
            session.renewable
            and credentials is not None
            and credentials.seconds_left(self.sessions.now()) <= self.renew_before_seconds
        )

    async def fresh(self, session: WebSession | None) -> WebSession | None:
        """``session`` with credentials good for ``renew_before_seconds`` at least,
        renewed if needed; ``None`` when it ended (renewal refused, or expired)."""
        if session is None or not self.due(session):
            return session
        lock = self.sessions.store.lock(
            LOCK_PREFIX + session.id, ttl_seconds=LOCK_SECONDS, wait_seconds=WAIT_SECONDS
        )
        async with lock as held:
            # Re-read: another request (on any instance) may have renewed, or logged out.
            current = await self.sessions.load(session.id)
            if current is None or not self.due(current):
                return current
            if not held:
                return self._usable(current)
            return await self._renew(current)

    def _usable(self, session: WebSession) -> WebSession | None:
        """The session as it is while its credentials last (renewal is retried later)."""
        credentials = session.credentials
        if credentials is not None and credentials.seconds_left(self.sessions.now()) > 0:
            return session
        return None

    async def _renew(self, session: WebSession) -> WebSession | None:
        assert session.user is not None
        assert session.refresh is not None
        email = session.user.email
        lazy = self.relying_party
        try:
            rp = await lazy.get()
            tokens = await rp.refresh(
                session.refresh.refresh_token,
                expected_subject=session.user.subject,
                original_nonce=session.refresh.nonce,
                original_auth_time=session.refresh.auth_time,
            )
        except QbizfedError as exc:
            return await self._failed(session, exc)
        # The old refresh token may be dead now (rotation): keep the new one whatever follows.
        session = replace(
            session,
            refresh=replace(
                session.refresh, refresh_token=tokens.refresh_token or session.refresh.refresh_token
            ),
        )
        if tokens.identity.email != email:
            # The Email session tag decides whose conversations these are: a changed
            # address needs a fresh sign-in, not a silent switch.
            log.warning("credential renewal refused: email=%s the IdP now names another "
                        "email address", email)  # fmt: skip
            await self.sessions.end(session)
            return None
        try:
            credentials = await self.issuer.for_web_identity(
                tokens.identity, role_arn=lazy.settings.role_arn,
                duration_seconds=self.duration_seconds,
            )  # fmt: skip
        except QbizfedError as exc:
            return await self._failed(session, exc)
        renewed = replace(
            session,
            credentials=credentials,
            id_token=tokens.identity.credential if session.id_token is not None else None,
        )
        await self.sessions.save(renewed)
        log.info("credentials renewed: email=%s role_session_name=%s", email,
                 credentials.role_session_name)  # fmt: skip
        return renewed

    async def _failed(self, session: WebSession, exc: QbizfedError) -> WebSession | None:
        assert session.user is not None
        if isinstance(exc, NetworkError):
            # The IdP or STS is unreachable: keep the session (and a rotated refresh
            # token), retry on the next request while the current credentials last.
            log.warning("credential renewal postponed: email=%s %s", session.user.email,
                        type(exc).__name__)  # fmt: skip
            await self.sessions.save(session)
            return self._usable(session)
        # Refused (revoked or expired refresh token, a token failing validation, STS
        # refusing the role): the session ends; the user signs in again.
        reason = getattr(exc, "reason", None) or getattr(exc, "error", None) or "-"
        log.warning("credential renewal refused: email=%s %s (%s)", session.user.email,
                    type(exc).__name__, reason)  # fmt: skip
        await self.sessions.end(session)
        return None

    async def forget(self, session: WebSession) -> None:
        """Logout: end the session and revoke its refresh token (best effort at the IdP)."""
        lock = self.sessions.store.lock(
            LOCK_PREFIX + session.id, ttl_seconds=LOCK_SECONDS, wait_seconds=WAIT_SECONDS
        )
        async with lock:
            data = await self.sessions.store.take(SESSION_PREFIX + session.id)
        current = WebSession.from_json(session.id, data) if data is not None else session
        if current.refresh is None:
            return
        await self._revoke(current.refresh)

    async def _revoke(self, grant: RefreshGrant) -> None:
        try:
            rp = await self.relying_party.get()
            await rp.revoke(grant.refresh_token)
        except QbizfedError as exc:
            # The session is gone here either way; the IdP expires the token itself.
            log.warning("refresh token revocation failed: %s", type(exc).__name__)
