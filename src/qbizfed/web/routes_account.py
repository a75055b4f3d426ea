"""The signed-in user's pages: start page, credentials (masked until revealed), logout.

Credentials never leave the server unless the user asks with a CSRF-protected POST;
every page here is ``no-store`` (see :mod:`qbizfed.web.security_headers`). Logout
deletes the server session, clears the cookie and, for OIDC, goes to the IdP's
end-session endpoint without putting the ID token in a URL.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from qbizfed.web.browser_session import WebSession
from qbizfed.web.context import WebContext, expires_iso, web_context
from qbizfed.web.credential_export import credential_process_json, mask, reveal
from qbizfed.web.csrf import verify_csrf
from qbizfed.web.oidc_relying_party import LazyRelyingParty
from qbizfed.web.redirects import safe_next_path

log = logging.getLogger("qbizfed.web")
router = APIRouter()


def _signin_page(
    ctx: WebContext, request: Request, session: WebSession | None, *, next_path: str = "/"
) -> Response:
    return ctx.render(
        request,
        "signin.html",
        session=session,
        oidc_enabled=ctx.settings.oidc is not None,
        saml_enabled=ctx.settings.saml is not None,
        next_path=next_path,
        notice=None,
    )


@router.get("/")
async def home(request: Request) -> Response:
    ctx = web_context(request)
    session = await ctx.current_session(request)
    if session is None or not session.signed_in or session.credentials is None:
        return _signin_page(ctx, request, session)
    creds = session.credentials
    minutes_left = max(0, int(creds.seconds_left() // 60))
    return ctx.render(
        request,
        "account.html",
        session=session,
        credentials=creds,
        expires_iso=expires_iso(creds.expiration),
        minutes_left=minutes_left,
    )


@router.get("/signin")
async def signin(request: Request, next: str | None = None) -> Response:
    ctx = web_context(request)
    return _signin_page(ctx, request, await ctx.current_session(request),
                        next_path=safe_next_path(next))  # fmt: skip


async def _credentials_page(request: Request, *, revealed: bool) -> Response:
    ctx = web_context(request)
    session = await ctx.current_session(request)
    if revealed:
        await verify_csrf(request, session, public_url=ctx.settings.public_url)
    if session is None or session.credentials is None or session.user is None:
        return RedirectResponse("/signin?next=/credentials", status_code=303)
    creds = session.credentials
    masked = {
        "access_key_id": mask(creds.access_key_id),
        "secret_access_key": mask(creds.secret_access_key, keep=0),
        "session_token": mask(creds.session_token, keep=0),
    }
    if revealed:
        log.info("credentials revealed: email=%s", session.user.email)
    return ctx.render(
        request,
        "credentials.html",
        session=session,
        credentials=creds,
        masked=masked,
        expires_iso=expires_iso(creds.expiration),
        revealed=reveal(creds, email=session.user.email) if revealed else None,
    )


@router.get("/credentials")
async def credentials(request: Request) -> Response:
    return await _credentials_page(request, revealed=False)


@router.post("/credentials")
async def credentials_reveal(request: Request) -> Response:
    return await _credentials_page(request, revealed=True)


@router.post("/credentials/credential-process")
async def credentials_json(request: Request) -> Response:
    """``credential_process`` JSON for tools; needs the CSRF token (header or form)."""
    ctx = web_context(request)
    session = await ctx.current_session(request)
    await verify_csrf(request, session, public_url=ctx.settings.public_url)
    if session is None or session.credentials is None:
        # 403, not 401: there is no WWW-Authenticate challenge to offer (RFC 9110).
        return JSONResponse({"error": "not signed in"}, status_code=403)
    return Response(credential_process_json(session.credentials), media_type="application/json")


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = web_context(request)
    session = await ctx.current_session(request)
    await verify_csrf(request, session, public_url=ctx.settings.public_url)
    assert session is not None
    if ctx.renewal is not None:
        await ctx.renewal.forget(session)  # also revokes its refresh token at the IdP
    else:
        await ctx.sessions.end(session)
    user = session.user
    if user is not None:
        log.info("sign-out: email=%s", user.email)
    response: Response = RedirectResponse("/signed-out", status_code=303)
    lazy: LazyRelyingParty | None = request.app.state.oidc
    if user is not None and user.protocol == "oidc" and lazy is not None:
        rp = await lazy.get()
        endpoint = rp.metadata.end_session_endpoint
        post_logout = lazy.settings.logout_redirect_uri
        if (
            endpoint is not None
            and lazy.settings.end_session_method == "post"
            and (session.id_token is not None)
        ):
            fields = [("client_id", lazy.settings.client_id), ("id_token_hint", session.id_token)]
            if post_logout:
                fields.append(("post_logout_redirect_uri", post_logout))
            response = ctx.render(request, "logout_post.html", endpoint=endpoint, fields=fields)
        else:
            url = rp.end_session_url(post_logout_redirect_uri=post_logout)
            if url is not None:
                response = RedirectResponse(url, status_code=303)
    ctx.clear_cookie(response)
    return response


@router.get("/signed-out")
async def signed_out(request: Request) -> Response:
    ctx = web_context(request)
    return ctx.render(request, "signed_out.html")


@router.get("/healthz")
async def healthz() -> Response:
    return JSONResponse({"status": "ok", "time": datetime.now(UTC).isoformat()})
