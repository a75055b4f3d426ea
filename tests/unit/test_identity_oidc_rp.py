"""OIDC relying party against a real loopback IdP: discovery, PKCE, code exchange, refresh."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbizfed.identity.discovery import discover
from qbizfed.identity.errors import (
    AuthorizationError,
    DiscoveryDocumentError,
    IdTokenError,
    MissingEmailClaimError,
    TokenEndpointError,
)
from qbizfed.identity.id_token import IdTokenExpectations, ValidatedIdToken, validate_id_token
from qbizfed.identity.jwks import JwksCache
from qbizfed.identity.oidc import OidcRelyingParty, SyncOidcRelyingParty
from qbizfed.identity.pkce import PkcePair, random_token, s256_challenge
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.url_policy import InsecureEndpointError
from tests.support.rp_idp import LoopbackOidcIdp

T = TypeVar("T")


def run(use: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(timeout=5) as http:
            return await use(http)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


def settings(idp: LoopbackOidcIdp, **kwargs: object) -> OidcRegistration:
    base: dict[str, object] = {
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "redirect_uri": "http://127.0.0.1:8765/callback",
        "allow_insecure_loopback_http": True,
    }
    base.update(kwargs)
    return OidcRegistration(**base)  # type: ignore[arg-type]


# -- PKCE, state, nonce -------------------------------------------------------------


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_generated_pkce_pair_is_consistent_and_within_length_limits() -> None:
    pair = PkcePair.generate()
    assert 43 <= len(pair.verifier) <= 128
    assert pair.challenge == s256_challenge(pair.verifier)
    assert pair.verifier not in repr(pair)
    assert PkcePair.generate().verifier != pair.verifier


def test_state_and_nonce_carry_at_least_128_random_bits() -> None:
    values = {random_token() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert len(base64.urlsafe_b64decode(value + "==")) * 8 >= 128


# -- discovery ----------------------------------------------------------------------


def test_discovery_reads_the_loopback_idp(idp: LoopbackOidcIdp) -> None:
    meta = run(lambda http: discover(idp.issuer, http=http, allow_insecure_loopback_http=True))
    assert meta.issuer == idp.issuer
    assert meta.jwks_uri == f"{idp.base_url}/jwks"
    assert meta.token_endpoint_auth_methods_supported == idp.auth_methods


def test_discovery_of_loopback_http_needs_the_loud_switch(idp: LoopbackOidcIdp) -> None:
    with pytest.raises(InsecureEndpointError) as info:
        run(lambda http: discover(idp.issuer, http=http))
    assert "allow_insecure_loopback_http" in info.value.remedy


def test_discovery_document_for_another_issuer_is_refused(idp: LoopbackOidcIdp) -> None:
    other = idp.issuer.replace("127.0.0.1", "localhost")  # same server, other issuer string
    with pytest.raises(DiscoveryDocumentError, match="names issuer"):
        run(lambda http: discover(other, http=http, allow_insecure_loopback_http=True))


# -- authorization request ----------------------------------------------------------


def test_authorization_request_carries_pkce_state_nonce(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        first = rp.authorization_request(extra_scopes=["aws_tags"])
        second = rp.authorization_request()
        query = {k: v[0] for k, v in parse_qs(urlsplit(first.url).query).items()}
        assert first.url.startswith(f"{idp.base_url}/authorize?")
        assert query["response_type"] == "code"
        assert query["client_id"] == idp.client_id
        assert query["redirect_uri"] == "http://127.0.0.1:8765/callback"
        assert query["scope"].split() == ["openid", "email", "profile", "aws_tags"]
        assert query["state"] == first.state
        assert query["nonce"] == first.nonce
        assert query["code_challenge_method"] == "S256"
        assert query["code_challenge"] == s256_challenge(first.code_verifier)
        assert first.code_verifier not in first.url
        assert idp.client_secret not in first.url
        assert first.state != second.state
        assert first.nonce != second.nonce
        for secret in (first.state, first.nonce, first.code_verifier):
            assert secret not in repr(first)

    run(use)


# -- code exchange ------------------------------------------------------------------


def _exchange(idp: LoopbackOidcIdp, **setting_overrides: object) -> tuple[object, object]:
    async def use(http: httpx.AsyncClient) -> tuple[object, object]:
        rp = await OidcRelyingParty.discover(settings(idp, **setting_overrides), http=http)
        pending = rp.authorization_request()
        idp.token_response = {
            "access_token": "at-123",
            "refresh_token": "rt-456",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": idp.mint(idp.claims(nonce=pending.nonce)),
        }
        tokens = await rp.complete(pending, {"code": "code-xyz", "state": pending.state})
        return pending, tokens

    return run(use)


def test_code_exchange_with_client_secret_basic(idp: LoopbackOidcIdp) -> None:
    idp.token_requests.clear()
    pending, tokens = _exchange(idp)
    request = idp.token_requests[-1]
    assert request.form["grant_type"] == "authorization_code"
    assert request.form["code"] == "code-xyz"
    assert request.form["code_verifier"] == pending.code_verifier  # type: ignore[attr-defined]
    assert "client_secret" not in request.form
    expected = base64.b64encode(f"{idp.client_id}:{idp.client_secret}".encode()).decode()
    assert request.authorization == f"Basic {expected}"
    identity = tokens.identity  # type: ignore[attr-defined]
    assert identity.email == "alice@example.com"
    assert identity.protocol == "oidc"
    assert identity.issuer == idp.issuer
    assert identity.display_name == "Alice Example"
    assert identity.tags == {"Email": "alice@example.com"}
    assert identity.credential.count(".") == 2
    assert identity.credential not in repr(identity)
    assert "rt-456" not in repr(tokens)


def test_code_exchange_with_client_secret_post_when_only_that_is_advertised() -> None:
    server = LoopbackOidcIdp(auth_methods=("client_secret_post",)).start()
    try:
        _exchange(server)
        request = server.token_requests[-1]
        assert request.authorization is None
        assert request.form["client_id"] == server.client_id
        assert request.form["client_secret"] == server.client_secret
    finally:
        server.stop()


def test_callback_with_foreign_state_is_refused_before_any_token_request(
    idp: LoopbackOidcIdp,
) -> None:
    idp.token_requests.clear()

    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        pending = rp.authorization_request()
        await rp.complete(pending, {"code": "c", "state": rp.authorization_request().state})

    with pytest.raises(AuthorizationError, match="state mismatch"):
        run(use)
    assert idp.token_requests == []


def test_callback_with_idp_error_is_reported_without_exchange(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        pending = rp.authorization_request()
        await rp.complete(pending, {"error": "access_denied", "state": pending.state})

    with pytest.raises(AuthorizationError, match="access_denied"):
        run(use)


def test_token_endpoint_refusal_names_the_oauth_error(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        pending = rp.authorization_request()
        idp.token_response, idp.token_status = {"error": "invalid_client"}, 401
        try:
            await rp.complete(pending, {"code": "c", "state": pending.state})
        finally:
            idp.token_status = 200

    with pytest.raises(TokenEndpointError) as info:
        run(use)
    assert info.value.error == "invalid_client"
    assert "secret" in info.value.remedy


def test_missing_aws_tags_claim_names_the_idp_setting(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        pending = rp.authorization_request()
        claims = idp.claims(nonce=pending.nonce)
        del claims["https://aws.amazon.com/tags"]
        idp.token_response = {"id_token": idp.mint(claims)}
        await rp.complete(pending, {"code": "c", "state": pending.state})

    with pytest.raises(MissingEmailClaimError) as info:
        run(use)
    assert "Okta" in info.value.remedy
    assert "scope" in info.value.remedy


def test_refresh_grant_validates_the_new_id_token(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> object:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        idp.token_response = {
            "access_token": "at-2",
            "id_token": idp.mint(idp.claims(nonce=None, email="bob@example.com")),
        }
        return await rp.refresh("rt-old")

    tokens = run(use)
    assert idp.token_requests[-1].form == {"grant_type": "refresh_token", "refresh_token": "rt-old"}
    assert tokens.identity.email == "bob@example.com"  # type: ignore[attr-defined]
    assert tokens.refresh_token == "rt-old"  # type: ignore[attr-defined]


def test_end_session_url_leaves_the_id_token_out_unless_asked(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> tuple[str | None, str | None]:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        plain = rp.end_session_url(post_logout_redirect_uri="http://127.0.0.1:8765/")
        hinted = rp.end_session_url(id_token_hint="a.b.c")
        return plain, hinted

    plain, hinted = run(use)
    assert plain is not None
    assert hinted is not None
    query = parse_qs(urlsplit(plain).query)
    assert query == {
        "client_id": [idp.client_id],
        "post_logout_redirect_uri": ["http://127.0.0.1:8765/"],
    }
    assert parse_qs(urlsplit(hinted).query)["id_token_hint"] == ["a.b.c"]


def test_validated_id_token_cannot_be_built_directly() -> None:
    with pytest.raises(TypeError):
        ValidatedIdToken(raw="a.b.c", header={}, claims={"iss": "x"}, _witness=object())


def test_sync_facade_runs_a_whole_login(idp: LoopbackOidcIdp) -> None:
    rp = SyncOidcRelyingParty(settings(idp))
    pending = rp.authorization_request()
    idp.token_response = {"id_token": idp.mint(idp.claims(nonce=pending.nonce))}
    tokens = rp.complete(pending, {"code": "c", "state": pending.state})
    assert tokens.identity.email == "alice@example.com"


def test_callback_naming_another_issuer_is_refused(idp: LoopbackOidcIdp) -> None:
    """RFC 9207 mix-up defence: a callback's ``iss`` must be our issuer."""

    async def use(http: httpx.AsyncClient) -> None:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        pending = rp.authorization_request()
        params = {"code": "c", "state": pending.state, "iss": "https://evil.test"}
        await rp.complete(pending, params)

    with pytest.raises(AuthorizationError, match="iss mismatch"):
        run(use)


def test_refresh_naming_another_user_is_refused(idp: LoopbackOidcIdp) -> None:
    async def use(http: httpx.AsyncClient) -> object:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        idp.token_response = {"id_token": idp.mint(idp.claims(nonce=None, sub="user-mallory"))}
        return await rp.refresh("rt-old", expected_subject="user-alice")

    with pytest.raises(IdTokenError) as info:
        run(use)
    assert info.value.reason == "sub"


def test_jwks_older_than_max_age_is_fetched_again(idp: LoopbackOidcIdp) -> None:
    now = [0.0]
    cache = JwksCache(
        f"{idp.base_url}/jwks", allow_insecure_loopback_http=True, max_age=600, clock=lambda: now[0]
    )
    expected = IdTokenExpectations(issuer=idp.issuer, client_id=idp.client_id)
    token = idp.mint(idp.claims(nonce=None))

    async def validate_twice(http: httpx.AsyncClient) -> None:
        await validate_id_token(token, expected=expected, nonce=None, jwks=cache, http=http)
        now[0] += 60
        await validate_id_token(token, expected=expected, nonce=None, jwks=cache, http=http)
        assert cache.fetch_count == 1
        now[0] += 600
        await validate_id_token(token, expected=expected, nonce=None, jwks=cache, http=http)
        assert cache.fetch_count == 2

    run(validate_twice)


def test_jwks_key_is_imported_once_per_fetch(idp: LoopbackOidcIdp) -> None:
    """A login reuses the imported key (parsing an RSA JWK costs more than verifying);
    keys fetched again are imported again, so a replaced key is never served stale."""
    now = [0.0]
    cache = JwksCache(
        f"{idp.base_url}/jwks", allow_insecure_loopback_http=True, max_age=600, clock=lambda: now[0]
    )

    async def keys(http: httpx.AsyncClient) -> tuple[object, object, object]:
        first = await cache.key(idp.key.kid, "RS256", http=http)
        again = await cache.key(idp.key.kid, "RS256", http=http)
        now[0] += 600
        refetched = await cache.key(idp.key.kid, "RS256", http=http)
        return first, again, refetched

    first, again, refetched = run(keys)
    assert again is first
    assert refetched is not first
    assert cache.fetch_count == 2


def test_validated_id_token_is_immutable_and_does_not_print_the_token(
    idp: LoopbackOidcIdp,
) -> None:
    async def use(http: httpx.AsyncClient) -> ValidatedIdToken:
        rp = await OidcRelyingParty.discover(settings(idp), http=http)
        return await rp.validate(idp.mint(idp.claims(nonce="n-1")), nonce="n-1")

    token = run(use)
    with pytest.raises(AttributeError):
        token._claims = {"iss": "x"}
    with pytest.raises(TypeError):
        token.claims["sub"] = "mallory"  # type: ignore[index]
    assert token.raw not in repr(token)
    assert token.audiences == (idp.client_id,)
