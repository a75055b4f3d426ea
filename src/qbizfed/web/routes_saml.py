"""SAML sign-in: ``/login/saml``, the ACS ``/saml`` (the sample's paths), role choice, metadata.

The assertion consumer service receives a cross-site POST from the IdP, on which
SameSite=Lax cookies are (rightly) not sent. So the ACS only validates the response
(signature, issuer, audience, recipient, time window, ``InResponseTo`` of a request we
issued, one-time assertion ID — all in :mod:`qbizfed.identity.saml`) and parks the
identity under a one-time ticket; ``/saml/finish`` then runs as a same-site GET with
the session cookie, checks that this browser started the login (no login CSRF), and
obtains credentials, after a role choice if the IdP offers several roles.

``RelayState`` is an opaque server-side key, never a URL: where the user goes after
sign-in is a local path stored with it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.federated import FederatedIdentity, SamlRole
from qbizfed.web.browser_session import SignedInUser, WebSession
from qbizfed.web.context import WebContext, web_context
from qbizfed.web.csrf import verify_csrf
from qbizfed.web.identity_codec import identity_from_json, identity_to_json
from qbizfed.web.redirects import safe_next_path
from qbizfed.web.saml_service_provider import SamlLogin

log = logging.getLogger("qbizfed.web")
router = APIRouter()

RELAY_PREFIX = "saml-relay:"
TICKET_PREFIX = "saml-ticket:"
CHOICE_PREFIX = "saml-choice:"
TICKET_TTL = 120
CHOICE_TTL = 300
MIN_DURATION = 900
MAX_RELAY_STATE = 80


def _saml(request: Request) -> SamlLogin:
    saml: SamlLogin | None = request.app.state.saml
    if saml is None:
        raise HTTPException(404)  # SAML is not configured here: nothing at these paths
    return saml


@router.get("/login/saml")
async def login_saml(request: Request, next: str | None = None) -> Response:
    ctx = web_context(request)
    saml = _saml(request)
    session = await ctx.session_or_new(request)
    relay = secrets.token_urlsafe(24)
    redirect = await saml.start(relay)
    await ctx.store.set(
        RELAY_PREFIX + relay,
        {"sid": session.id, "next": safe_next_path(next), "request_id": redirect.request_id},
        ttl_seconds=ctx.settings.login_timeout_seconds,
    )
    response = RedirectResponse(redirect.url, status_code=302)
    ctx.set_cookie(response, session)
    return response


@router.get("/saml/metadata")
async def saml_metadata(request: Request) -> Response:
    return Response(_saml(request).metadata_xml, media_type="application/samlmetadata+xml")


@router.post("/saml")
async def assertion_consumer_service(request: Request) -> Response:
    ctx = web_context(request)
    saml = _saml(request)
    form = await request.form()
    raw = form.get("SAMLResponse")
    if not isinstance(raw, str) or not raw:
        raise SamlResponseError(
            "the request carries no SAMLResponse",
            reason="missing",
            remedy="start the login from this application's sign-in page",
        )
    identity = await saml.validate(raw)
    relay = form.get("RelayState")
    record = None
    if isinstance(relay, str) and 0 < len(relay) <= MAX_RELAY_STATE:
        record = await ctx.store.take(RELAY_PREFIX + relay)
    ticket = secrets.token_urlsafe(32)
    await ctx.store.set(
        TICKET_PREFIX + ticket,
        {
            "sid": record.get("sid") if record else None,
            "next": safe_next_path(str(record.get("next") or "/")) if record else "/",
            "identity": identity_to_json(identity),
        },
        ttl_seconds=TICKET_TTL,
    )
    return RedirectResponse(f"/saml/finish?ticket={ticket}", status_code=303)


def _check_browser(
    ctx: WebContext, session: WebSession | None, sid: object, *, allow_unsolicited: bool
) -> None:
    if sid is None and allow_unsolicited:
        return
    if not ctx.same_session(session, sid):
        raise SamlResponseError(
            "this SAML sign-in was not started in this browser",
            reason="session_binding",
            remedy="start the login again from this application's sign-in page",
        )


def _offered_role(identity: FederatedIdentity, saml: SamlLogin) -> SamlRole | None:
    """The configured role if set (must be offered), the only role, or None to ask."""
    wanted_role, wanted_provider = saml.settings.role_arn, saml.settings.provider_arn
    if wanted_role:
        for role in identity.roles:
            if role.role_arn == wanted_role and wanted_provider in (None, role.provider_arn):
                return role
        raise SamlResponseError(
            f"the IdP does not offer the role {wanted_role} to this user",
            reason="role_not_offered",
            remedy="add '<role arn>,<saml-provider arn>' for this role to the user's Role "
            "attribute at the IdP, or change WEB_EXPERIENCE_ROLE_ARN",
        )
    if len(identity.roles) == 1:
        return identity.roles[0]
    return None


@router.get("/saml/finish")
async def saml_finish(request: Request, ticket: str = "") -> Response:
    ctx = web_context(request)
    saml = _saml(request)
    record = await ctx.store.take(TICKET_PREFIX + ticket) if 0 < len(ticket) <= 64 else None
    if record is None:
        raise SamlResponseError(
            "this sign-in link is unknown, expired or was already used",
            reason="ticket",
            remedy="start the login again from this application's sign-in page",
        )
    session = await ctx.current_session(request)
    _check_browser(
        ctx, session, record.get("sid"), allow_unsolicited=saml.settings.allow_unsolicited
    )
    identity = identity_from_json(record["identity"])
    next_path = safe_next_path(str(record.get("next") or "/"))
    role = _offered_role(identity, saml)
    if role is None:
        if session is None:
            session = WebSession.anonymous()
            await ctx.sessions.save(session)
        choice = secrets.token_urlsafe(32)
        await ctx.store.set(
            CHOICE_PREFIX + choice,
            {"sid": session.id, "next": next_path, "identity": record["identity"]},
            ttl_seconds=CHOICE_TTL,
        )
        return ctx.render(
            request, "choose_role.html", session=session,
            roles=identity.roles, email=identity.email, ticket=choice,
        )  # fmt: skip
    return await _sign_in(request, ctx, session, identity, role, next_path)


@router.post("/saml/choose-role")
async def saml_choose_role(request: Request) -> Response:
    ctx = web_context(request)
    _saml(request)
    session = await ctx.current_session(request)
    await verify_csrf(request, session, public_url=ctx.settings.public_url)
    form = await request.form()
    choice, index = form.get("ticket"), form.get("role")
    record = None
    if isinstance(choice, str) and 0 < len(choice) <= 64:
        record = await ctx.store.take(CHOICE_PREFIX + choice)
    if record is None or not ctx.same_session(session, record.get("sid")):
        raise SamlResponseError(
            "this role choice is unknown, expired or was already made",
            reason="choice",
            remedy="start the login again from this application's sign-in page",
        )
    identity = identity_from_json(record["identity"])
    if not isinstance(index, str) or not index.isdigit() or int(index) >= len(identity.roles):
        raise SamlResponseError(
            "the chosen role is not one the IdP offered",
            reason="role_not_offered",
            remedy="choose one of the listed roles",
        )
    role = identity.roles[int(index)]
    return await _sign_in(request, ctx, session, identity, role, str(record.get("next") or "/"))


async def _sign_in(
    request: Request,
    ctx: WebContext,
    session: WebSession | None,
    identity: FederatedIdentity,
    role: SamlRole,
    next_path: str,
) -> Response:
    duration = ctx.settings.session_duration_seconds
    if identity.expires_at is not None:
        # SessionNotOnOrAfter caps the session (STS enforces it as well).
        left = int((identity.expires_at - datetime.now(UTC)).total_seconds())
        duration = max(MIN_DURATION, min(duration, left))
    credentials = await ctx.issuer.for_saml(identity, role=role, duration_seconds=duration)
    signed_in = WebSession(
        id="",
        csrf_token="",
        created_at=ctx.sessions.clock(),
        user=SignedInUser.from_identity("saml", identity),
        credentials=credentials,
    )
    fresh = await ctx.sessions.rotate(session, signed_in)
    log.info(
        "saml sign-in: email=%s role=%s role_session_name=%s",
        identity.email, role.role_arn, credentials.role_session_name,
    )  # fmt: skip
    response = RedirectResponse(safe_next_path(next_path), status_code=303)
    ctx.set_cookie(response, fresh)
    return response
