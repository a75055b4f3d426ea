"""What the local stack counts as loopback: its bind checks and the http concessions it
makes to the dev IdP (the stack plays AWS, so it keeps its own rule, apart from the
product's :mod:`qbizfed.url_policy`, and states it once here).

Loopback is an IP literal in ``127.0.0.0/8`` or ``::1`` (URL brackets allowed), an
IPv4-mapped ``::ffff:127.x.y.z``, or the name ``localhost`` (any case, one trailing dot
allowed). Hosts are parsed with :mod:`ipaddress`, never compared by prefix:
``127.0.0.1.example.com`` and ``localhost.example.com`` are not loopback.
"""

from __future__ import annotations

import ipaddress


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
    """True for a loopback IP literal or the name ``localhost``."""
    if not host:
        return False
    return host.lower().removesuffix(".") == "localhost" or is_loopback_ip(host)
