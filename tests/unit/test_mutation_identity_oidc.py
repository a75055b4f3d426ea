"""What the OIDC relying party promises users and IdPs, pinned where mutants survived.

Written because mutants of ``identity/oidc.py``, ``pkce.py``, ``id_token.py`` and
``device_authorization.py`` survived ``make mutate``: the behaviour was only checked by the
web, creds and STS tests outside the fast identity selection. Each test names what a user
or an IdP relies on. The IdP is scripted behind an ``httpx.MockTransport`` (the I/O seam):
discovery, JWKS, token, UserInfo and device endpoints answer real HTTP requests whose
method, headers and form the tests read back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbizfed.identity.device_authorization import (
    DeviceAuthorization,
    parse_device_authorization,
    start_device_authorization,
)
from qbizfed.identity.errors import (
    AuthorizationError,
    IdTokenError,
    MissingEmailClaimError,
    TokenEndpointError,
    UserInfoError,
)
from qbizfed.identity.id_token import ValidatedIdToken
from qbizfed.identity.oidc import (
    MAX_TOKEN_RESPONSE_BYTES,
    MAX_USERINFO_BYTES,
    OidcRelyingParty,
    PendingAuthorization,
    TokenSet,
)
from qbizfed.identity.pkce import s256_challenge
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.url_policy import InsecureEndpointError
from tests.support.rp_idp import SigningKey

T = TypeVar("T")
ISSUER = "https://idp.example.test"
REDIRECT_URI = "https://app.example.test/oidc/callback"
TAGS_CLAIM = "https://aws.amazon.com/tags"


def client_settings(**changes: Any) -> OidcRegistration:
    """The one place the client registration is built (a confidential client by default)."""
    base: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": "qbizfed-client",
        "client_secret": "client-secret-0123456789",
        "redirect_uri": REDIRECT_URI,
    }
    base.update(changes)
    return OidcRegistration(**base)


class ScriptedIdp:
    """An OpenID Provider answering over an ``httpx.MockTransport``; it records requests.

    ``answers`` maps a path to a handler; without one, ``/token`` answers ``token_body``
    (or 400 ``invalid_grant``) and ``/userinfo`` the claims of the last ID token minted.
    """

    def __init__(self, **discovery: Any) -> None:
        self.key = SigningKey.generate()
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.token_body: dict[str, Any] | None = None
        self.last_claims: dict[str, Any] = {}
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
            "device_authorization_endpoint": f"{ISSUER}/device",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }
        self.discovery.update(discovery)
        self.discovery = {k: v for k, v in self.discovery.items() if v is not None}

    def claims(self, *, nonce: str | None = None, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "user-alice",
            "aud": "qbizfed-client",
            "iat": now,
            "exp": now + 300,
            "email": "alice@example.com",
            TAGS_CLAIM: {"principal_tags": {"Email": ["alice@example.com"]}},
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, claims: dict[str, Any]) -> str:
        self.last_claims = claims
        return self.key.sign_rs256({}, claims)

    def received(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in self.answers:
            return self.answers[path](request)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.jwk]})
        if path == "/token":
            if self.token_body is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json=self.token_body)
        if path == "/userinfo":
            keep = ("sub", "name", "preferred_username", "groups")
            return httpx.Response(
                200, json={k: v for k, v in self.last_claims.items() if k in keep}
            )
        return httpx.Response(404, json={"error": "not_found"})


def run(
    idp: ScriptedIdp,
    use: Callable[[OidcRelyingParty], Awaitable[T]],
    *,
    cached_metadata: Mapping[str, Any] | None = None,
    expectations: Mapping[str, Any] | None = None,
    **settings: Any,
) -> T:
    """Discover ``idp`` and hand the relying party to ``use`` (one event loop per test).

    ``cached_metadata`` changes the discovered metadata, as if the relying party had been
    built from a stored copy (the endpoints' own URL checks still apply); ``expectations``
    changes what an ID token must look like (clock leeway, size limit).
    """

    async def main() -> T:
        async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handle)) as http:
            rp = await OidcRelyingParty.discover(client_settings(**settings), http=http)
            if cached_metadata is not None:
                metadata = replace(rp.metadata, **cached_metadata)
                rp = OidcRelyingParty(rp.settings, metadata, http=http)
            if expectations is not None:
                rp.expectations = replace(rp.expectations, **expectations)
            return await use(rp)

    return asyncio.run(main())


def sign_in(
    idp: ScriptedIdp, *, token_extra: Mapping[str, Any] | None = None, **claims: Any
) -> TokenSet:
    """A whole browser login: authorization request, callback, code exchange."""

    async def use(rp: OidcRelyingParty) -> TokenSet:
        pending = rp.authorization_request()
        idp.token_body = {
            "id_token": idp.mint(idp.claims(nonce=pending.nonce, **claims)),
            "access_token": "at-1",
            "token_type": "Bearer",
            **(token_extra or {}),
        }
        return await rp.complete(pending, {"state": pending.state, "code": "code-1"})

    return run(idp, use)


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


# -- the identity a sign-in yields ---------------------------------------------------


def test_sign_in_yields_the_id_tokens_subject_groups_tags_expiry_and_audiences() -> None:
    idp = ScriptedIdp()
    tags = {"principal_tags": {"Email": ["alice@example.com"], "Team": ["blue"]},
            "transitive_tag_keys": ["Team"]}  # fmt: skip
    tokens = sign_in(
        idp, name="Alice Example", groups=["staff", 7, "admins"], aud=["qbizfed-client"],
        azp="qbizfed-client", **{TAGS_CLAIM: tags},
    )  # fmt: skip
    identity = tokens.identity
    assert identity.protocol == "oidc"
    assert identity.subject == "user-alice"
    assert identity.issuer == ISSUER
    assert identity.email == "alice@example.com"
    assert identity.credential == tokens.id_token.raw
    assert identity.groups == ("staff", "admins")
    assert identity.tags == {"Email": "alice@example.com", "Team": "blue"}
    assert identity.transitive_tag_keys == ("Team",)
    assert identity.expires_at == tokens.id_token.expires_at
    assert identity.expires_at is not None
    assert identity.audiences == ("qbizfed-client",)


@pytest.mark.parametrize(
    ("claims", "shown"),
    [
        ({"name": "Alice Example", "preferred_username": "alice"}, "Alice Example"),
        ({"name": "", "preferred_username": "alice"}, "alice"),
        ({"preferred_username": "alice"}, "alice"),
        ({}, "alice@example.com"),
    ],
)
def test_display_name_is_the_name_else_the_username_else_the_email(
    claims: dict[str, Any], shown: str
) -> None:
    idp = ScriptedIdp(userinfo_endpoint=None)  # the ID token alone
    assert sign_in(idp, **claims).identity.display_name == shown


def test_groups_claim_that_is_not_a_list_gives_no_groups() -> None:
    idp = ScriptedIdp(userinfo_endpoint=None)
    assert sign_in(idp, groups="staff").identity.groups == ()


def test_id_token_without_the_email_tag_names_the_idp_that_sent_it() -> None:
    idp = ScriptedIdp(userinfo_endpoint=None)
    with pytest.raises(MissingEmailClaimError) as info:
        sign_in(idp, **{TAGS_CLAIM: None})
    assert f"the ID token from {ISSUER} has no" in str(info.value)


# -- UserInfo at sign-in -------------------------------------------------------------


def test_sign_in_asks_userinfo_with_the_access_token_and_shows_its_name() -> None:
    idp = ScriptedIdp()
    idp.answers["/userinfo"] = lambda r: httpx.Response(
        200, json={"sub": "user-alice", "name": "Alice (UserInfo)"}
    )
    tokens = sign_in(idp, name="Alice (ID token)")
    (request,) = idp.received("/userinfo")
    assert request.method == "GET"
    assert request.headers["authorization"] == "Bearer at-1"
    assert tokens.identity.display_name == "Alice (UserInfo)"
    assert tokens.identity.email == "alice@example.com"


@pytest.mark.parametrize(
    ("answer", "id_token_claims", "shown", "groups"),
    [
        # UserInfo's username when it has no name; its groups when the ID token has none
        ({"preferred_username": "alice", "groups": ["eng", 5, "ops"]}, {}, "alice",
         ("eng", "ops")),
        # the ID token's groups win; a UserInfo without display claims changes nothing
        ({"groups": ["other"]}, {"name": "Alice", "groups": ["staff"]}, "Alice", ("staff",)),
        ({"name": "", "groups": "eng"}, {"name": "Alice"}, "Alice", ()),
    ],
)  # fmt: skip
def test_userinfo_display_claims_fill_in_what_the_id_token_lacks(
    answer: dict[str, Any], id_token_claims: dict[str, Any], shown: str, groups: tuple[str, ...]
) -> None:
    idp = ScriptedIdp()
    idp.answers["/userinfo"] = lambda r: httpx.Response(200, json={"sub": "user-alice", **answer})
    identity = sign_in(idp, **id_token_claims).identity
    assert (identity.display_name, identity.groups) == (shown, groups)


def test_userinfo_name_is_preferred_to_its_username() -> None:
    idp = ScriptedIdp()
    idp.answers["/userinfo"] = lambda r: httpx.Response(
        200, json={"sub": "user-alice", "name": "Alice Example", "preferred_username": "alice"}
    )
    assert sign_in(idp).identity.display_name == "Alice Example"


def test_sign_in_without_an_access_token_does_not_ask_userinfo() -> None:
    idp = ScriptedIdp()
    tokens = sign_in(idp, name="Alice", token_extra={"access_token": ""})
    assert idp.received("/userinfo") == []
    assert tokens.identity.display_name == "Alice"


def test_userinfo_is_asked_for_json() -> None:
    """An IdP may answer UserInfo as a signed JWT unless JSON is asked for (OIDC Core §5.3.2)."""
    idp = ScriptedIdp()

    def negotiating(request: httpx.Request) -> httpx.Response:
        if request.headers.get("accept") != "application/json":
            return httpx.Response(200, content=b"eyJ.signed.jwt",
                                  headers={"Content-Type": "application/jwt"})  # fmt: skip
        return httpx.Response(200, json={"sub": "user-alice", "name": "Alice"})

    idp.answers["/userinfo"] = negotiating
    assert sign_in(idp).identity.display_name == "Alice"


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_userinfo_answers_are_read_up_to_their_size_limit(extra: int, accepted: bool) -> None:
    body = json.dumps({"sub": "user-alice", "name": "Alice", "pad": ""}).encode()
    body = body[:-2] + b"x" * (MAX_USERINFO_BYTES + extra - len(body)) + body[-2:]
    assert len(body) == MAX_USERINFO_BYTES + extra
    idp = ScriptedIdp()
    idp.answers["/userinfo"] = lambda r: httpx.Response(200, content=body)
    if accepted:
        assert sign_in(idp).identity.display_name == "Alice"
    else:
        with pytest.raises(UserInfoError) as info:
            sign_in(idp)
        assert info.value.reason == "userinfo_malformed"


def test_userinfo_endpoint_over_plain_http_is_refused_by_name() -> None:
    idp = ScriptedIdp()
    stored = {"userinfo_endpoint": "http://idp.example.test/userinfo"}
    with pytest.raises(InsecureEndpointError) as info:
        run(idp, lambda rp: rp.userinfo("at-1", subject="user-alice"), cached_metadata=stored)
    assert "the userinfo_endpoint URL" in str(info.value)
    assert idp.received("/userinfo") == []


# -- the code exchange ---------------------------------------------------------------


def test_code_exchange_sends_the_code_redirect_uri_and_verifier() -> None:
    idp = ScriptedIdp()
    seen: list[PendingAuthorization] = []

    async def use(rp: OidcRelyingParty) -> TokenSet:
        pending = rp.authorization_request()
        seen.append(pending)
        idp.token_body = {"id_token": idp.mint(idp.claims(nonce=pending.nonce))}
        return await rp.complete(pending, {"state": pending.state, "code": "code-1"})

    run(idp, use)
    (request,) = idp.received("/token")
    form = form_of(request)
    assert form == {
        "grant_type": "authorization_code",
        "code": "code-1",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": seen[0].code_verifier,
    }
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["accept"] == "application/json"


def test_public_client_names_itself_in_the_token_request_form() -> None:
    idp = ScriptedIdp()
    idp.token_body = {"id_token": idp.mint(idp.claims())}
    run(idp, lambda rp: rp.refresh("rt-1"), client_secret=None)
    (request,) = idp.received("/token")
    assert form_of(request)["client_id"] == "qbizfed-client"
    assert "authorization" not in request.headers


def test_code_exchange_keeps_access_refresh_token_and_lifetime() -> None:
    idp = ScriptedIdp(userinfo_endpoint=None)
    tokens = sign_in(idp, token_extra={"refresh_token": "rt-1", "expires_in": 3600})
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in) == ("at-1", "rt-1", 3600)


def test_token_response_fields_of_the_wrong_type_are_dropped() -> None:
    idp = ScriptedIdp()
    tokens = sign_in(
        idp, token_extra={"access_token": 12345, "refresh_token": ["rt"], "expires_in": "3600"}
    )
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in) == (None, None, None)
    assert idp.received("/userinfo") == []


def test_id_token_from_another_login_is_refused_at_the_code_exchange() -> None:
    idp = ScriptedIdp()

    async def use(rp: OidcRelyingParty) -> TokenSet:
        pending = rp.authorization_request()
        idp.token_body = {"id_token": idp.mint(idp.claims(nonce="another-login"))}
        return await rp.complete(pending, {"state": pending.state, "code": "code-1"})

    with pytest.raises(IdTokenError) as info:
        run(idp, use)
    assert info.value.reason == "nonce"


def test_validating_a_cached_id_token_checks_its_nonce() -> None:
    idp = ScriptedIdp()
    raw = idp.mint(idp.claims(nonce="n-1"))

    async def use(rp: OidcRelyingParty) -> object:
        assert (await rp.validate(raw, nonce="n-1")).subject == "user-alice"
        return await rp.validate(raw, nonce="n-2")

    with pytest.raises(IdTokenError) as info:
        run(idp, use)
    assert info.value.reason == "nonce"


def test_refresh_does_not_ask_userinfo() -> None:
    """A silent renewal (credential_process) depends on the token endpoint only."""
    idp = ScriptedIdp()
    idp.token_body = {"id_token": idp.mint(idp.claims()), "access_token": "at-2"}
    tokens = run(idp, lambda rp: rp.refresh("rt-1"))
    assert tokens.access_token == "at-2"
    assert idp.received("/userinfo") == []


def refreshed(idp: ScriptedIdp, **kwargs: Any) -> TokenSet:
    return run(idp, lambda rp: rp.refresh("rt-1", **kwargs))


@pytest.mark.parametrize(
    ("nonce", "original_nonce", "accepted"),
    [
        ("n-login", "n-login", True),
        (None, "n-login", True),  # OIDC Core §12.2: it should carry none
        ("n-other", None, True),  # nothing to compare with
        ("n-other", "n-login", False),
        (42, "n-login", False),
    ],
)
def test_refreshed_id_token_may_carry_only_the_original_logins_nonce(
    nonce: object, original_nonce: str | None, accepted: bool
) -> None:
    idp = ScriptedIdp()
    claims = idp.claims()
    if nonce is not None:
        claims["nonce"] = nonce
    idp.token_body = {"id_token": idp.mint(claims)}
    if accepted:
        assert refreshed(idp, original_nonce=original_nonce).identity.subject == "user-alice"
        return
    with pytest.raises(IdTokenError) as info:
        refreshed(idp, original_nonce=original_nonce)
    assert info.value.reason == "nonce"
    assert str(info.value).startswith("the refreshed ID token carries another login's nonce")
    assert info.value.remedy == "sign in again"


@pytest.mark.parametrize(
    ("auth_time", "original_auth_time", "accepted"),
    [
        (1_700_000_000, 1_700_000_000.0, True),
        (None, 1_700_000_000.0, True),
        (1_700_000_900, None, True),
        (1_700_000_900, 1_700_000_000.0, False),
    ],
)
def test_refreshed_id_token_names_the_original_authentication_time(
    auth_time: int | None, original_auth_time: float | None, accepted: bool
) -> None:
    idp = ScriptedIdp()
    idp.token_body = {"id_token": idp.mint(idp.claims(auth_time=auth_time))}
    if accepted:
        tokens = refreshed(idp, original_auth_time=original_auth_time)
        assert tokens.identity.subject == "user-alice"
        return
    with pytest.raises(IdTokenError) as info:
        refreshed(idp, original_auth_time=original_auth_time)
    assert info.value.reason == "auth_time"
    assert "auth_time differs" in str(info.value)
    assert info.value.remedy == "sign in again"


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (502, b"<html>Bad gateway</html>", "", "refused the request (HTTP 502)"),
        (400, b"{}", "", "refused the request (HTTP 400)"),
        (400, b'{"error": 42}', "", "refused the request (HTTP 400)"),
        (400, b'{"error": ["invalid_grant"]}', "", "refused the request (HTTP 400)"),
        (
            400,
            json.dumps({"error": "e" * 100}).encode(),
            "e" * 64,
            f"refused the request (HTTP 400, {'e' * 64})",
        ),
    ],
)
def test_token_endpoint_refusal_carries_the_oauth_error_only_when_it_is_a_short_string(
    status: int, body: bytes, error: str, message: str
) -> None:
    idp = ScriptedIdp()
    idp.answers["/token"] = lambda r: httpx.Response(status, content=body)
    with pytest.raises(TokenEndpointError) as info:
        run(idp, lambda rp: rp.refresh("rt-1"))
    assert info.value.error == error
    assert f"the IdP's token endpoint {message}" in str(info.value)


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_token_responses_are_read_up_to_their_size_limit(extra: int, accepted: bool) -> None:
    idp = ScriptedIdp()
    raw = idp.mint(idp.claims())
    body = json.dumps({"id_token": raw, "pad": ""}).encode()
    body = body[:-2] + b"x" * (MAX_TOKEN_RESPONSE_BYTES + extra - len(body)) + body[-2:]
    assert len(body) == MAX_TOKEN_RESPONSE_BYTES + extra
    idp.answers["/token"] = lambda r: httpx.Response(200, content=body)
    if accepted:
        assert run(idp, lambda rp: rp.refresh("rt-1")).id_token.raw == raw
    else:
        with pytest.raises(TokenEndpointError, match=r"refused the request \(HTTP 200\)"):
            run(idp, lambda rp: rp.refresh("rt-1"))


def test_revocation_endpoint_answering_200_without_a_body_has_revoked() -> None:
    """RFC 7009 §2.2: the revocation endpoint answers 200 and nothing else."""
    idp = ScriptedIdp(revocation_endpoint=f"{ISSUER}/revoke")
    idp.answers["/revoke"] = lambda r: httpx.Response(200)
    assert run(idp, lambda rp: rp.revoke("rt-1")) is True
    (request,) = idp.received("/revoke")
    assert form_of(request) == {"token": "rt-1", "token_type_hint": "refresh_token"}
    assert request.headers["authorization"].startswith("Basic ")


def test_revocation_refusal_names_the_revocation_endpoint() -> None:
    idp = ScriptedIdp(revocation_endpoint=f"{ISSUER}/revoke")
    idp.answers["/revoke"] = lambda r: httpx.Response(400, json={"error": "invalid_request"})
    with pytest.raises(TokenEndpointError) as info:
        run(idp, lambda rp: rp.revoke("rt-1"))
    assert "the IdP's revocation endpoint refused the request (HTTP 400" in str(info.value)
    assert info.value.error == "invalid_request"


def test_idp_without_a_revocation_endpoint_is_not_asked_to_revoke() -> None:
    idp = ScriptedIdp()
    assert run(idp, lambda rp: rp.revoke("rt-1")) is False
    assert [r for r in idp.requests if r.method == "POST"] == []


def test_token_endpoint_over_plain_http_is_refused_by_name() -> None:
    idp = ScriptedIdp()
    stored = {"token_endpoint": "http://idp.example.test/token"}
    with pytest.raises(InsecureEndpointError) as info:
        run(idp, lambda rp: rp.refresh("rt-1"), cached_metadata=stored)
    assert "the token_endpoint URL" in str(info.value)
    assert idp.received("/token") == []


# -- ID-token expectations come from the registration and the IdP ---------------------


def test_id_token_signed_with_an_algorithm_the_idp_does_not_advertise_is_refused() -> None:
    idp = ScriptedIdp(id_token_signing_alg_values_supported=["ES256"])
    with pytest.raises(IdTokenError) as info:
        sign_in(idp)
    assert info.value.reason == "alg"


def test_configured_clock_leeway_accepts_a_token_just_expired() -> None:
    idp = ScriptedIdp(userinfo_endpoint=None)
    now = int(time.time())
    claims: dict[str, Any] = {"iat": now - 600, "exp": now - 120}
    with pytest.raises(IdTokenError):
        sign_in(idp, **claims)  # the default leeway is 60 s

    async def use(rp: OidcRelyingParty) -> TokenSet:
        pending = rp.authorization_request()
        idp.token_body = {"id_token": idp.mint(idp.claims(nonce=pending.nonce, **claims))}
        return await rp.complete(pending, {"state": pending.state, "code": "code-1"})

    assert run(idp, use, expectations={"leeway_seconds": 300}).identity.subject == "user-alice"


def test_configured_id_token_size_limit_is_applied() -> None:
    idp = ScriptedIdp(userinfo_endpoint=None)

    async def use(rp: OidcRelyingParty) -> TokenSet:
        pending = rp.authorization_request()
        idp.token_body = {"id_token": idp.mint(idp.claims(nonce=pending.nonce))}
        return await rp.complete(pending, {"state": pending.state, "code": "code-1"})

    assert run(idp, use).identity.subject == "user-alice"  # well under the default 16 KiB
    with pytest.raises(IdTokenError) as info:
        run(idp, use, expectations={"max_token_bytes": 200})
    assert info.value.reason == "size"


def test_validated_id_token_cannot_be_built_by_hand() -> None:
    with pytest.raises(TypeError) as info:
        ValidatedIdToken(raw="x.y.z", header={}, claims={}, _witness=object())
    assert str(info.value).startswith("ValidatedIdToken is created by validate_id_token()")


# -- the authorization request -------------------------------------------------------


def pending_request(**kwargs: Any) -> tuple[PendingAuthorization, dict[str, str]]:
    settings = kwargs.pop("settings", {})
    discovery = kwargs.pop("discovery", {})

    async def use(rp: OidcRelyingParty) -> PendingAuthorization:
        return rp.authorization_request(**kwargs)

    pending = run(ScriptedIdp(**discovery), use, **settings)
    query = {k: v[0] for k, v in parse_qs(urlsplit(pending.url).query).items()}
    return pending, query


def test_openid_scope_is_asked_first_even_when_not_configured() -> None:
    _, query = pending_request(settings={"scopes": ("email", "profile")})
    assert query["scope"] == "openid email profile"


def test_authorization_request_carries_prompt_login_hint_and_pkce() -> None:
    pending, query = pending_request(prompt="login", login_hint="alice@example.com")
    assert query["prompt"] == "login"
    assert query["login_hint"] == "alice@example.com"
    assert query["code_challenge"] == s256_challenge(pending.code_verifier)
    assert query["code_challenge_method"] == "S256"
    assert (query["state"], query["nonce"]) == (pending.state, pending.nonce)


def test_authorization_request_keeps_the_endpoints_own_query() -> None:
    pending, query = pending_request(
        discovery={"authorization_endpoint": f"{ISSUER}/authorize?tenant=t1"}
    )
    assert pending.url.startswith(f"{ISSUER}/authorize?tenant=t1&response_type=code&")
    assert query["tenant"] == "t1"


def test_pending_login_remembers_the_redirect_uri_it_asked_for() -> None:
    pending, query = pending_request()
    assert pending.redirect_uri == query["redirect_uri"] == REDIRECT_URI
    other = "http://127.0.0.1:53123/callback"
    pending, query = pending_request(redirect_uri=other)
    assert pending.redirect_uri == query["redirect_uri"] == other


# -- the callback --------------------------------------------------------------------


def callback_refusal(params: dict[str, str]) -> AuthorizationError:
    async def use(rp: OidcRelyingParty) -> str:
        pending = rp.authorization_request()
        return rp.code_from_callback(pending, {"state": pending.state, **params})

    with pytest.raises(AuthorizationError) as info:
        run(ScriptedIdp(), use)
    return info.value


def test_callback_without_state_is_refused_as_not_ours() -> None:
    async def use(rp: OidcRelyingParty) -> str:
        return rp.code_from_callback(rp.authorization_request(), {"code": "code-1"})

    with pytest.raises(AuthorizationError, match="state mismatch"):
        run(ScriptedIdp(), use)


def test_idp_error_in_the_callback_is_shown_with_its_description_cut_short() -> None:
    error = callback_refusal({"error": "e" * 100, "error_description": "d" * 300})
    assert str(error) == f"the IdP refused the login: {'e' * 64} ({'d' * 200})"


def test_idp_error_without_a_description_is_shown_alone() -> None:
    error = callback_refusal({"error": "access_denied"})
    assert str(error) == "the IdP refused the login: access_denied"


# -- device sign-in ------------------------------------------------------------------


def test_device_sign_in_starts_at_the_device_endpoint() -> None:
    idp = ScriptedIdp()
    idp.answers["/device"] = lambda r: httpx.Response(200, json={
        "device_code": "dc-1", "user_code": "ABCD-EFGH",
        "verification_uri": f"{ISSUER}/activate", "expires_in": 600,
    })  # fmt: skip
    authorization = run(idp, start_device_authorization)
    assert isinstance(authorization, DeviceAuthorization)
    assert authorization.user_code == "ABCD-EFGH"
    (request,) = idp.received("/device")
    assert request.method == "POST"
    assert form_of(request) == {"scope": "openid email profile"}
    assert idp.received("/token") == []


def test_device_endpoint_refusal_names_the_device_endpoint() -> None:
    idp = ScriptedIdp()
    idp.answers["/device"] = lambda r: httpx.Response(400, json={"error": "invalid_scope"})
    with pytest.raises(TokenEndpointError) as info:
        run(idp, start_device_authorization)
    assert "the IdP's device authorization endpoint refused the request" in str(info.value)
    assert info.value.error == "invalid_scope"


def test_device_endpoint_over_plain_http_is_refused_by_name() -> None:
    stored = {"device_authorization_endpoint": "http://idp.example.test/device"}
    with pytest.raises(InsecureEndpointError) as info:
        run(ScriptedIdp(), start_device_authorization, cached_metadata=stored)
    assert "the device_authorization_endpoint URL" in str(info.value)


def test_device_verification_uri_over_plain_http_is_refused_by_name() -> None:
    doc = {"device_code": "dc", "user_code": "UC", "expires_in": 60,
           "verification_uri": "http://idp.example.test/activate"}  # fmt: skip
    with pytest.raises(InsecureEndpointError) as info:
        parse_device_authorization(doc, allow_insecure_loopback_http=False)
    assert "the verification_uri URL" in str(info.value)
