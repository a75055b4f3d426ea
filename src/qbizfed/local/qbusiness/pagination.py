"""``nextToken``/``maxResults`` pagination over an ordered list, as Q Business pages.

Tokens are opaque to clients (base64 of a position bound to the operation), so a
token from one list cannot be replayed against another; a token that does not
decode answers ``ValidationException`` like AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from qbizfed.local.qbusiness.api_errors import ValidationError

T = TypeVar("T")


def _encode(scope: str, offset: int) -> str:
    raw = json.dumps({"s": scope, "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode(scope: str, token: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        offset = payload["o"]
        if payload["s"] != scope or not isinstance(offset, int) or offset < 0:
            raise ValueError("token scope")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ValidationError(
            "The nextToken is invalid.",
            fields=[("nextToken", "Invalid pagination token")],
        ) from exc
    return offset


def page(
    items: Sequence[T],
    *,
    scope: str,
    next_token: str | None,
    max_results: int | None,
    default_max: int,
) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token for the next page (None on the last page)."""
    start = _decode(scope, next_token) if next_token else 0
    size = max_results or default_max
    chunk = list(items[start : start + size])
    end = start + len(chunk)
    return chunk, (_encode(scope, end) if end < len(items) else None)
