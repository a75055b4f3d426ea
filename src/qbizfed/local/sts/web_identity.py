"""A web identity (OIDC ID) token, validated the way AWS STS validates it.

``validate_web_identity_token`` parses and validates in one step; a ``WebIdentity``
exists only for a token whose issuer is an IAM OIDC provider of the role's account,
whose signature verifies with a key from the issuer's JWKS (algorithm pinned to that
key), whose ``aud`` is one of the provider's client IDs and whose ``exp``/``nbf``/
``iat`` hold. Its session tags come from the ``https://aws.amazon.com/tags`` claim.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from qbizfed.local.moto_backend import OidcProvider
from qbizfed.local.sts.jwks import JwksCache, fetchable
from qbizfed.local.sts.refusal import expired_token, invalid_token, validation_error
from qbizfed.local.sts.session_tags import SessionTags, build_session_tags

TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
MAX_TOKEN_CHARS = 20000  # botocore's STS model: clientTokenType, 4..20000
CLOCK_SKEW_SECONDS = 120
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SOURCE_IDENTITY = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


@dataclass(frozen=True)
class WebIdentity:
    """The facts of a validated token that STS acts on."""

    issuer: str
    """The ``iss`` claim exactly as in the token (STS returns it as ``Provider``)."""
    provider: OidcProvider
    subject: str
    audience: str
    """The ``aud`` value that matched one of the provider's client IDs."""
    amr: tuple[str, ...]
    tags: SessionTags
    source_identity: str | None


def _claims_segment(token: str) -> tuple[dict[str, object], dict[str, object]]:
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        header = dict(compact.headers())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError, TypeError) as exc:
        raise invalid_token(
            "Couldn't parse the web identity token: it is not a signed JWT."
        ) from exc
    if not isinstance(claims, dict):
        raise invalid_token("Couldn't parse the web identity token: its claims are not an object.")
    return header, claims


def _strip_scheme(issuer: str) -> str | None:
    """The issuer as IAM stores provider URLs (no scheme), or None if it is not fetchable."""
    if not fetchable(issuer):
        return None
    scheme = urlsplit(issuer).scheme
    return issuer[len(scheme) + 3 :]


def _find_provider(issuer: object, providers: Sequence[OidcProvider]) -> tuple[str, OidcProvider]:
    if not isinstance(issuer, str) or not issuer:
        raise invalid_token("The web identity token has no iss claim.")
    stored_form = _strip_scheme(issuer)
    for provider in providers:
        if stored_form is not None and provider.url == stored_form:
            return issuer, provider
    raise invalid_token(f"No OpenIDConnect provider found in your account for {issuer}")


def _allowed_algorithms(key: RSAKey | ECKey) -> frozenset[str]:
    """Pin the algorithm to the key: its ``alg`` if it says, else what its type allows."""
    declared = key.get("alg")
    if isinstance(declared, str):
        return frozenset({declared}) - {"none"}
    if isinstance(key, RSAKey):
        return _RSA_ALGS
    curve = key.get("crv")
    if isinstance(curve, str) and curve in _EC_ALGS:
        return frozenset({_EC_ALGS[curve]})
    return frozenset()


def _select_key(key_set: KeySet, kid: object) -> RSAKey | ECKey | None:
    candidates = [
        key
        for key in key_set.keys
        if isinstance(key, RSAKey | ECKey) and key.get("use", "sig") == "sig"
    ]
    if isinstance(kid, str):
        for key in candidates:
            if key.kid == kid:
                return key
        return None
    # No kid: only unambiguous when the issuer publishes a single signing key.
    return candidates[0] if len(candidates) == 1 else None


def _verify_signature(
    token: str, header: Mapping[str, object], issuer: str, keys: JwksCache
) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg.startswith("HS"):
        raise invalid_token("The web identity token's signing algorithm is not allowed.")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise invalid_token("The web identity token's kid is not a string.")
    key = _select_key(keys.key_set(issuer, wanted_kid=kid), kid)
    if key is None:
        raise invalid_token(
            "Couldn't verify the web identity token: no key in the issuer's JWKS matches its kid."
        )
    allowed = _allowed_algorithms(key)
    if alg not in allowed:
        raise invalid_token(
            "The web identity token's signing algorithm does not match the issuer's key."
        )
    try:
        jws.deserialize_compact(token, key, algorithms=[alg])
    except (JoseError, ValueError) as exc:
        raise invalid_token("Couldn't verify the signature of the web identity token.") from exc


MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z; NaN and infinities never expire


def _numeric_date(claims: Mapping[str, object], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise invalid_token(f"The web identity token has no {name} claim.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_token(f"The web identity token's {name} claim is not a number.")
    if not math.isfinite(value) or not 0 <= value <= MAX_NUMERIC_DATE:
        raise invalid_token(f"The web identity token's {name} claim is not a valid time.")
    return float(value)


def _check_times(claims: Mapping[str, object], now: datetime) -> None:
    moment = now.timestamp()
    exp = _numeric_date(claims, "exp", required=True)
    assert exp is not None
    if moment >= exp:
        raise expired_token(
            f"Token expired: current date/time {int(moment)} must be before the expiration "
            f"date/time {int(exp)}"
        )
    nbf = _numeric_date(claims, "nbf", required=False)
    if nbf is not None and nbf > moment + CLOCK_SKEW_SECONDS:
        raise invalid_token("The web identity token is not valid yet (nbf is in the future).")
    iat = _numeric_date(claims, "iat", required=False)
    if iat is not None and iat > moment + CLOCK_SKEW_SECONDS:
        raise invalid_token("The web identity token was issued in the future (iat).")


def _matched_audience(claims: Mapping[str, object], provider: OidcProvider) -> str:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    for audience in audiences:
        if isinstance(audience, str) and audience in provider.client_ids:
            return audience
    raise invalid_token("Incorrect token audience")


def _string_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_token(f"The {what} in the {TAGS_CLAIM} claim must be a list of strings.")
    return [str(item) for item in value]


def session_tags_from_claims(claims: Mapping[str, object]) -> SessionTags:
    """``principal_tags`` (each value a one-element list) and ``transitive_tag_keys``."""
    raw = claims.get(TAGS_CLAIM)
    if raw is None:
        return SessionTags()
    if not isinstance(raw, Mapping):
        raise invalid_token(f"The {TAGS_CLAIM} claim must be an object.")
    principal_tags = raw.get("principal_tags", {})
    if not isinstance(principal_tags, Mapping):
        raise invalid_token(f"principal_tags in the {TAGS_CLAIM} claim must be an object.")
    pairs: list[tuple[str, str]] = []
    for key, values in principal_tags.items():
        listed = _string_list(values, f"value of tag {key!r}")
        if len(listed) != 1:
            raise invalid_token(
                f"Session tag {key!r} must have exactly one value (multivalued tags are not "
                "supported)."
            )
        pairs.append((str(key), listed[0]))
    transitive = _string_list(raw.get("transitive_tag_keys", []), "transitive_tag_keys")
    return build_session_tags(pairs, transitive)


def _xml_safe(text: str) -> bool:
    return not _XML_INVALID.search(text)


def _source_identity(claims: Mapping[str, object]) -> str | None:
    value = claims.get(SOURCE_IDENTITY_CLAIM)
    if value is None:
        return None
    if not isinstance(value, str) or not _SOURCE_IDENTITY.fullmatch(value):
        raise validation_error(
            "The source identity must be 2 to 64 characters matching [\\w+=,.@-]."
        )
    if value.lower().startswith("aws:"):
        raise validation_error("The source identity cannot begin with 'aws:'.")
    return value


def validate_web_identity_token(
    token: str, *, providers: Sequence[OidcProvider], keys: JwksCache, now: datetime
) -> WebIdentity:
    """Parse and validate ``token``; ``StsRefusalError`` with AWS's code if anything is off."""
    if len(token) < 4 or len(token) > MAX_TOKEN_CHARS:
        raise validation_error(
            "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
            f"constraint: Member must have length between 4 and {MAX_TOKEN_CHARS}"
        )
    header, unverified = _claims_segment(token)
    issuer, provider = _find_provider(unverified.get("iss"), providers)
    _verify_signature(token, header, issuer, keys)
    claims = unverified  # the signature now vouches for exactly these bytes
    audience = _matched_audience(claims, provider)
    _check_times(claims, now)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise invalid_token("The web identity token has no sub claim.")
    if not _xml_safe(subject):
        # STS echoes sub in its XML response; a control character would make it unparseable.
        raise invalid_token("The web identity token's sub claim contains invalid characters.")
    amr = claims.get("amr")
    amr_values = tuple(str(v) for v in amr) if isinstance(amr, list) else ()
    if isinstance(amr, str):
        amr_values = (amr,)
    return WebIdentity(
        issuer=issuer,
        provider=provider,
        subject=subject,
        audience=audience,
        amr=amr_values,
        tags=session_tags_from_claims(claims),
        source_identity=_source_identity(claims),
    )
