"""Which IdP URLs we talk to: https only, plain http solely for loopback when asked loudly.

The switch is named ``allow_insecure_loopback_http`` so that nobody turns it on by
accident: it exists for the dev IdP and tests, never for a real deployment.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from qbizfed.identity.errors import InsecureEndpointError

_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, what: str, allow_insecure_loopback_http: bool = False) -> str:
    """Return ``url`` if it is an acceptable IdP endpoint, else raise ``InsecureEndpointError``."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InsecureEndpointError(
            f"the {what} URL contains user information, which is never legitimate here",
            remedy="use a plain https://host/path URL",
        )
    if not parts.hostname:
        raise InsecureEndpointError(
            f"the {what} URL {url!r} has no host", remedy="use an absolute https:// URL"
        )
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        if allow_insecure_loopback_http:
            return url
        raise InsecureEndpointError(
            f"the {what} URL {url!r} uses plain http",
            remedy="use https, or for a loopback development IdP set "
            "allow_insecure_loopback_http=True",
        )
    raise InsecureEndpointError(
        f"the {what} URL {url!r} is not https",
        remedy="IdP endpoints must use https (plain http is allowed only for loopback "
        "development IdPs with allow_insecure_loopback_http=True)",
    )
