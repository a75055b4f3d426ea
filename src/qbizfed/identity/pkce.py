"""PKCE (RFC 7636, S256) and the random ``state`` and ``nonce`` values of a login.

Every value carries 256 bits from :mod:`secrets`; comparisons elsewhere use
``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

_RANDOM_BYTES = 32  # 256 bits; the spec asks for at least 128


def random_token() -> str:
    """An unguessable URL-safe value for ``state`` or ``nonce``."""
    return secrets.token_urlsafe(_RANDOM_BYTES)


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PkcePair:
    """A code verifier (kept secret until the token request) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> PkcePair:
        verifier = secrets.token_urlsafe(_RANDOM_BYTES * 2)  # 86 chars, within 43..128
        return cls(verifier=verifier, challenge=s256_challenge(verifier))
