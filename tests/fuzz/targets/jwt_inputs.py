"""Turn fuzz bytes into a JWT: raw text, or fuzzed header and payload under a real signature.

Mode ``\\x00``: the rest is the token text (exercises parsing, header and key lookup).
Mode ``\\x01``: header JSON and payload bytes, NUL-separated, signed RS256 with the
issuer's genuine key, so claim checks behind the signature are reached as well.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tests.fuzz.targets.base import join_fields, split_fields

MODE_TEXT = b"\x00"
MODE_SIGNED = b"\x01"


def _header(raw: bytes, kid: str) -> dict[str, Any]:
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError):
        decoded = None
    header: dict[str, Any] = {"kid": kid}
    if isinstance(decoded, dict):
        header.update(decoded)
    header["alg"] = "RS256"
    return header


def token_from(data: bytes, *, key: RSAKey, kid: str) -> str:
    mode, rest = data[:1], data[1:]
    if mode == MODE_SIGNED:
        header_raw, payload = split_fields(rest, 2)
        try:
            compact = jws.serialize_compact(
                _header(header_raw, kid), payload, key, algorithms=["RS256"]
            )
        except (JoseError, ValueError, TypeError):
            return rest.decode("utf-8", errors="replace")  # not signable: fuzz it as text
        return str(compact)
    return rest.decode("utf-8", errors="replace")


def signed_seed(header: dict[str, Any], claims: dict[str, Any]) -> bytes:
    return MODE_SIGNED + join_fields(json.dumps(header).encode(), json.dumps(claims).encode())


def text_seed(token: str) -> bytes:
    return MODE_TEXT + token.encode()
