"""What the user sees when something fails: a page saying what happened and what to do.

Errors are translated once, here, from qbizfed's error tree (each error already carries
a ``remedy``). Messages of qbizfed errors never contain tokens or secrets; anything
else becomes a generic page, and only its type name is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qbizfed.errors import AwsError, ConfigError, IdentityError, NetworkError, QbizfedError

log = logging.getLogger("qbizfed.web")


@dataclass(frozen=True)
class ErrorPage:
    """The content of an error page."""

    status: int
    title: str
    message: str
    remedy: str


_ACCESS_DENIED_CAUSES: tuple[tuple[str, str], ...] = (
    (
        "sts:TagSession",
        "the role's trust policy does not allow sts:TagSession: add a statement allowing "
        "sts:TagSession for the same principal (Q Business needs the Email session tag)",
    ),
    (
        "aud",
        "the audience does not match the trust policy: the OIDC client id (<issuer>:aud) or "
        "the SAML:aud (the ACS URL) in the role's trust policy must equal what the IdP sends",
    ),
    (
        "Email",
        "the session has no Email tag: configure the IdP to send the Email principal tag",
    ),
)


def probable_cause(error: AwsError) -> str:
    """The most likely reason for an STS refusal, when its own remedy says nothing."""
    if error.remedy:
        return error.remedy
    for marker, cause in _ACCESS_DENIED_CAUSES:
        if marker in error.message:
            return cause
    if error.code in ("AccessDenied", "AccessDeniedException"):
        return (
            "check the role's trust policy: the federated principal, the audience condition "
            "and a statement allowing sts:TagSession"
        )
    return "check the role and identity provider configured for this application"


def page_for(error: Exception) -> ErrorPage:
    """Translate an exception into the page shown to the user."""
    if isinstance(error, AwsError):
        return ErrorPage(
            403 if error.code.startswith("AccessDenied") else 502,
            "AWS refused to issue credentials",
            error.message,
            probable_cause(error),
        )
    if isinstance(error, NetworkError):
        return ErrorPage(
            502,
            "The identity provider could not be reached",
            error.message,
            error.remedy or "try again in a minute; if it persists, tell your administrator",
        )
    if isinstance(error, IdentityError):
        return ErrorPage(401, "Sign-in refused", error.message, error.remedy)
    if isinstance(error, ConfigError):
        return ErrorPage(500, "This service is misconfigured", error.message, error.remedy)
    if isinstance(error, QbizfedError):
        return ErrorPage(400, "The request was refused", error.message, error.remedy)
    log.error("unexpected error: %s", type(error).__name__)
    return ErrorPage(
        500,
        "Something went wrong",
        "An unexpected error occurred.",
        "try again; if it persists, tell your administrator (details are in the server log)",
    )


class UnexpectedErrorPages:
    """Innermost ASGI middleware: any non-qbizfed exception becomes the generic error page.

    Starlette's own catch-all sits outside every middleware (so its page would miss the
    security headers) and re-raises for the server to log the message, which may hold
    anything; here only the exception's type is logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.error("error after the response started: %s", type(exc).__name__)
                return
            page = page_for(exc)
            response = scope["app"].state.web.error(Request(scope), page)
            await response(scope, receive, send)
