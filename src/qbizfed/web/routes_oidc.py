"""OpenID Connect sign-in: ``/login/oidc`` and ``/auth/oidc/callback`` (the sample's paths).

A thin adapter over :class:`qbizfed.identity.oidc.OidcRelyingParty`: this module keeps
the pending login server-side under ``oidc-state:<state>`` (one-time, bound to the
browser's session), hands the callback to the relying party (which checks state,
exchanges the code with PKCE and validates the ID token), asks STS for credentials and
rotates the session.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from qbizfed.identity.errors import AuthorizationError
from qbizfed.identity.oidc import PendingAuthorization
from qbizfed.web.browser_session import RefreshGrant, SignedInUser, WebSession
from qbizfed.web.context import web_context
from qbizfed.web.oidc_relying_party import LazyRelyingParty
from qbizfed.web.redirects import safe_next_path
from qbizfed.web.session_renewal import offline_scopes

log = logging.getLogger("qbizfed.web")
STATE_PREFIX = "oidc-state:"
MAX_PARAM_LENGTH = 4096

router = APIRouter()


def _relying_party(request: Request) -> LazyRelyingParty:
    rp: LazyRelyingParty | None = request.app.state.oidc
    if rp is None:
        raise HTTPException(404)  # OIDC is not configured here: nothing at these paths
    return rp


@router.get("/login/oidc")
async def login_oidc(request: Request, next: str | None = None) -> Response:
    ctx = web_context(request)
    rp = await _relying_party(request).get()
    session = await ctx.session_or_new(request)
    settings = _relying_party(request).settings
    pending = rp.authorization_request(
        extra_scopes=offline_scopes(rp, settings), prompt=settings.prompt
    )
    await ctx.store.set(
        STATE_PREFIX + pending.state,
        {
            "sid": session.id,
            "nonce": pending.nonce,
            "verifier": pending.code_verifier,
            "redirect_uri": pending.redirect_uri,
            "next": safe_next_path(next),
            "started": time.time(),
        },
        ttl_seconds=ctx.settings.login_timeout_seconds,
    )
    response = RedirectResponse(pending.url, status_code=302)
    ctx.set_cookie(response, session)
    return response


@router.get("/auth/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    ctx = web_context(request)
    lazy = _relying_party(request)
    params = {k: v for k, v in request.query_params.items() if len(v) <= MAX_PARAM_LENGTH}
    state = params.get("state")
    if not state:
        raise AuthorizationError(
            "the login callback carries no state",
            remedy="start the login again from this application's sign-in page",
        )
    record = await ctx.store.take(STATE_PREFIX + state)
    if record is None:
        raise AuthorizationError(
            "this login callback is unknown, expired or was already used",
            remedy="start the login again from this application's sign-in page "
            "(do not reuse or bookmark the IdP's redirect)",
        )
    session = await ctx.current_session(request)
    if not ctx.same_session(session, record.get("sid")):
        raise AuthorizationError(
            "this login was started in another browser or session",
            remedy="start the login again in this browser",
        )
    rp = await lazy.get()
    pending = PendingAuthorization(
        url="",
        state=state,
        nonce=str(record["nonce"]),
        code_verifier=str(record["verifier"]),
        redirect_uri=str(record["redirect_uri"]),
    )
    tokens = await rp.complete(pending, params)
    identity = tokens.identity
    credentials = await ctx.issuer.for_web_identity(
        identity,
        role_arn=lazy.settings.role_arn,
        duration_seconds=ctx.settings.session_duration_seconds,
    )
    keep_hint = lazy.settings.end_session_method == "post"
    auth_time = tokens.id_token.claims.get("auth_time")
    signed_in = WebSession(
        id="",
        csrf_token="",
        created_at=ctx.sessions.clock(),
        user=SignedInUser.from_identity("oidc", identity),
        credentials=credentials,
        id_token=identity.credential if keep_hint else None,
        # A refresh token renews the credentials until max_session_seconds (server-side
        # only: sealed in the store, never in a cookie, page or log line).
        refresh=None
        if tokens.refresh_token is None
        else RefreshGrant(
            tokens.refresh_token,
            nonce=pending.nonce,
            auth_time=float(auth_time) if isinstance(auth_time, int | float) else None,
        ),
    )
    fresh = await ctx.sessions.rotate(session, signed_in)
    log.info(
        "oidc sign-in: email=%s role_session_name=%s",
        identity.email,
        credentials.role_session_name,
    )
    response = RedirectResponse(safe_next_path(str(record.get("next") or "/")), status_code=303)
    ctx.set_cookie(response, fresh)
    return response
