"""CSRF protection for every state-changing POST: a per-session token plus an origin check.

The synchronizer token lives in the server-side session and is sent back in a hidden
form field (``csrf_token``) or the ``X-CSRF-Token`` header; it is compared in constant
time. When the browser sends ``Origin`` (all current browsers do on POST) it must be
this site's own. The SAML assertion consumer service is the one POST that arrives
cross-site by design; it is protected by ``InResponseTo`` and the replay cache instead.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from qbizfed.errors import QbizfedError
from qbizfed.web.browser_session import WebSession

FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"


class CsrfError(QbizfedError):
    """A POST without a valid CSRF token, or from another site."""


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origin(request: Request, public_url: str | None) -> str:
    """This site's origin: from ``public_url`` when set (behind a TLS-terminating proxy the
    request itself looks like plain http), else from the request."""
    if public_url:
        return _origin_of(public_url)
    return f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


async def verify_csrf(
    request: Request, session: WebSession | None, *, public_url: str | None = None
) -> None:
    """Raise :class:`CsrfError` unless this POST carries the session's token from our origin."""
    origin = request.headers.get("origin")
    if (
        origin is not None
        and origin != "null"
        and _origin_of(origin) != own_origin(request, public_url)
    ):
        raise CsrfError(
            "this form was submitted from another site",
            remedy="open the page on this site and submit it again",
        )
    if session is None:
        raise CsrfError(
            "your session has expired",
            remedy="go back to the start page, sign in again and repeat the action",
        )
    supplied = request.headers.get(HEADER)
    if supplied is None:
        form = await request.form()
        value = form.get(FORM_FIELD)
        supplied = value if isinstance(value, str) else None
    if not supplied or not hmac.compare_digest(supplied.encode(), session.csrf_token.encode()):
        raise CsrfError(
            "the form's security token is missing or stale",
            remedy="reload the page and submit the form again",
        )
