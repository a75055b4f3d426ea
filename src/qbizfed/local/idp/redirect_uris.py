"""Which ``redirect_uri`` a client may ask for: the registered ones, exactly.

Exact string comparison, no prefix and no normalisation (RFC 9700 section 4.1.3), with
the one exception native apps need (RFC 8252 section 7.3): a registered redirect URI
that is plain ``http`` on a loopback IP literal (``127.0.0.0/8`` or ``[::1]``) and has
*no port* matches a request for the same URI with any port, because a native client
(``qbizfed login``) listens on an ephemeral port chosen at sign-in time. Everything
else (scheme, host, path, query) must still match exactly; ``localhost`` does not
qualify (RFC 8252 section 8.3), and a registration that names a port stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from qbizfed.local.loopback import is_loopback_ip


def _without_port(uri: str) -> str | None:
    """``uri`` minus its port if it is an http loopback-IP URI with an explicit,
    canonically written port; otherwise None (only an exact match can then apply)."""
    split = urlsplit(uri)
    # urlsplit lowercases the scheme: compare the text itself, as every other part.
    if not uri.startswith("http://") or not is_loopback_ip(split.hostname):
        return None
    host = split.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    try:
        port = split.port
    except ValueError:
        return None
    if port is None or port == 0 or split.netloc != f"{shown}:{port}":
        return None  # user-info, an empty or zero-padded port, a host spelled otherwise
    return urlunsplit((split.scheme, shown, split.path, split.query, split.fragment))


def is_registered(requested: str, registered: Iterable[str]) -> bool:
    """Whether ``requested`` is one of ``registered`` (with RFC 8252's loopback port rule)."""
    allowed = tuple(registered)
    if requested in allowed:
        return True
    # The port-less form is built from an http loopback-IP URI, so equality with a
    # registration also proves the registration is one (and has no port).
    portless = _without_port(requested)
    return portless is not None and portless in allowed
