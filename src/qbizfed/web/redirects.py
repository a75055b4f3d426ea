"""Where the broker may send a browser after sign-in: local paths only.

A ``next`` parameter or SAML ``RelayState`` is attacker-controllable, so it is reduced
to a path on this site or replaced by ``/``. Anything with a scheme, a host, a
protocol-relative ``//`` prefix, a backslash (browsers read ``/\\evil`` as ``//evil``),
control characters or an encoded variant of those is refused.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DEFAULT_PATH = "/"
MAX_LENGTH = 512


def safe_next_path(candidate: str | None, *, default: str = DEFAULT_PATH) -> str:
    """``candidate`` if it is a harmless local path, else ``default``."""
    if not candidate or len(candidate) > MAX_LENGTH:
        return default
    decoded = candidate
    for _ in range(3):  # catch %2F%2F and double-encoded variants
        decoded = unquote(decoded)
    for value in (candidate, decoded):
        if not value.startswith("/") or value.startswith("//"):
            return default
        if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            return default
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            return default
    return candidate
