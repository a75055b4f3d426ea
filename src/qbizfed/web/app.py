"""The web broker's FastAPI app factory: ``create_app(settings, *, session_store, ...)``.

Everything with I/O is injected (session store, the httpx client used for the IdP,
the STS credential issuer), with production defaults. Routers are split by concern
(OIDC, SAML, account); the chat pages of a later issue add their own router here.

Middleware, outermost first: path-only access log, trusted hosts, security headers,
unexpected-error pages, request body limits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from qbizfed.errors import QbizfedError
from qbizfed.web.browser_session import BrowserSessions
from qbizfed.web.context import TEMPLATES_DIR, WebContext, web_context
from qbizfed.web.credential_issuer import CredentialIssuer
from qbizfed.web.error_pages import ErrorPage, UnexpectedErrorPages, page_for
from qbizfed.web.oidc_relying_party import LazyRelyingParty
from qbizfed.web.redis_outage import install_outage_page
from qbizfed.web.request_limits import BodyLimits, RequestBodyLimits
from qbizfed.web.request_log import PathOnlyAccessLog
from qbizfed.web.routes_account import router as account_router
from qbizfed.web.routes_chat import install_chat
from qbizfed.web.routes_chat_stream import install_chat_stream
from qbizfed.web.routes_oidc import router as oidc_router
from qbizfed.web.routes_saml import router as saml_router
from qbizfed.web.saml_service_provider import SamlLogin
from qbizfed.web.security_headers import SecurityHeaders
from qbizfed.web.session_renewal import SessionRenewal
from qbizfed.web.sessions import InMemorySessionStore, SessionStore
from qbizfed.web.settings import WebSettings

log = logging.getLogger("qbizfed.web")
STATIC_DIR = TEMPLATES_DIR.parent / "static"
IDP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
IDP_CONNECTIONS = httpx.Limits(
    max_connections=200, max_keepalive_connections=200, keepalive_expiry=60.0
)
"""Every connection to the IdP stays open for the next login: with httpx's default (20
kept alive) a burst of 50 logins opened 30 new connections to the token endpoint each
round, which showed in the broker's CPU per login."""


def default_http_client() -> httpx.AsyncClient:
    """The client for IdP calls: bounded timeouts, no redirects followed, keep-alive."""
    return httpx.AsyncClient(timeout=IDP_TIMEOUT, follow_redirects=False, limits=IDP_CONNECTIONS)


def default_credential_issuer(settings: WebSettings) -> CredentialIssuer:
    from qbizfed.web.sts_issuer import ThreadPoolStsIssuer

    return ThreadPoolStsIssuer(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


def create_app(
    settings: WebSettings,
    *,
    session_store: SessionStore | None = None,
    http_client: httpx.AsyncClient | None = None,
    sts: CredentialIssuer | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the broker. Injected clients are not closed by the app; its defaults are.

    ``clock`` decides when sessions end and credentials are renewed (tests move it on).
    """
    settings.check()
    store = session_store if session_store is not None else InMemorySessionStore()
    owns_http = http_client is None
    http = http_client or default_http_client()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_http:
            await http.aclose()

    app = FastAPI(
        title="qbizfed web broker",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    sessions = BrowserSessions(
        store,
        anonymous_ttl=settings.anonymous_session_seconds,
        max_ttl=settings.max_session_seconds,
        clock=clock,
    )
    issuer = sts or default_credential_issuer(settings)
    oidc = LazyRelyingParty(settings.oidc, http=http) if settings.oidc else None
    app.state.web = WebContext(
        settings=settings,
        store=store,
        sessions=sessions,
        http=http,
        issuer=issuer,
        templates=Jinja2Templates(directory=str(TEMPLATES_DIR)),
        renewal=None
        if oidc is None
        else SessionRenewal(
            sessions=sessions,
            relying_party=oidc,
            issuer=issuer,
            duration_seconds=settings.session_duration_seconds,
            renew_before_seconds=settings.renew_before_seconds,
        ),
    )
    app.state.oidc = oidc
    app.state.saml = SamlLogin(settings.saml, store=store) if settings.saml else None

    app.include_router(account_router)
    app.include_router(oidc_router)
    app.include_router(saml_router)
    install_chat(app)
    install_chat_stream(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.exception_handler(QbizfedError)
    async def qbizfed_error(request: Request, exc: QbizfedError) -> Response:
        ctx = web_context(request)
        # Type and machine-readable reason only: messages may quote IdP-supplied values.
        reason = getattr(exc, "reason", None) or getattr(exc, "code", None) or "-"
        log.warning("refused %s %s: %s (%s)", request.method, request.url.path,
                    type(exc).__name__, reason)  # fmt: skip
        return ctx.error(request, page_for(exc), session=await ctx.current_session(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        page = ErrorPage(
            exc.status_code,
            "Not found" if exc.status_code == 404 else "Request refused",
            "There is nothing at this address." if exc.status_code == 404 else str(exc.detail),
            "go back to the start page",
        )
        return web_context(request).error(request, page)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        page = ErrorPage(400, "Malformed request", "The request's parameters are invalid.",
                         "go back to the start page and try again")  # fmt: skip
        return web_context(request).error(request, page)

    app.add_middleware(
        RequestBodyLimits,
        limits=BodyLimits(
            default_bytes=settings.max_body_bytes,
            chat_bytes=settings.max_chat_body_bytes,
            saml_acs_bytes=settings.max_saml_body_bytes,
        ),
    )
    app.add_middleware(UnexpectedErrorPages)
    app.add_middleware(
        SecurityHeaders,
        form_targets=settings.idp_origins(),
        hsts=settings.cookie_secure,
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.trusted_hosts))
    app.add_middleware(PathOnlyAccessLog)
    install_outage_page(app)
    return app
