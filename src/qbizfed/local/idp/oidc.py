"""The dev IdP's OpenID Connect provider, as protocol logic without HTTP.

Authorization code flow (OIDC Core §3.1) with PKCE S256 (RFC 7636), client
authentication by ``client_secret_basic`` or ``client_secret_post`` (RFC 6749 §2.3.1),
refresh tokens when ``offline_access`` is granted (rotated on use), userinfo and
RP-initiated logout. ID tokens are RS256 JWTs signed with joserfc and carry AWS's
``https://aws.amazon.com/tags`` claim so that STS tags the session with ``Email``.

Errors a relying party sees are :class:`OAuthError` (``error`` codes from the specs);
errors that must not be sent back to an unverified redirect URI are
:class:`AuthorizeRefusedError` and are shown to the user instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_plus, urlencode

from joserfc import jwt
from joserfc.errors import JoseError

from qbizfed.local.idp.grants import (
    Clock,
    CodeGrant,
    CodeStore,
    ExpiringStore,
    TokenGrant,
    new_handle,
)
from qbizfed.local.idp.keys import SigningMaterial
from qbizfed.local.idp.redirect_uris import is_registered
from qbizfed.local.idp.users import DemoUser, Directory, OidcClient

AWS_TAGS_CLAIM = "https://aws.amazon.com/tags"
SUPPORTED_SCOPES = ("openid", "email", "profile", "offline_access")
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

AUTHORIZE_PATH = "/oidc/authorize"
TOKEN_PATH = "/oidc/token"  # noqa: S105 - a URL path
USERINFO_PATH = "/oidc/userinfo"
JWKS_PATH = "/oidc/jwks"
END_SESSION_PATH = "/oidc/logout"
REVOCATION_PATH = "/oidc/revoke"
DISCOVERY_PATH = "/.well-known/openid-configuration"


class OAuthError(Exception):
    """An OAuth/OIDC error response: ``error`` code, description, HTTP status."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, basic_challenge: bool = False
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.basic_challenge = basic_challenge
        """Answer with ``WWW-Authenticate: Basic`` (failed client_secret_basic)."""

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class AuthorizeRedirectError(OAuthError):
    """An error about a request whose client and redirect URI were verified: redirect it."""

    def __init__(self, request: AuthorizationRequest, error: OAuthError) -> None:
        super().__init__(error.error, error.description)
        self.request = request

    @property
    def location(self) -> str:
        return error_redirect(self.request, self)


class AuthorizeRefusedError(Exception):
    """An authorization request whose client or redirect URI cannot be trusted.

    Shown to the user, never redirected (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1).
    """


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: tuple[str, ...]
    max_age: int | None


@dataclass(frozen=True)
class TokenLifetimes:
    code_seconds: float = 60.0
    access_token_seconds: int = 3600
    id_token_seconds: int = 3600
    refresh_token_seconds: int = 86400


def error_redirect(request: AuthorizationRequest, error: OAuthError) -> str:
    """Where to send the browser for an error the (verified) client should see."""
    params = {"error": error.error, "error_description": error.description}
    if request.state is not None:
        params["state"] = request.state
    return _with_query(request.redirect_uri, params)


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}{urlencode(params)}"


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    """Issues codes and tokens for the clients and users of a :class:`Directory`."""

    def __init__(
        self,
        *,
        issuer: str,
        keys: SigningMaterial,
        directory: Directory,
        lifetimes: TokenLifetimes | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._keys = keys
        self._directory = directory
        self._lifetimes = lifetimes or TokenLifetimes()
        self._clock = clock
        self._tokens: ExpiringStore[TokenGrant] = ExpiringStore(clock)
        self._codes = CodeStore(self._tokens, self._lifetimes.code_seconds, clock)

    # -- discovery -------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider Configuration document (OIDC Discovery §3)."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "userinfo_endpoint": base + USERINFO_PATH,
            "jwks_uri": base + JWKS_PATH,
            "end_session_endpoint": base + END_SESSION_PATH,
            "revocation_endpoint": base + REVOCATION_PATH,
            "scopes_supported": list(SUPPORTED_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "email",
                "email_verified", "name", "preferred_username", "groups", AWS_TAGS_CLAIM,
            ],
        }  # fmt: skip

    def jwks(self) -> dict[str, Any]:
        return self._keys.public_jwks()

    # -- authorization endpoint ------------------------------------------------------

    def parse_authorization_request(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """Validate client and redirect URI first (refusal), then the rest (redirect)."""
        client_id = params.get("client_id", "")
        client = self._directory.client(client_id) if client_id else None
        if client is None:
            raise AuthorizeRefusedError("unknown client_id: this client is not registered")
        redirect_uri = params.get("redirect_uri", "")
        # Exact match, but any port on a port-less loopback IP registration (RFC 8252).
        if not is_registered(redirect_uri, client.redirect_uris):
            raise AuthorizeRefusedError("redirect_uri is not registered for this client")
        state = params.get("state")
        request = AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            # Unknown scopes are left out of the grant, not refused (RFC 6749 §3.3): the
            # token response's ``scope`` tells the client what it got.
            scope=tuple(s for s in params.get("scope", "").split() if s in SUPPORTED_SCOPES),
            state=state,
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            prompt=tuple(params.get("prompt", "").split()),
            max_age=None,
        )
        try:
            self._check_authorization_request(client, request, params)
            max_age = params.get("max_age")
            if max_age is not None:
                if not max_age.isdigit():
                    raise OAuthError("invalid_request", "max_age must be a non-negative integer")
                request = replace(request, max_age=int(max_age))
        except OAuthError as err:
            raise AuthorizeRedirectError(request, err) from None
        return request

    def _check_authorization_request(
        self, client: OidcClient, request: AuthorizationRequest, params: Mapping[str, str]
    ) -> None:
        response_type = params.get("response_type", "")
        if response_type != "code":
            raise OAuthError(
                "unsupported_response_type", "only the authorization code flow is supported"
            )
        if "openid" not in request.scope:
            raise OAuthError("invalid_scope", "the openid scope is required")
        if "request" in params or "request_uri" in params:
            raise OAuthError("request_not_supported", "request objects are not supported")
        if params.get("response_mode", "query") != "query":
            raise OAuthError("invalid_request", "only response_mode=query is supported")
        if request.code_challenge is not None:
            if params.get("code_challenge_method") != "S256":
                raise OAuthError("invalid_request", "code_challenge_method must be S256")
            if not _PKCE_VALUE.fullmatch(request.code_challenge):
                raise OAuthError("invalid_request", "code_challenge is malformed")
        elif client.require_pkce:
            raise OAuthError("invalid_request", "this client must use PKCE (S256)")
        if "none" in request.prompt and len(request.prompt) > 1:
            raise OAuthError("invalid_request", "prompt=none cannot be combined")

    def issue_code(
        self, request: AuthorizationRequest, user: DemoUser, *, auth_time: int, sid: str
    ) -> str:
        """The redirect that completes a successful authorization (code, state, iss)."""
        code = self._codes.issue(
            CodeGrant(
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                username=user.username,
                scope=request.scope,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                auth_time=auth_time,
                sid=sid,
            )
        )
        params = {"code": code, "iss": self.issuer}  # iss: RFC 9207 mix-up defence
        if request.state is not None:
            params["state"] = request.state
        return _with_query(request.redirect_uri, params)

    # -- token endpoint --------------------------------------------------------------

    def authenticate_client(self, form: Mapping[str, str], authorization: str | None) -> OidcClient:
        """client_secret_basic or client_secret_post; exactly one of them (RFC 6749 §2.3)."""
        basic = authorization is not None and authorization[:6].lower() == "basic "
        if basic and "client_secret" in form:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        if basic:
            assert authorization is not None
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                raw_id, raw_secret = decoded.split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise _invalid_client("malformed Basic credentials", basic=True) from None
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id does not match the credentials")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            if not client_id or not secret:
                raise _invalid_client("client authentication is required", basic=False)
        client = self._directory.client(client_id)
        # Compare against a dummy for unknown clients too, so timing does not tell.
        expected = client.client_secret if client else None
        ok = hmac.compare_digest(
            (expected.value if expected else "\0unknown\0").encode(), secret.encode()
        )
        if client is None or not ok:
            raise _invalid_client("client authentication failed", basic=basic)
        return client

    def token(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """The token endpoint: authorization_code and refresh_token grants."""
        client = self.authenticate_client(form, authorization)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._redeem_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh(client, form)
        raise OAuthError("unsupported_grant_type", "use authorization_code or refresh_token")

    def revoke(self, form: Mapping[str, str], authorization: str | None) -> None:
        """RFC 7009: forget an access or refresh token of the authenticated client.

        An unknown token, or one of another client, is answered like a revoked one
        (§2.2), so the endpoint reveals nothing about tokens it does not revoke.
        """
        client = self.authenticate_client(form, authorization)
        token = form.get("token", "")
        grant = self._tokens.get(token) if token else None
        if grant is not None and grant.client_id == client.client_id:
            self._tokens.discard(token)

    def _redeem_code(self, client: OidcClient, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code", "")
        grant = self._codes.redeem(code) if code else None
        if grant is None:
            raise OAuthError("invalid_grant", "the code is invalid, expired or already used")
        if grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = form.get("code_verifier")
        if grant.code_challenge is not None:
            if verifier is None or not _PKCE_VALUE.fullmatch(verifier):
                raise OAuthError("invalid_grant", "a valid code_verifier is required (PKCE)")
            if not hmac.compare_digest(pkce_challenge(verifier), grant.code_challenge):
                raise OAuthError("invalid_grant", "PKCE verification failed")
        elif verifier is not None:
            # A verifier without a challenge is a PKCE downgrade attempt (RFC 9700 §2.1.1).
            raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")
        user = self._directory.user(grant.username)
        if user is None:
            raise OAuthError("invalid_grant", "the user no longer exists")
        response = self._issue_tokens(
            client, user, grant.scope, auth_time=grant.auth_time, sid=grant.sid, nonce=grant.nonce
        )
        minted = tuple(response[k] for k in ("access_token", "refresh_token") if k in response)
        self._codes.record_tokens(code, minted)
        return response

    def _refresh(self, client: OidcClient, form: Mapping[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        grant = self._tokens.pop(token) if token else None  # rotation: single use
        if grant is None or grant.kind != "refresh" or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token is invalid or expired")
        scope = grant.scope
        if "scope" in form:
            asked = tuple(form["scope"].split())
            if not set(asked) <= set(scope):
                raise OAuthError("invalid_scope", "a refresh cannot widen the granted scope")
            scope = asked
        user = self._directory.user(grant.username)
        if user is None:
            raise OAuthError("invalid_grant", "the user no longer exists")
        return self._issue_tokens(
            client, user, scope, auth_time=grant.auth_time, sid=grant.sid, nonce=None
        )

    def issue_tokens(
        self,
        client: OidcClient,
        user: DemoUser,
        scope: tuple[str, ...],
        *,
        auth_time: int,
        sid: str,
    ) -> dict[str, Any]:
        """Tokens for another grant (the device code): access, ID and maybe refresh."""
        return self._issue_tokens(client, user, scope, auth_time=auth_time, sid=sid, nonce=None)

    def _issue_tokens(
        self,
        client: OidcClient,
        user: DemoUser,
        scope: tuple[str, ...],
        *,
        auth_time: int,
        sid: str,
        nonce: str | None,
    ) -> dict[str, Any]:
        lifetimes = self._lifetimes
        access_token = new_handle()
        self._tokens.put(
            access_token,
            TokenGrant("access", client.client_id, user.username, scope, auth_time, sid),
            lifetimes.access_token_seconds,
        )
        response: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetimes.access_token_seconds,
            "scope": " ".join(scope),
            "id_token": self.id_token(
                user, client.client_id, auth_time=auth_time, sid=sid, nonce=nonce
            ),
        }
        if "offline_access" in scope:
            refresh_token = new_handle()
            self._tokens.put(
                refresh_token,
                TokenGrant("refresh", client.client_id, user.username, scope, auth_time, sid),
                lifetimes.refresh_token_seconds,
            )
            response["refresh_token"] = refresh_token
        return response

    def id_token(
        self,
        user: DemoUser,
        audience: str,
        *,
        auth_time: int,
        sid: str,
        nonce: str | None = None,
    ) -> str:
        """An RS256 ID token for ``user`` with the AWS session-tags claim."""
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.username,
            "aud": audience,
            "azp": audience,
            "iat": now,
            "exp": now + self._lifetimes.id_token_seconds,
            "auth_time": auth_time,
            "sid": sid,
            **user_claims(user),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"alg": "RS256", "typ": "JWT", "kid": self._keys.kid}
        return jwt.encode(header, claims, self._keys.jwk, algorithms=["RS256"])

    # -- userinfo --------------------------------------------------------------------

    def userinfo(self, authorization: str | None) -> dict[str, Any]:
        """Claims for a Bearer access token (OIDC Core §5.3)."""
        if authorization is None or authorization[:7].lower() != "bearer ":
            raise OAuthError("invalid_request", "a Bearer access token is required", status=401)
        grant = self._tokens.get(authorization[7:].strip())
        if grant is None or grant.kind != "access":
            raise OAuthError("invalid_token", "the access token is invalid or expired", status=401)
        user = self._directory.user(grant.username)
        if user is None:
            raise OAuthError("invalid_token", "the user no longer exists", status=401)
        return {"sub": user.username, **user_claims(user)}

    # -- end session -----------------------------------------------------------------

    def end_session_redirect(self, params: Mapping[str, str]) -> str | None:
        """Where to send the browser after logout; None shows the IdP's own page.

        ``post_logout_redirect_uri`` must be registered for the client named by
        ``client_id`` or by the ``aud`` of ``id_token_hint`` (OIDC RP-Initiated Logout §2).
        """
        target = params.get("post_logout_redirect_uri")
        hint = params.get("id_token_hint")
        client_id = params.get("client_id")
        if hint:
            hinted = self._audience_of_own_token(hint)
            if hinted is None:
                raise AuthorizeRefusedError("id_token_hint was not issued by this provider")
            if client_id and client_id != hinted:
                raise AuthorizeRefusedError("client_id does not match id_token_hint")
            client_id = hinted
        if target is None:
            return None
        client = self._directory.client(client_id) if client_id else None
        if client is None:
            raise AuthorizeRefusedError(
                "post_logout_redirect_uri needs a client_id or id_token_hint naming a client"
            )
        if target not in client.post_logout_redirect_uris:
            raise AuthorizeRefusedError(
                "post_logout_redirect_uri is not registered for this client"
            )
        state = params.get("state")
        return _with_query(target, {"state": state}) if state is not None else target

    def _audience_of_own_token(self, token: str) -> str | None:
        """The ``aud`` of an ID token this provider signed (expired ones are fine here)."""
        try:
            decoded = jwt.decode(token, self._keys.jwk, algorithms=["RS256"])
        except (JoseError, ValueError):
            return None
        if decoded.claims.get("iss") != self.issuer:
            return None
        aud = decoded.claims.get("aud")
        return aud if isinstance(aud, str) else None


def user_claims(user: DemoUser) -> dict[str, Any]:
    """The identity claims shared by ID tokens and userinfo."""
    return {
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "preferred_username": user.username,
        "groups": list(user.groups),
        AWS_TAGS_CLAIM: {"principal_tags": {"Email": [user.email]}},
    }


def _invalid_client(description: str, *, basic: bool) -> OAuthError:
    # RFC 6749 §5.2: 401 for failed authentication (with WWW-Authenticate for Basic).
    return OAuthError("invalid_client", description, status=401, basic_challenge=basic)
