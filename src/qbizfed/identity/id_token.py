"""ID-token validation in one step: a :class:`ValidatedIdToken` exists only once checked.

Checks, in order (OpenID Connect Core 1.0 §3.1.3.7): size; header (``alg`` among the
IdP's advertised asymmetric algorithms, never ``none`` or ``HS*``); key from the JWKS
(type fits ``alg``, strong enough, one refetch on unknown ``kid``); signature (joserfc);
``iss`` exact; ``aud`` contains our client id and, with several audiences, ``azp`` is our
client id; ``exp``/``nbf``/``iat`` with a small leeway; ``nonce`` equal
(``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from qbizfed.identity.errors import IdTokenError
from qbizfed.identity.jwks import ALG_KEY_TYPES, JwksCache

DEFAULT_MAX_TOKEN_BYTES = 16 * 1024
DEFAULT_LEEWAY_SECONDS = 60
_ID_TOKEN_TYPES = frozenset({"jwt", "application/jwt"})


@dataclass(frozen=True)
class IdTokenExpectations:
    """What a valid ID token for this relying party must look like."""

    issuer: str
    client_id: str
    advertised_algorithms: tuple[str, ...] = ("RS256",)
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES

    @property
    def allowed_algorithms(self) -> tuple[str, ...]:
        """The IdP's advertised algorithms that we also accept (asymmetric only)."""
        return tuple(a for a in self.advertised_algorithms if a in ALG_KEY_TYPES)


_WITNESS = object()


class ValidatedIdToken:
    """A signature-checked ID token whose claims passed every check.

    Only :func:`validate_id_token` can build one (direct construction raises, and it is
    not a dataclass, so ``dataclasses.replace`` cannot forge a modified copy).
    """

    __slots__ = ("_claims", "_header", "_raw")

    def __init__(
        self, *, raw: str, header: Mapping[str, Any], claims: Mapping[str, Any], _witness: object
    ) -> None:
        if _witness is not _WITNESS:
            raise TypeError("ValidatedIdToken is created by validate_id_token() only")
        self._raw = raw
        self._header: Mapping[str, Any] = MappingProxyType(dict(header))
        self._claims: Mapping[str, Any] = MappingProxyType(dict(claims))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):
            raise AttributeError("ValidatedIdToken is immutable")
        object.__setattr__(self, name, value)

    @property
    def raw(self) -> str:
        """The compact JWS, for STS (AssumeRoleWithWebIdentity); never log it."""
        return self._raw

    @property
    def header(self) -> Mapping[str, Any]:
        return self._header

    @property
    def claims(self) -> Mapping[str, Any]:
        return self._claims

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.claims["exp"]), tz=UTC)

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims["aud"]
        return (aud,) if isinstance(aud, str) else tuple(aud)

    def __repr__(self) -> str:
        return f"ValidatedIdToken(iss={self.issuer!r}, sub={self.subject!r})"


def _reject(message: str, reason: str, remedy: str = "") -> IdTokenError:
    return IdTokenError(message, reason=reason, remedy=remedy)


MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


def _numeric(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _reject(f"the ID token has no {name!r} claim", f"missing_{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reject(f"the ID token's {name!r} claim is not a number", f"bad_{name}")
    if not math.isfinite(value) or not 0 <= value <= MAX_NUMERIC_DATE:
        # NaN compares false with everything, so it would never expire; huge values
        # overflow datetime later. A NumericDate is seconds since 1970, before 9999.
        raise _reject(f"the ID token's {name!r} claim is not a valid time", f"bad_{name}")
    return float(value)


def check_claims(
    claims: Mapping[str, Any],
    expected: IdTokenExpectations,
    *,
    nonce: str | None,
    now: float,
) -> None:
    """The claim checks of OIDC Core §3.1.3.7 (pure: no I/O)."""
    leeway = expected.leeway_seconds
    if claims.get("iss") != expected.issuer:
        raise _reject(
            f"the ID token was issued by {str(claims.get('iss'))[:200]!r}, "
            f"expected {expected.issuer!r}",
            "iss",
            "configure the issuer exactly as the IdP's discovery document states it",
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise _reject("the ID token has no 'sub' claim", "missing_sub")

    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise _reject("the ID token has no valid 'aud' claim", "aud")
    if expected.client_id not in audiences:
        raise _reject(
            f"the ID token is not meant for client {expected.client_id!r}",
            "aud",
            "check that the client id configured here is the one the IdP issued to this app",
        )
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise _reject("the ID token has several audiences but no 'azp' claim", "azp")
    if azp is not None and azp != expected.client_id:
        raise _reject("the ID token's 'azp' is another client", "azp")

    exp = _numeric(claims, "exp", required=True)
    iat = _numeric(claims, "iat", required=True)
    nbf = _numeric(claims, "nbf", required=False)
    assert exp is not None
    assert iat is not None
    if now >= exp + leeway:
        raise _reject(
            "the ID token has expired", "exp", "sign in again; if this repeats, check the clock"
        )
    if iat > now + leeway:
        raise _reject(
            "the ID token was issued in the future", "iat", "check the clocks of IdP and this host"
        )
    if nbf is not None and nbf > now + leeway:
        raise _reject("the ID token is not valid yet", "nbf", "check the clocks of IdP and host")

    if nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(
            got.encode("utf-8"), nonce.encode("utf-8")
        ):
            raise _reject(
                "the ID token's nonce does not match this login",
                "nonce",
                "start the login again from this application (do not reuse old links)",
            )


def _header(token: str) -> Mapping[str, Any]:
    try:
        obj = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, UnicodeError) as exc:
        raise _reject("the ID token is not a well-formed JWS", "malformed") from exc
    return obj.headers()


async def validate_id_token(
    token: str,
    *,
    expected: IdTokenExpectations,
    nonce: str | None,
    jwks: JwksCache,
    http: httpx.AsyncClient,
    now: float | None = None,
) -> ValidatedIdToken:
    """Validate ``token`` completely, or raise :class:`IdTokenError`.

    ``nonce`` is the value sent in the authorization request; pass ``None`` only for
    tokens from a refresh grant (which need not repeat it).
    """
    if len(token) > expected.max_token_bytes:
        raise _reject(
            f"the ID token is larger than {expected.max_token_bytes} bytes", "size",
            "ask the IdP to release fewer claims in the ID token",
        )  # fmt: skip
    header = _header(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in expected.allowed_algorithms:
        allowed = ", ".join(expected.allowed_algorithms) or "none"
        raise _reject(
            f"the ID token is signed with algorithm {str(alg)[:20]!r}; the algorithms "
            f"allowed here are {allowed} (the IdP's advertised "
            f"{', '.join(a[:20] for a in expected.advertised_algorithms[:8]) or 'none'}, "
            "asymmetric only)",
            "alg",
            "configure the IdP to sign ID tokens with an asymmetric algorithm it "
            "advertises in id_token_signing_alg_values_supported (RS256 is the usual one)",
        )
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ID_TOKEN_TYPES):
        # RFC 9068 access tokens (typ at+jwt) and other JWTs must not pass as ID tokens.
        raise _reject(f"the token's type {str(typ)[:40]!r} is not an ID token", "typ")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _reject("the ID token's 'kid' is not a string", "malformed")
    key = await jwks.key(kid, alg, http=http)
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[alg])
    except BadSignatureError as exc:
        raise _reject("the ID token's signature is invalid", "signature") from exc
    except (JoseError, ValueError) as exc:
        raise _reject("the ID token could not be verified", "signature") from exc
    try:
        claims = json.loads(verified.payload or b"")
    except ValueError as exc:
        raise _reject("the ID token's payload is not JSON", "malformed") from exc
    if not isinstance(claims, dict):
        raise _reject("the ID token's payload is not a JSON object", "malformed")
    check_claims(claims, expected, nonce=nonce, now=time.time() if now is None else now)
    return ValidatedIdToken(raw=token, header=verified.headers(), claims=claims, _witness=_WITNESS)
