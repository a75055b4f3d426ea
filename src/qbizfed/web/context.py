"""What every route needs, gathered once by ``create_app``: settings, stores, clients, pages.

Routes reach it as ``web_context(request)``; the cookie handling lives here so that
every route sets the session cookie the same way (HttpOnly, SameSite=Lax, Secure on
https, ``__Host-`` prefix when Secure).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from qbizfed.settings.serve import WebSettings
from qbizfed.web.browser_session import BrowserSessions, WebSession
from qbizfed.web.credential_issuer import CredentialIssuer
from qbizfed.web.error_pages import ErrorPage
from qbizfed.web.session_renewal import SessionRenewal
from qbizfed.web.sessions import SessionStore

TEMPLATES_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class WebContext:
    """The injected dependencies of one app instance."""

    settings: WebSettings
    store: SessionStore
    sessions: BrowserSessions
    http: httpx.AsyncClient
    issuer: CredentialIssuer
    templates: Jinja2Templates
    renewal: SessionRenewal | None = None
    """Set when OIDC is configured: renews sessions that hold a refresh token."""

    @property
    def cookie_name(self) -> str:
        return "__Host-qbizfed" if self.settings.cookie_secure else "qbizfed_session"

    async def current_session(self, request: Request) -> WebSession | None:
        """The browser's session, its credentials renewed first when they are about to
        expire and it can be (every page that uses credentials comes through here)."""
        session = await self.sessions.load(request.cookies.get(self.cookie_name))
        if self.renewal is not None:
            session = await self.renewal.fresh(session)
        return session

    async def session_or_new(self, request: Request) -> WebSession:
        """The browser's session, or a new anonymous one (saved; set its cookie on the reply)."""
        session = await self.current_session(request)
        if session is None:
            session = WebSession.anonymous()
            await self.sessions.save(session)
        return session

    @staticmethod
    def same_session(session: WebSession | None, session_id: object) -> bool:
        if session is None or not isinstance(session_id, str):
            return False
        return hmac.compare_digest(session.id.encode(), session_id.encode())

    def set_cookie(self, response: Response, session: WebSession) -> None:
        response.set_cookie(
            self.cookie_name,
            session.id,
            max_age=int(self.sessions.ttl_for(session)) or None,
            path="/",
            httponly=True,
            secure=self.settings.cookie_secure,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name,
            path="/",
            httponly=True,
            secure=self.settings.cookie_secure,
            samesite="lax",
        )

    def render(
        self,
        request: Request,
        template: str,
        *,
        session: WebSession | None = None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        context: dict[str, Any] = {
            "user": session.user if session is not None and session.signed_in else None,
            "csrf_token": session.csrf_token if session is not None else "",
            **values,
        }
        response = self.templates.TemplateResponse(
            request, template, context, status_code=status_code
        )
        if session is not None:
            self.set_cookie(response, session)
        return response

    def error(
        self, request: Request, page: ErrorPage, *, session: WebSession | None = None
    ) -> HTMLResponse:
        response = self.render(
            request, "error.html", session=session, status_code=page.status, page=page
        )
        if page.retry_after_seconds is not None:
            response.headers["Retry-After"] = str(page.retry_after_seconds)
        return response


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def expires_iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
