"""When the shared session store cannot be reached: the error, and the page (fail closed).

A broker that cannot read its session store cannot tell who is signed in, whether a
login state is genuine or whether a SAML assertion was already used, so it answers
nothing but this page (HTTP 503, ``Retry-After``), with no session cookie and no
credentials. Store operations raise :class:`SessionStoreUnavailable` rather than
returning "absent", so no caller can mistake an outage for "not signed in" or
"assertion not seen before".

``install_outage_page(app)`` registers the page on an app from
:func:`qbizfed.web.app.create_app`; Starlette picks the most specific exception
handler, so it wins over the app's generic :class:`~qbizfed.errors.QbizfedError` page.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from qbizfed.errors import NetworkError
from qbizfed.web.context import web_context
from qbizfed.web.error_pages import ErrorPage

RETRY_AFTER_SECONDS = 30


class SessionStoreUnavailable(NetworkError):  # noqa: N818 (the name the issue asks for)
    """The session store (Redis) did not answer; the request is refused, not guessed at."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"the session store at {where} cannot be reached",
            remedy="check that Redis is running and reachable from every qbizfed serve "
            "instance (the --session-store URL, its password and TLS settings); users "
            "can retry once it is back",
        )
        self.where = where


OUTAGE_PAGE = ErrorPage(
    503,
    "Sign-in is temporarily unavailable",
    "This service cannot reach its session store, so it cannot tell who you are. "
    "Nothing was signed in and no credentials were issued.",
    "try again in a minute; if it persists, tell your administrator "
    "(the session store is unreachable)",
)


async def session_store_unavailable(request: Request, exc: Exception) -> Response:
    """The 503 page; deliberately touches no session (the store is down)."""
    response = web_context(request).error(request, OUTAGE_PAGE)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def install_outage_page(app: FastAPI) -> FastAPI:
    """Answer :class:`SessionStoreUnavailable` with the 503 page on ``app``."""
    app.add_exception_handler(SessionStoreUnavailable, session_store_unavailable)
    return app
