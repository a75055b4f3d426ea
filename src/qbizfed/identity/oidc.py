"""OpenID Connect relying party: authorization request, code exchange, refresh, logout URL.

Framework-free; the web app and the CLI login are thin adapters around
:class:`OidcRelyingParty` (async, for FastAPI) and :class:`SyncOidcRelyingParty`
(blocking, for the CLI). A login is::

    rp = await OidcRelyingParty.discover(settings, http=client)
    pending = rp.authorization_request()          # keep it server-side (never in a cookie)
    # ... browser goes to pending.url, comes back with ?code=...&state=...
    tokens = await rp.complete(pending, callback_params)
    identity = tokens.identity                    # FederatedIdentity, ready for STS

At sign-in, when the IdP advertises a ``userinfo_endpoint``, the access token is sent there
(``Authorization: Bearer``, OIDC Core §5.3) and its answer must name the ID token's
``sub`` (§5.3.2); display claims (``name``, ...) come from it, because many IdPs keep
profile claims out of the ID token. The Email session tag is never taken from it: only
the signed ID token's ``https://aws.amazon.com/tags`` claim reaches STS.

Nothing here logs or puts in messages a code, token, verifier or secret.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx

from qbizfed.identity.aws_tags import session_tags_from_claims
from qbizfed.identity.discovery import ProviderMetadata, discover
from qbizfed.identity.errors import (
    AuthorizationError,
    DiscoveryDocumentError,
    IdpUnreachableError,
    IdTokenError,
    MissingEmailClaimError,
    TokenEndpointError,
    UserInfoError,
)
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.identity.id_token import (
    IdTokenExpectations,
    ValidatedIdToken,
    validate_id_token,
)
from qbizfed.identity.jwks import JwksCache
from qbizfed.identity.pkce import PkcePair, random_token
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.url_policy import require_secure_url

__all__ = [
    "AuthorizationError",
    "IdTokenError",
    "IdpUnreachableError",
    "MissingEmailClaimError",
    "OidcRelyingParty",
    "PendingAuthorization",
    "SyncOidcRelyingParty",
    "TokenEndpointError",
    "TokenSet",
    "identity_from_id_token",
]

MAX_TOKEN_RESPONSE_BYTES = 256 * 1024
MAX_USERINFO_BYTES = 64 * 1024


@dataclass(frozen=True)
class PendingAuthorization:
    """What to remember between the redirect to the IdP and the callback (server-side)."""

    url: str = field(repr=False)  # contains state and nonce
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True)
class TokenSet:
    """The result of a code exchange or refresh: a validated ID token and its identity."""

    id_token: ValidatedIdToken
    identity: FederatedIdentity
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None


def _first_str(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def with_userinfo(identity: FederatedIdentity, userinfo: Mapping[str, Any]) -> FederatedIdentity:
    """Display claims from a UserInfo answer already checked to name the same ``sub``.

    Only what is shown to the user changes; email, session tags and subject stay the
    ID token's (UserInfo is not signed, and STS sees the ID token only).
    """
    name = _first_str(userinfo, "name", "preferred_username")
    groups = userinfo.get("groups")
    return replace(
        identity,
        display_name=name or identity.display_name,
        groups=identity.groups
        or (tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()),
    )


def carries_display_claims(claims: Mapping[str, Any]) -> bool:
    """Whether the ID token already holds everything :func:`with_userinfo` could add: a
    ``name`` and a ``groups`` list. OIDC Core §5.4-5.5 let an IdP return these claims in
    the ID token instead of (or as well as) UserInfo; asking UserInfo then adds nothing
    but a round trip to the IdP on every sign-in."""
    name = claims.get("name")
    return isinstance(name, str) and bool(name) and isinstance(claims.get("groups"), list)


def identity_from_id_token(token: ValidatedIdToken) -> FederatedIdentity:
    """Turn a validated ID token into the identity STS and the web layer use."""
    tags = session_tags_from_claims(token.claims, issuer=token.issuer)
    groups = token.claims.get("groups")
    return FederatedIdentity(
        protocol="oidc",
        email=tags.email,
        subject=token.subject,
        issuer=token.issuer,
        credential=token.raw,
        display_name=_first_str(token.claims, "name", "preferred_username", "email"),
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        session_tags=tags.principal_tags,
        transitive_tag_keys=tags.transitive_tag_keys,
        expires_at=token.expires_at,
        audiences=token.audiences,
    )


class OidcRelyingParty:
    """Async OIDC client for one IdP registration; share one instance across requests."""

    def __init__(
        self,
        settings: OidcRegistration,
        metadata: ProviderMetadata,
        *,
        http: httpx.AsyncClient,
        jwks: JwksCache | None = None,
    ) -> None:
        if metadata.issuer != settings.issuer:
            raise DiscoveryDocumentError(
                f"the provider metadata is for {metadata.issuer!r}, not {settings.issuer!r}",
                remedy="build the relying party from the issuer's own discovery document",
            )
        self.settings = settings
        self.metadata = metadata
        self._http = http
        self.jwks = jwks or JwksCache(
            metadata.jwks_uri, allow_insecure_loopback_http=settings.allow_insecure_loopback_http
        )
        self.expectations = IdTokenExpectations(
            issuer=settings.issuer,
            client_id=settings.client_id,
            advertised_algorithms=metadata.id_token_signing_alg_values_supported,
        )

    @classmethod
    async def discover(
        cls, settings: OidcRegistration, *, http: httpx.AsyncClient
    ) -> OidcRelyingParty:
        """Fetch the issuer's discovery document and build the relying party."""
        metadata = await discover(
            settings.issuer,
            http=http,
            allow_insecure_loopback_http=settings.allow_insecure_loopback_http,
        )
        return cls(settings, metadata, http=http)

    # -- authorization request ------------------------------------------------------

    def authorization_request(
        self,
        *,
        extra_scopes: Sequence[str] = (),
        prompt: str | None = None,
        login_hint: str | None = None,
        redirect_uri: str | None = None,
    ) -> PendingAuthorization:
        """A fresh authorization-code request with PKCE (S256), ``state`` and ``nonce``."""
        if (
            self.metadata.code_challenge_methods_supported
            and "S256" not in self.metadata.code_challenge_methods_supported
        ):
            raise AuthorizationError(
                "the IdP does not advertise PKCE with S256",
                remedy="enable PKCE (S256) for this client at the IdP",
            )
        redirect = redirect_uri or self.settings.redirect_uri
        pkce = PkcePair.generate()
        state, nonce = random_token(), random_token()
        scopes = list(dict.fromkeys([*self.settings.scopes, *extra_scopes]))
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect,
            "scope": " ".join(scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
        }
        if prompt:
            params["prompt"] = prompt
        if login_hint:
            params["login_hint"] = login_hint
        endpoint = self.metadata.authorization_endpoint
        separator = "&" if urlsplit(endpoint).query else "?"
        return PendingAuthorization(
            url=endpoint + separator + urlencode(params),
            state=state,
            nonce=nonce,
            code_verifier=pkce.verifier,
            redirect_uri=redirect,
        )

    # -- callback -----------------------------------------------------------------

    def code_from_callback(self, pending: PendingAuthorization, params: Mapping[str, str]) -> str:
        """Check the callback's ``state`` (constant time) and ``iss`` and return the code."""
        state = params.get("state", "")
        if not hmac.compare_digest(state.encode("utf-8"), pending.state.encode("utf-8")):
            raise AuthorizationError(
                "the login callback does not belong to the login started here (state mismatch)",
                remedy="start the login again from this application",
            )
        # RFC 9207: an IdP that names itself in the callback must name the right issuer
        # (defends against IdP mix-up when several IdPs are configured).
        if "iss" in params and params["iss"] != self.settings.issuer:
            raise AuthorizationError(
                "the login callback comes from another issuer (iss mismatch)",
                remedy="start the login again; if it repeats, check the IdP configuration",
            )
        if "error" in params:
            error = params["error"][:64]
            description = params.get("error_description", "")[:200]
            raise AuthorizationError(
                f"the IdP refused the login: {error}"
                + (f" ({description})" if description else ""),
                remedy="check that this user is assigned to the application at the IdP and "
                "that the redirect URI is registered",
            )
        code = params.get("code")
        if not code:
            raise AuthorizationError(
                "the login callback carries no authorization code",
                remedy="start the login again",
            )
        return code

    async def complete(
        self, pending: PendingAuthorization, callback_params: Mapping[str, str]
    ) -> TokenSet:
        """Check the callback, exchange the code and validate the ID token."""
        code = self.code_from_callback(pending, callback_params)
        return await self.exchange_code(code, pending=pending)

    async def exchange_code(self, code: str, *, pending: PendingAuthorization) -> TokenSet:
        """Redeem ``code`` (with the PKCE verifier) and validate the returned ID token."""
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        payload = await self._token_request(body)
        return await self._token_set(payload, nonce=pending.nonce, ask_userinfo=True)

    async def refresh(
        self,
        refresh_token: str,
        *,
        expected_subject: str | None = None,
        original_nonce: str | None = None,
        original_auth_time: float | None = None,
    ) -> TokenSet:
        """Use a refresh token; the new ID token is validated like the first one.

        OIDC Core §12.2: the refreshed ID token names the same user (pass the ``sub`` of
        the original login as ``expected_subject``); it should carry no ``nonce``, but
        one it carries must be the original login's (``original_nonce``); an
        ``auth_time`` it carries is the original authentication's.
        """
        payload = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        if "refresh_token" not in payload:
            payload = {**payload, "refresh_token": refresh_token}
        tokens = await self._token_set(payload, nonce=None)
        claims = tokens.id_token.claims
        if expected_subject is not None and not hmac.compare_digest(
            tokens.id_token.subject.encode("utf-8"), expected_subject.encode("utf-8")
        ):
            raise IdTokenError(
                "the refreshed ID token names another user", reason="sub",
                remedy="sign in again",
            )  # fmt: skip
        nonce = claims.get("nonce")
        if (
            nonce is not None
            and original_nonce is not None
            and (
                not isinstance(nonce, str)
                or not hmac.compare_digest(nonce.encode("utf-8"), original_nonce.encode("utf-8"))
            )
        ):
            raise IdTokenError(
                "the refreshed ID token carries another login's nonce", reason="nonce",
                remedy="sign in again",
            )  # fmt: skip
        auth_time = claims.get("auth_time")
        if (
            auth_time is not None
            and original_auth_time is not None
            and auth_time != original_auth_time
        ):
            raise IdTokenError(
                "the refreshed ID token names another authentication (auth_time differs)",
                reason="auth_time", remedy="sign in again",
            )  # fmt: skip
        return tokens

    async def revoke(self, token: str, *, token_type_hint: str = "refresh_token") -> bool:  # noqa: S107
        """RFC 7009: ask the IdP to forget ``token``; ``False`` when it has no revocation
        endpoint. Errors raise as for the token endpoint (callers decide whether to care)."""
        endpoint = self.metadata.revocation_endpoint
        if endpoint is None:
            return False
        await self._token_request(
            {"token": token, "token_type_hint": token_type_hint},
            endpoint=endpoint, what="revocation endpoint", expect_json=False,
        )  # fmt: skip
        return True

    async def validate(self, id_token: str, *, nonce: str | None) -> ValidatedIdToken:
        """Validate an ID token obtained elsewhere (e.g. from a cache)."""
        return await validate_id_token(
            id_token, expected=self.expectations, nonce=nonce, jwks=self.jwks, http=self._http
        )

    async def userinfo(self, access_token: str, *, subject: str) -> dict[str, Any]:
        """The UserInfo claims for ``access_token``, refused unless ``sub`` is ``subject``."""
        assert self.metadata.userinfo_endpoint is not None
        url = require_secure_url(
            self.metadata.userinfo_endpoint,
            what="userinfo_endpoint",
            allow_insecure_loopback_http=self.settings.allow_insecure_loopback_http,
        )
        try:
            response = await self._http.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise IdpUnreachableError(
                f"could not reach the IdP's userinfo endpoint: {type(exc).__name__}",
                remedy="check that the IdP is reachable from this host, then sign in again",
            ) from exc
        if response.status_code >= 500:
            raise IdpUnreachableError(
                f"the IdP's userinfo endpoint failed (HTTP {response.status_code})",
                remedy="try again in a minute; if it persists, tell your administrator",
            )
        if response.status_code != 200:
            raise UserInfoError(
                f"the IdP's userinfo endpoint refused the access token "
                f"(HTTP {response.status_code})",
                reason="userinfo_refused",
                remedy="sign in again; if it persists, allow this client to call the "
                "userinfo endpoint (the 'openid' scope) at the IdP",
            )
        content = response.content[: MAX_USERINFO_BYTES + 1]
        try:
            claims = json.loads(content) if len(content) <= MAX_USERINFO_BYTES else None
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            raise UserInfoError(
                "the IdP's userinfo endpoint did not answer a JSON object of at most "
                f"{MAX_USERINFO_BYTES} bytes (signed or encrypted userinfo is not supported)",
                reason="userinfo_malformed",
                remedy="configure the IdP to answer userinfo as plain JSON for this client",
            )
        sub = claims.get("sub")
        if not isinstance(sub, str) or not hmac.compare_digest(
            sub.encode("utf-8"), subject.encode("utf-8")
        ):
            # OIDC Core §5.3.2: a mismatch means the answer must not be used at all
            # (token substitution, or an IdP answering for someone else).
            raise UserInfoError(
                "the IdP's userinfo endpoint names another user than the ID token "
                "(its 'sub' differs)",
                reason="userinfo_sub",
            )
        return claims

    # -- logout -------------------------------------------------------------------

    def end_session_url(
        self,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        id_token_hint: str | None = None,
    ) -> str | None:
        """RP-initiated logout URL, or ``None`` when the IdP has no end-session endpoint.

        The ID token goes into the URL only when passed explicitly as ``id_token_hint``
        (URLs end up in logs); ``client_id`` identifies us otherwise.
        """
        endpoint = self.metadata.end_session_endpoint
        if endpoint is None:
            return None
        params: dict[str, str] = {"client_id": self.settings.client_id}
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            params["state"] = state
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        separator = "&" if urlsplit(endpoint).query else "?"
        return endpoint + separator + urlencode(params)

    # -- internals ----------------------------------------------------------------

    def _client_auth(self, body: dict[str, str]) -> httpx.BasicAuth | None:
        secret = self.settings.client_secret
        if secret is None:
            body["client_id"] = self.settings.client_id  # public client (PKCE only)
            return None
        methods = self.metadata.token_endpoint_auth_methods_supported
        if "client_secret_basic" in methods or not methods:
            # RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding.
            return httpx.BasicAuth(quote_plus(self.settings.client_id), quote_plus(secret))
        if "client_secret_post" in methods:
            body["client_id"] = self.settings.client_id
            body["client_secret"] = secret
            return None
        raise TokenEndpointError(
            f"the IdP supports none of client_secret_basic/client_secret_post "
            f"(it offers {list(methods)})",
            remedy="configure the client at the IdP for client_secret_basic or client_secret_post",
        )

    async def token_grant(self, body: Mapping[str, str]) -> TokenSet:
        """Any other grant at the token endpoint (e.g. RFC 8628's device code); the ID
        token is validated exactly as after a login (these grants carry no nonce)."""
        payload = await self._token_request(dict(body))
        return await self._token_set(payload, nonce=None)

    async def authenticated_post(
        self, endpoint: str, body: Mapping[str, str], *, what: str
    ) -> dict[str, Any]:
        """POST a form to one of the IdP's endpoints with this client's authentication
        (e.g. RFC 8628's device authorization endpoint); errors as for the token endpoint."""
        return await self._token_request(dict(body), endpoint=endpoint, what=what)

    async def _token_request(
        self,
        body: dict[str, str],
        *,
        endpoint: str | None = None,
        what: str = "token endpoint",
        expect_json: bool = True,
    ) -> dict[str, Any]:
        url = require_secure_url(
            endpoint or self.metadata.token_endpoint,
            what=what.replace(" ", "_"),
            allow_insecure_loopback_http=self.settings.allow_insecure_loopback_http,
        )
        auth = self._client_auth(body)
        try:
            response = await self._http.post(
                url, data=body, auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise IdpUnreachableError(
                f"could not reach the IdP's {what}: {type(exc).__name__}",
                remedy="check that the IdP is reachable from this host",
            ) from exc
        if not expect_json and response.status_code == 200:
            return {}  # RFC 7009 §2.2: the revocation endpoint answers 200 with no body
        content = response.content[: MAX_TOKEN_RESPONSE_BYTES + 1]
        try:
            payload = json.loads(content) if len(content) <= MAX_TOKEN_RESPONSE_BYTES else None
        except ValueError:
            payload = None
        if response.status_code != 200 or not isinstance(payload, dict):
            error = payload.get("error", "") if isinstance(payload, dict) else ""
            error = error[:64] if isinstance(error, str) else ""
            raise TokenEndpointError(
                f"the IdP's {what} refused the request (HTTP {response.status_code}"
                + (f", {error}" if error else "") + ")",
                error=error,
                remedy=_token_error_remedy(error),
            )  # fmt: skip
        return payload

    async def _token_set(
        self, payload: Mapping[str, Any], *, nonce: str | None, ask_userinfo: bool = False
    ) -> TokenSet:
        """Validate the ID token; at sign-in (``ask_userinfo``) add UserInfo's display claims
        unless the ID token already carries them (:func:`carries_display_claims`).

        A refresh does not ask UserInfo again: nothing is shown to a user then, and a
        silent ``credential_process`` renewal should not depend on one more endpoint.
        """
        raw = payload.get("id_token")
        if not isinstance(raw, str):
            raise TokenEndpointError(
                "the token response has no id_token",
                remedy="request the 'openid' scope and allow the authorization-code flow",
            )
        token = await self.validate(raw, nonce=nonce)
        access = payload.get("access_token")
        refresh = payload.get("refresh_token")
        expires_in = payload.get("expires_in")
        identity = identity_from_id_token(token)
        if (
            ask_userinfo
            and self.metadata.userinfo_endpoint
            and isinstance(access, str)
            and access
            and not carries_display_claims(token.claims)
        ):
            identity = with_userinfo(identity, await self.userinfo(access, subject=token.subject))
        return TokenSet(
            id_token=token,
            identity=identity,
            access_token=access if isinstance(access, str) else None,
            refresh_token=refresh if isinstance(refresh, str) else None,
            expires_in=expires_in if isinstance(expires_in, int) else None,
        )


def _token_error_remedy(error: str) -> str:
    return {
        "invalid_client": "check the client id and secret, and the client authentication "
        "method configured at the IdP",
        "invalid_grant": "the code or refresh token is expired, used or for another "
        "redirect URI: sign in again",
        "unauthorized_client": "allow the authorization-code (and refresh-token) grant for "
        "this client at the IdP",
    }.get(error, "check the client's settings at the IdP and sign in again")


class SyncOidcRelyingParty:
    """Blocking facade for the CLI: each call runs the async core on a private loop."""

    def __init__(self, settings: OidcRegistration, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self._timeout = timeout
        self._metadata: ProviderMetadata | None = None
        self._jwks: JwksCache | None = None

    def _run(self, use: Any) -> Any:
        async def run() -> Any:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as http:
                if self._metadata is None:
                    rp = await OidcRelyingParty.discover(self.settings, http=http)
                    self._metadata, self._jwks = rp.metadata, rp.jwks
                else:
                    rp = OidcRelyingParty(self.settings, self._metadata, http=http, jwks=self._jwks)
                return await use(rp)

        return asyncio.run(run())

    def _rp(self) -> OidcRelyingParty:
        async def same(rp: OidcRelyingParty) -> OidcRelyingParty:
            return rp

        rp: OidcRelyingParty = self._run(same)
        return rp

    def authorization_request(self, **kwargs: Any) -> PendingAuthorization:
        pending: PendingAuthorization = self._rp().authorization_request(**kwargs)
        return pending

    def complete(
        self, pending: PendingAuthorization, callback_params: Mapping[str, str]
    ) -> TokenSet:
        result: TokenSet = self._run(lambda rp: rp.complete(pending, callback_params))
        return result

    def refresh(self, refresh_token: str, *, expected_subject: str | None = None) -> TokenSet:
        result: TokenSet = self._run(
            lambda rp: rp.refresh(refresh_token, expected_subject=expected_subject)
        )
        return result

    def end_session_url(self, **kwargs: Any) -> str | None:
        url: str | None = self._rp().end_session_url(**kwargs)
        return url
