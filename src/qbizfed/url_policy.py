"""Which URLs qbizfed talks to: https only, plain http solely to loopback when asked loudly.

The one place that says what "loopback" means for the product (admin, doctor, serve,
login, the chat stream, the MCP server's bind check). The decision, host by host:

* loopback: an IP literal in ``127.0.0.0/8`` (``127.0.0.1``, ``127.1.2.3``); ``::1``,
  also as ``[::1]`` (URL brackets, IPv6 only); IPv4-mapped ``::ffff:127.x.y.z`` (a
  dual-stack socket reaches the IPv4 loopback with it; Python before 3.13 says no, so
  the rule is explicit); the name ``localhost`` in any case, also fully qualified
  (``LOCALHOST.``; RFC 6761 section 6.3).
* not loopback: names that merely start like one (``127.0.0.1.evil.com``,
  ``localhost.evil.com``), subdomains of ``localhost`` (resolvers differ on them), the
  unspecified addresses ``0.0.0.0`` and ``::``, shorthand IPv4 that :mod:`ipaddress`
  refuses (``127.1``, ``2130706433``), an IPv4 literal in brackets (``[127.0.0.1]``) or
  with a trailing dot.

Hosts are parsed with :mod:`ipaddress`, never compared by string prefix. The switch that
allows plain http is named ``allow_insecure_loopback_http`` so that nobody turns it on by
accident: it exists for the dev IdP, the local stack and tests, never for a real
deployment (AWS IAM itself requires https issuers).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from qbizfed.errors import ConfigError


class InsecureEndpointError(ConfigError):
    """A URL is not https, and is not a loopback URL explicitly allowed."""


_LOOPBACK_NAME = "localhost"


def is_loopback_ip(host: str | None) -> bool:
    """True for an IP literal in ``127.0.0.0/8``, ``::1`` or IPv4-mapped ``127.0.0.0/8``."""
    if not host:
        return False
    bracketed = host.startswith("[") and host.endswith("]")  # as in a URL: IPv6 only
    try:
        address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        return False
    if not isinstance(address, ipaddress.IPv6Address):
        return not bracketed and address.is_loopback
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_host(host: str | None) -> bool:
    """True for a loopback IP literal (:func:`is_loopback_ip`) or the name ``localhost``."""
    if not host:
        return False
    return host.lower().removesuffix(".") == _LOOPBACK_NAME or is_loopback_ip(host)


def require_secure_url(url: str, *, what: str, allow_insecure_loopback_http: bool = False) -> str:
    """Return ``url`` if it is an acceptable endpoint, else raise ``InsecureEndpointError``.

    https to any host; plain http only to a loopback host and only with the switch on;
    never user information (``user@host`` hides the real host from a quick read).
    """
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
