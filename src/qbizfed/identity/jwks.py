"""The IdP's signing keys (JWKS), cached, refetched exactly once for an unknown ``kid``.

Keys are filtered before use: signature keys only (``use`` absent or ``sig``), the key
type must fit the token's algorithm, and RSA keys must have at least 2048 bits.
A refetch is also rate-limited so that tokens with random ``kid`` values cannot make
us hammer the IdP; keys older than ``max_age`` are fetched again on next use, so a key
the IdP withdrew stops being trusted.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, import_key

from qbizfed.identity.discovery import fetch_json
from qbizfed.identity.errors import IdTokenError
from qbizfed.url_policy import require_secure_url

MIN_RSA_BITS = 2048

# Asymmetric JWS algorithms we accept, and the key type each needs. HS* and "none"
# are absent on purpose: a relying party never shares a secret with the IdP's JWKS.
ALG_KEY_TYPES: Mapping[str, str] = {
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
    "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
    "ES256": "EC", "ES384": "EC", "ES512": "EC",
    "EdDSA": "OKP", "Ed25519": "OKP",
}  # fmt: skip
ALG_CURVES: Mapping[str, str] = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _b64_bits(value: object) -> int:
    if not isinstance(value, str):
        return 0
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big").bit_length()


def key_for_alg(jwk: Mapping[str, Any], alg: str) -> Key:
    """Import one JWK for verifying ``alg``, refusing mismatched types and weak keys."""
    kty = jwk.get("kty")
    wanted = ALG_KEY_TYPES.get(alg)
    if wanted is None or kty != wanted:
        raise IdTokenError(
            f"the token's algorithm {alg} does not fit the IdP key type {kty!r}",
            reason="key_type",
        )
    if jwk.get("use") not in (None, "sig"):
        raise IdTokenError("the IdP key is not a signing key", reason="key_use")
    if jwk.get("alg") not in (None, alg):
        raise IdTokenError(
            f"the IdP key is for {jwk.get('alg')}, the token uses {alg}", reason="key_alg"
        )
    if kty == "RSA" and _b64_bits(jwk.get("n")) < MIN_RSA_BITS:
        raise IdTokenError(
            f"the IdP's RSA signing key is shorter than {MIN_RSA_BITS} bits",
            reason="weak_key",
            remedy="the IdP must sign with an RSA key of at least 2048 bits (or EC)",
        )
    if kty == "EC" and alg in ALG_CURVES and jwk.get("crv") != ALG_CURVES[alg]:
        raise IdTokenError(f"{alg} needs curve {ALG_CURVES[alg]}", reason="key_type")
    public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
    try:
        if kty == "RSA":
            return import_key(public, "RSA")
        if kty == "EC":
            return import_key(public, "EC")
        return import_key(public, "OKP")
    except (JoseError, ValueError, TypeError) as exc:
        raise IdTokenError("the IdP published a malformed key", reason="bad_jwk") from exc


class JwksCache:
    """Signing keys of one issuer, fetched lazily over httpx and shared across logins."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        allow_insecure_loopback_http: bool = False,
        min_refetch_interval: float = 30.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_uri = require_secure_url(
            jwks_uri, what="jwks_uri", allow_insecure_loopback_http=allow_insecure_loopback_http
        )
        self._keys: list[Mapping[str, Any]] | None = None
        self._imported: dict[tuple[int, str], tuple[Mapping[str, Any], Key]] = {}
        """Keys already imported by :func:`key_for_alg`, by (``id`` of the JWK, alg), kept
        with the JWK itself so an ``id`` reused by another object never matches: an RSA
        import parses the modulus each time (0.075 ms, more than the signature check)."""
        self._refetched_at = float("-inf")
        self._fetched_at = float("-inf")
        self._max_age = max_age
        self._min_refetch_interval = min_refetch_interval
        self._clock = clock
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def _fetch(self, http: httpx.AsyncClient) -> list[Mapping[str, Any]]:
        doc = await fetch_json(http, self.jwks_uri, what="JWKS")
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list):
            raise IdTokenError(
                "the IdP's JWKS has no 'keys' list", reason="bad_jwks",
                remedy="check the jwks_uri in the IdP's discovery document",
            )  # fmt: skip
        self.fetch_count += 1
        self._fetched_at = self._clock()
        self._keys = [k for k in keys if isinstance(k, dict)]
        self._imported = {}  # the JWKs they were imported from are gone
        return self._keys

    @staticmethod
    def _find(keys: list[Mapping[str, Any]], kid: str | None, alg: str) -> Mapping[str, Any] | None:
        if kid is not None:
            matches = [k for k in keys if k.get("kid") == kid]
        else:
            # No kid: acceptable only when exactly one key of the right type exists.
            matches = [k for k in keys if k.get("kty") == ALG_KEY_TYPES.get(alg)]
        return matches[0] if len(matches) == 1 else None

    async def key(self, kid: str | None, alg: str, *, http: httpx.AsyncClient) -> Key:
        """The verification key for ``kid``; one refetch if it is unknown, then refusal.

        Keys fetched during this very call are fresh and are not fetched again; a
        refetch caused by an unknown ``kid`` happens at most once per
        ``min_refetch_interval`` seconds.
        """
        async with self._lock:
            if self._keys is None or self._clock() - self._fetched_at >= self._max_age:
                # First use, or keys old enough that a revoked key must not linger.
                found = self._find(await self._fetch(http), kid, alg)
            else:
                found = self._find(self._keys, kid, alg)
                now = self._clock()
                if found is None and now - self._refetched_at >= self._min_refetch_interval:
                    self._refetched_at = now
                    found = self._find(await self._fetch(http), kid, alg)
        if found is None and kid is None:
            candidates = [k for k in self._keys or [] if k.get("kty") == ALG_KEY_TYPES.get(alg)]
            if len(candidates) > 1:
                raise IdTokenError(
                    f"the ID token has no 'kid' header and the IdP's JWKS has "
                    f"{len(candidates)} {alg} keys, so the signing key cannot be chosen",
                    reason="missing_kid",
                    remedy="configure the IdP to put 'kid' in the ID token's header (every "
                    "IdP that publishes several keys should), or to publish one signing key",
                )
        if found is None:
            raise IdTokenError(
                "the token was signed with a key the IdP does not publish"
                + (f" (kid {kid!r})" if kid is not None and len(kid) <= 64 else ""),
                reason="unknown_kid",
                remedy="if the IdP rotated keys just now, sign in again; otherwise the token "
                "did not come from this issuer",
            )
        cached = self._imported.get((id(found), alg))
        if cached is not None and cached[0] is found:
            return cached[1]
        imported = key_for_alg(found, alg)
        self._imported[(id(found), alg)] = (found, imported)
        return imported
