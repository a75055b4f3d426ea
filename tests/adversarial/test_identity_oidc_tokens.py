"""Hostile ID tokens, one bad claim or header per case, each named after its attack.

Every case is checked against a real loopback IdP (discovery + JWKS over HTTP) and
must be refused with the expected ``reason``; the control cases prove the same
machinery accepts a good token, so a refusal is not an accident of the setup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from qbizfed.identity.errors import IdTokenError
from qbizfed.identity.id_token import IdTokenExpectations, ValidatedIdToken, validate_id_token
from qbizfed.identity.jwks import JwksCache
from tests.support.rp_idp import (
    LoopbackOidcIdp,
    SigningKey,
    b64url,
    hs256_token,
    public_pem,
    unsigned_token,
)

NONCE = "expected-nonce-value-0123456789abcdef"


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def other_issuer_key() -> SigningKey:
    return SigningKey.generate(kid="other-issuer-key")


def validate(
    idp: LoopbackOidcIdp, token: str, *, nonce: str | None = NONCE, jwks: JwksCache | None = None
) -> ValidatedIdToken:
    cache = jwks or JwksCache(f"{idp.base_url}/jwks", allow_insecure_loopback_http=True)
    expected = IdTokenExpectations(
        issuer=idp.issuer, client_id=idp.client_id, advertised_algorithms=idp.algorithms
    )

    async def main() -> ValidatedIdToken:
        async with httpx.AsyncClient(timeout=5) as http:
            return await validate_id_token(
                token, expected=expected, nonce=nonce, jwks=cache, http=http
            )

    return asyncio.run(main())


def claims(idp: LoopbackOidcIdp, **overrides: Any) -> dict[str, Any]:
    base = idp.claims(nonce=NONCE)
    for key, value in overrides.items():
        if value is _DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


_DROP = object()
NOW = int(time.time())

Case = Callable[[LoopbackOidcIdp, SigningKey], str]


def _tampered_payload(idp: LoopbackOidcIdp, _: SigningKey) -> str:
    header, _payload, signature = idp.mint(claims(idp)).split(".")
    evil = idp.mint(claims(idp, email="mallory@example.com"))
    return ".".join([header, evil.split(".")[1], signature[::-1]])


def _rs512_not_advertised(idp: LoopbackOidcIdp, _: SigningKey) -> str:
    key = RSAKey.import_key(idp.key.private)
    return jwt.encode({"alg": "RS512", "kid": idp.key.kid}, claims(idp), key, algorithms=["RS512"])


HOSTILE: dict[str, tuple[Case, str]] = {
    "alg_none_unsigned": (lambda idp, _: unsigned_token({"kid": idp.key.kid}, claims(idp)), "alg"),
    "alg_none_uppercase": (
        lambda idp, _: unsigned_token({"alg": "NONE", "kid": idp.key.kid}, claims(idp)),
        "alg",
    ),
    "hs256_key_confusion_public_pem_as_secret": (
        lambda idp, _: hs256_token({"kid": idp.key.kid}, claims(idp), public_pem(idp.key)),
        "alg",
    ),
    "hs256_key_confusion_jwk_json_as_secret": (
        lambda idp, _: hs256_token({"kid": idp.key.kid}, claims(idp), str(idp.key.jwk).encode()),
        "alg",
    ),
    "rs512_not_advertised_by_idp": (_rs512_not_advertised, "alg"),
    "kid_of_another_issuers_key": (
        lambda idp, other: idp.mint(claims(idp), key=other),
        "unknown_kid",
    ),
    "forged_signature_reusing_our_kid": (
        lambda idp, other: idp.mint(claims(idp), key=SigningKey(other.private, idp.key.kid)),
        "signature",
    ),
    "payload_swapped_after_signing": (_tampered_payload, "signature"),
    "not_a_jws_at_all": (lambda idp, _: "not-a-token", "malformed"),
    "access_token_passed_as_id_token": (
        lambda idp, _: idp.mint(claims(idp), header={"typ": "at+jwt"}),
        "typ",
    ),
    "wrong_iss": (lambda idp, _: idp.mint(claims(idp, iss="https://evil.test")), "iss"),
    "iss_with_trailing_slash": (lambda idp, _: idp.mint(claims(idp, iss=idp.issuer + "/")), "iss"),
    "aud_other_client": (lambda idp, _: idp.mint(claims(idp, aud="someone-else")), "aud"),
    "aud_missing": (lambda idp, _: idp.mint(claims(idp, aud=_DROP)), "aud"),
    "aud_extra_audience_without_azp": (
        lambda idp, _: idp.mint(claims(idp, aud=[idp.client_id, "evil-client"])),
        "azp",
    ),
    "aud_extra_audience_with_wrong_azp": (
        lambda idp, _: idp.mint(claims(idp, aud=[idp.client_id, "evil"], azp="evil")),
        "azp",
    ),
    "azp_of_another_client": (lambda idp, _: idp.mint(claims(idp, azp="evil")), "azp"),
    "expired_beyond_leeway": (
        lambda idp, _: idp.mint(claims(idp, iat=NOW - 3600, exp=NOW - 120)),
        "exp",
    ),
    "exp_missing": (lambda idp, _: idp.mint(claims(idp, exp=_DROP)), "missing_exp"),
    "exp_as_string": (lambda idp, _: idp.mint(claims(idp, exp=str(NOW + 300))), "bad_exp"),
    "exp_as_boolean": (lambda idp, _: idp.mint(claims(idp, exp=True)), "bad_exp"),
    "nbf_in_the_future": (lambda idp, _: idp.mint(claims(idp, nbf=NOW + 600)), "nbf"),
    "iat_far_in_the_future": (
        lambda idp, _: idp.mint(claims(idp, iat=NOW + 3600, exp=NOW + 7200)),
        "iat",
    ),
    "iat_missing": (lambda idp, _: idp.mint(claims(idp, iat=_DROP)), "missing_iat"),
    "sub_missing": (lambda idp, _: idp.mint(claims(idp, sub=_DROP)), "missing_sub"),
    "nonce_missing": (lambda idp, _: idp.mint(claims(idp, nonce=_DROP)), "nonce"),
    "nonce_mismatched": (lambda idp, _: idp.mint(claims(idp, nonce="attacker-nonce")), "nonce"),
    "nonce_prefix_only": (lambda idp, _: idp.mint(claims(idp, nonce=NONCE[:-1])), "nonce"),
    "oversized_token": (lambda idp, _: idp.mint(claims(idp, padding="x" * 20_000)), "size"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_id_token_is_refused(
    attack: str, idp: LoopbackOidcIdp, other_issuer_key: SigningKey
) -> None:
    build, reason = HOSTILE[attack]
    token = build(idp, other_issuer_key)
    with pytest.raises(IdTokenError) as info:
        validate(idp, token)
    assert info.value.reason == reason
    assert token not in str(info.value)
    assert info.value.remedy


def test_control_a_good_token_is_accepted(idp: LoopbackOidcIdp) -> None:
    token = validate(idp, idp.mint(claims(idp)))
    assert token.subject == "user-alice"
    assert token.claims["nonce"] == NONCE


def test_control_expiry_within_leeway_is_accepted(idp: LoopbackOidcIdp) -> None:
    validate(idp, idp.mint(claims(idp, iat=NOW - 600, exp=int(time.time()) - 30)))


def test_control_several_audiences_with_our_azp_are_accepted(idp: LoopbackOidcIdp) -> None:
    validate(idp, idp.mint(claims(idp, aud=[idp.client_id, "api"], azp=idp.client_id)))


def test_unknown_kid_refetches_jwks_exactly_once_then_refuses(
    idp: LoopbackOidcIdp, other_issuer_key: SigningKey
) -> None:
    cache = JwksCache(f"{idp.base_url}/jwks", allow_insecure_loopback_http=True)
    validate(idp, idp.mint(claims(idp)), jwks=cache)  # warm the cache
    hits = idp.jwks_hits
    bad = idp.mint(claims(idp), key=other_issuer_key)
    with pytest.raises(IdTokenError) as info:
        validate(idp, bad, jwks=cache)
    assert info.value.reason == "unknown_kid", str(info.value)
    assert idp.jwks_hits == hits + 1
    with pytest.raises(IdTokenError) as again:  # a flood of unknown kids does not hammer the IdP
        validate(idp, bad, jwks=cache)
    assert again.value.reason == "unknown_kid", str(again.value)
    assert idp.jwks_hits == hits + 1


def test_rotated_key_is_found_by_the_one_refetch() -> None:
    server = LoopbackOidcIdp().start()
    try:
        cache = JwksCache(f"{server.base_url}/jwks", allow_insecure_loopback_http=True)
        validate(server, server.mint(claims(server)), jwks=cache)
        new_key = SigningKey.generate(kid="rotated")
        server.jwks_keys.append(new_key.jwk)
        token = validate(server, server.mint(claims(server), key=new_key), jwks=cache)
        assert token.header["kid"] == "rotated"
        assert server.jwks_hits == 2
    finally:
        server.stop()


def test_jwks_with_a_weak_1024_bit_rsa_key_is_refused() -> None:
    server = LoopbackOidcIdp().start()
    try:
        weak = SigningKey.generate(bits=1024, kid="weak")
        server.jwks_keys[:] = [weak.jwk]
        with pytest.raises(IdTokenError) as info:
            validate(server, server.mint(claims(server), key=weak))
        assert info.value.reason == "weak_key"
    finally:
        server.stop()


def test_jwk_of_wrong_type_for_alg_is_refused() -> None:
    server = LoopbackOidcIdp(algorithms=("RS256", "ES256")).start()
    try:
        jwk = dict(server.key.jwk)
        header = b64url(b'{"alg":"ES256","kid":"%s"}' % server.key.kid.encode())
        token = f"{header}.{b64url(b'{}')}.{b64url(b'sig')}"
        with pytest.raises(IdTokenError) as info:
            validate(server, token)
        assert info.value.reason == "key_type"
        assert jwk["kty"] == "RSA"
    finally:
        server.stop()


def _without_kid(idp: LoopbackOidcIdp) -> str:
    key = RSAKey.import_key(idp.key.private)
    return jwt.encode({"alg": "RS256"}, claims(idp), key)


def test_token_without_kid_when_the_jwks_has_several_keys_says_exactly_that(
    other_issuer_key: SigningKey,
) -> None:
    server = LoopbackOidcIdp().start()
    try:
        server.jwks_keys = [server.key.jwk, other_issuer_key.jwk]
        with pytest.raises(IdTokenError) as refused:
            validate(server, _without_kid(server))
        assert refused.value.reason == "missing_kid"
        assert "has no 'kid' header and the IdP's JWKS has 2 RS256 keys" in refused.value.message
        assert "does not publish" not in refused.value.message
    finally:
        server.stop()


def test_control_token_without_kid_is_accepted_when_the_jwks_has_one_key(
    idp: LoopbackOidcIdp,
) -> None:
    assert validate(idp, _without_kid(idp)).subject


def test_algorithm_refusal_names_the_tokens_algorithm_and_the_allowed_set(
    idp: LoopbackOidcIdp, other_issuer_key: SigningKey
) -> None:
    with pytest.raises(IdTokenError) as refused:
        validate(idp, _rs512_not_advertised(idp, other_issuer_key))
    assert refused.value.reason == "alg"
    assert "signed with algorithm 'RS512'" in refused.value.message
    assert "the algorithms allowed here are RS256" in refused.value.message
