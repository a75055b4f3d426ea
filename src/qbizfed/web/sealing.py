"""Authenticated encryption of values the web broker keeps outside its own process.

Whatever ``qbizfed serve`` writes to a shared session store (Redis) is sealed first:
sessions hold STS credentials and ID tokens, pending logins hold PKCE verifiers and
nonces, SAML tickets hold the assertion. Anyone who can read the store (a backup, a
``MONITOR``, a misconfigured replica) sees only ciphertext.

* Cipher: AES-256-GCM (``cryptography``'s ``AESGCM``) with a random 96-bit nonce.
* Keys: ``QBIZFED_SESSION_KEY`` holds one or more base64-encoded 32-byte keys separated
  by commas. The first seals; all of them open, so a key is rotated by putting the new
  one first, waiting one session lifetime (12 hours at most), then dropping the old.
* Each sealed value names its key by a 4-byte fingerprint, so opening costs one
  decryption, not one per configured key.
* The associated data binds a value to the storage slot it was written to: a value
  copied to another key (another user's session, another login's state) does not open.

Wire format, version 1::

    0x01 | key fingerprint (4) | nonce (12) | ciphertext and GCM tag
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qbizfed.errors import ConfigError
from qbizfed.settings.environment import SERVE_SESSIONS

#: Where the keys are set: ``[serve.sessions] key`` or this variable.
SESSION_KEY_ENV = SERVE_SESSIONS["key"]
KEY_BYTES = 32
VERSION = b"\x01"
FINGERPRINT_BYTES = 4
NONCE_BYTES = 12
_HEADER_BYTES = len(VERSION) + FINGERPRINT_BYTES
_GENERATE_HINT = "generate one with: openssl rand -base64 32"


class SealedValueError(Exception):
    """A sealed value did not open: tampered, truncated, moved to another key, or sealed
    with a key that is no longer configured. Callers treat the value as absent."""


def fingerprint(key: bytes) -> bytes:
    """Names a key inside sealed values without revealing anything about it."""
    return hashlib.sha256(b"qbizfed session key fingerprint\x00" + key).digest()[:FINGERPRINT_BYTES]


def _decode_key(text: str, position: int) -> bytes:
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            raw = base64.urlsafe_b64decode(padded.encode("ascii"))
        else:
            raw = base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ConfigError(
            f"session key #{position} in {SESSION_KEY_ENV} is not base64",
            remedy=f"give {KEY_BYTES} random bytes in base64; {_GENERATE_HINT}",
        ) from exc
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            f"session key #{position} in {SESSION_KEY_ENV} is {len(raw)} bytes, not {KEY_BYTES}",
            remedy=f"give {KEY_BYTES} random bytes in base64; {_GENERATE_HINT}",
        )
    return raw


@dataclass(frozen=True)
class SessionKeys:
    """The broker's sealing keys: ``keys[0]`` seals, every key opens. Never printed."""

    keys: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError(
                "no session key is configured",
                remedy=f"set {SESSION_KEY_ENV}; {_GENERATE_HINT}",
            )
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"a session key is {len(key)} bytes, not {KEY_BYTES}",
                    remedy=_GENERATE_HINT,
                )

    def __repr__(self) -> str:
        return f"SessionKeys(<{len(self.keys)} key(s) hidden>)"

    @classmethod
    def parse(cls, text: str) -> SessionKeys:
        """``"<current>[,<previous>...]"``, each key base64 (standard or URL-safe)."""
        parts = [p for p in text.replace("\n", ",").split(",") if p.strip()]
        return cls(tuple(_decode_key(p, n) for n, p in enumerate(parts, start=1)))

    @classmethod
    def generate(cls) -> SessionKeys:
        """One fresh random key (tests, single-process use)."""
        return cls((secrets.token_bytes(KEY_BYTES),))

    def encoded(self) -> str:
        """The value to put in ``QBIZFED_SESSION_KEY`` (a secret: do not log it)."""
        return ",".join(base64.b64encode(k).decode("ascii") for k in self.keys)

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``context`` (the storage key)."""
        header = VERSION + fingerprint(self.keys[0])
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, plaintext, header + context)
        return header + nonce + sealed

    def open(self, sealed: bytes, *, context: bytes) -> bytes:
        """The plaintext of a value from :meth:`seal`; :class:`SealedValueError` otherwise."""
        if len(sealed) < _HEADER_BYTES + NONCE_BYTES + 16 or sealed[:1] != VERSION:
            raise SealedValueError("not a sealed value of a known version")
        header = sealed[:_HEADER_BYTES]
        nonce = sealed[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES]
        body = sealed[_HEADER_BYTES + NONCE_BYTES :]
        wanted = header[len(VERSION) :]
        for key in self.keys:
            if fingerprint(key) != wanted:
                continue
            try:
                return AESGCM(key).decrypt(nonce, body, header + context)
            except InvalidTag:
                continue  # a fingerprint collision, or tampering: try any other candidate
        raise SealedValueError("the value does not open with any configured key")
