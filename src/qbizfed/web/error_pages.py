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

from qbizfed.aws.sts import (
    IdpCommunicationError,
    StsThrottledError,
    StsUnavailableError,
    StsUnreachableError,
)
from qbizfed.errors import AwsError, ConfigError, IdentityError, NetworkError, QbizfedError

log = logging.getLogger("qbizfed.web")


@dataclass(frozen=True)
class ErrorPage:
    """The content of an error page."""

    status: int
    title: str
    message: str
    remedy: str
    retry_after_seconds: int | None = None
    """Sent as ``Retry-After`` (with 503: the failure is on a service's side, not the user's)."""


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


RETRY_AFTER_SECONDS = 30
# Refusals of input that is not even well-formed (400); every other sign-in refusal is 403.
# 401 is never used: it requires a WWW-Authenticate challenge (RFC 9110 section 15.5.2).
_MALFORMED_REASONS = frozenset({"missing", "malformed", "size"})


class RequestTooLargeError(QbizfedError):
    """A request body is larger than this service accepts for its path (HTTP 413)."""


def _sts_unavailable(error: AwsError) -> bool:
    """STS (or the IdP behind it) failing or throttling: a service's fault, worth a retry."""
    return isinstance(error, (StsThrottledError, StsUnavailableError, IdpCommunicationError))


def page_for(error: Exception) -> ErrorPage:
    """Translate an exception into the page shown to the user."""
    if isinstance(error, RequestTooLargeError):
        return ErrorPage(413, "The request is too large", error.message, error.remedy)
    if isinstance(error, AwsError):
        if _sts_unavailable(error):
            return ErrorPage(
                503,
                "AWS could not issue credentials right now",
                error.message,
                error.remedy or "try again in a minute",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        # The token, the assertion or the trust configuration was refused: retrying the
        # same sign-in cannot help, the page names what to change.
        return ErrorPage(
            403, "AWS refused to issue credentials", error.message, probable_cause(error)
        )
    if isinstance(error, NetworkError):
        title = (
            "AWS STS could not be reached"
            if isinstance(error, StsUnreachableError)
            else "The identity provider could not be reached"
        )
        return ErrorPage(
            503,
            title,
            error.message,
            error.remedy or "try again in a minute; if it persists, tell your administrator",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
    if isinstance(error, IdentityError):
        status = 400 if getattr(error, "reason", None) in _MALFORMED_REASONS else 403
        return ErrorPage(status, "Sign-in refused", error.message, error.remedy)
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
