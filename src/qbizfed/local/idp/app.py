"""The dev IdP's HTTP surface: one WSGI app for OIDC and SAML, with fixed paths.

    /.well-known/openid-configuration   OIDC discovery (issuer = the base URL)
    /oidc/authorize /oidc/token /oidc/userinfo /oidc/jwks /oidc/logout
    /saml/metadata                      IdP metadata (for IAM CreateSAMLProvider)
    /saml/sso                           SSO: HTTP-Redirect, HTTP-POST, or ?providerId=
                                        for an IdP-initiated login
    /oidc/device_authorization /device /device/decision
                                        device sign-in (RFC 8628, see ``device.py``)
    /login                              the login form posts here

A browser that signed in gets an HttpOnly session cookie (SSO), so a second
authorization needs no password unless ``prompt=login``/``max_age``/``ForceAuthn`` say so.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from qbizfed.local.idp import device_pages, pages
from qbizfed.local.idp.device import (
    DEVICE_AUTHORIZATION_PATH,
    DEVICE_CODE_GRANT,
    DEVICE_DECISION_PATH,
    DEVICE_VERIFICATION_PATH,
    DeviceConsent,
    DeviceFlow,
    DeviceFlowSettings,
    DeviceVerification,
    display_user_code,
)
from qbizfed.local.idp.grants import Clock, ExpiringStore, LoginSession, new_handle
from qbizfed.local.idp.keys import SigningMaterial
from qbizfed.local.idp.oidc import (
    AUTHORIZE_PATH,
    DISCOVERY_PATH,
    END_SESSION_PATH,
    JWKS_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    AuthorizationRequest,
    AuthorizeRedirectError,
    AuthorizeRefusedError,
    OAuthError,
    OidcProvider,
    TokenLifetimes,
    error_redirect,
)
from qbizfed.local.idp.saml_request import (
    POST_BINDING,
    REDIRECT_BINDING,
    AuthnRequestInfo,
    SamlRefusedError,
    idp_initiated,
    read_authn_request,
)
from qbizfed.local.idp.saml_response import (
    AssertionLifetimes,
    build_metadata,
    build_signed_error_response,
    build_signed_response,
)
from qbizfed.local.idp.users import DemoUser, Directory

SAML_METADATA_PATH = "/saml/metadata"
SAML_SSO_PATH = "/saml/sso"
LOGIN_PATH = "/login"
SESSION_COOKIE = "qbizfed_idp_session"
INTERACTION_SECONDS = 600
SESSION_SECONDS = 8 * 3600

_HTML_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Pending = AuthorizationRequest | AuthnRequestInfo | DeviceVerification


@dataclass(frozen=True)
class IdpEndpoints:
    """Absolute URLs of the IdP, derived from its base URL."""

    base_url: str

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def saml_entity_id(self) -> str:
        return self.base_url + SAML_METADATA_PATH

    @property
    def saml_metadata_url(self) -> str:
        return self.base_url + SAML_METADATA_PATH

    @property
    def saml_sso_url(self) -> str:
        return self.base_url + SAML_SSO_PATH

    @property
    def discovery_url(self) -> str:
        return self.base_url + DISCOVERY_PATH


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html", headers=_HTML_HEADERS)


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def _redirect(location: str) -> Response:
    response = Response("", status=302, headers={"Location": location, "Cache-Control": "no-store"})
    return response


def _single_values(values: MultiDict[str, str]) -> dict[str, str]:
    """Parameters that appear once; a repeated one is an error (RFC 6749 §3.1, §3.2)."""
    result: dict[str, str] = {}
    for name in values:
        if len(values.getlist(name)) > 1:
            raise OAuthError("invalid_request", f"parameter {name} is repeated")
        result[name] = values[name]
    return result


class IdpApp:
    """The WSGI application; all state lives in the stores it is given."""

    def __init__(
        self,
        *,
        endpoints: IdpEndpoints,
        keys: SigningMaterial,
        directory: Directory,
        token_lifetimes: TokenLifetimes | None = None,
        assertion_lifetimes: AssertionLifetimes | None = None,
        device_flow: DeviceFlowSettings | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.endpoints = endpoints
        self.directory = directory
        self._keys = keys
        self._clock = clock
        self._assertion_lifetimes = assertion_lifetimes or AssertionLifetimes()
        self.oidc = OidcProvider(
            issuer=endpoints.issuer,
            keys=keys,
            directory=directory,
            lifetimes=token_lifetimes,
            clock=clock,
        )
        self.device = DeviceFlow(
            device_flow or DeviceFlowSettings(), issuer=endpoints.issuer, clock=clock
        )
        self._interactions: ExpiringStore[Pending] = ExpiringStore(clock)
        self._sessions: ExpiringStore[LoginSession] = ExpiringStore(clock)
        self._metadata = build_metadata(
            entity_id=endpoints.saml_entity_id, sso_url=endpoints.saml_sso_url, keys=keys
        )
        self._routes = Map(
            [
                Rule("/", endpoint="index", methods=["GET"]),
                Rule(DISCOVERY_PATH, endpoint="discovery", methods=["GET"]),
                Rule(JWKS_PATH, endpoint="jwks", methods=["GET"]),
                Rule(AUTHORIZE_PATH, endpoint="authorize", methods=["GET", "POST"]),
                Rule(TOKEN_PATH, endpoint="token", methods=["POST"]),
                Rule(USERINFO_PATH, endpoint="userinfo", methods=["GET", "POST"]),
                Rule(END_SESSION_PATH, endpoint="end_session", methods=["GET", "POST"]),
                Rule(REVOCATION_PATH, endpoint="revoke", methods=["POST"]),
                Rule(SAML_METADATA_PATH, endpoint="saml_metadata", methods=["GET"]),
                Rule(SAML_SSO_PATH, endpoint="saml_sso", methods=["GET", "POST"]),
                Rule(LOGIN_PATH, endpoint="login", methods=["POST"]),
                Rule(DEVICE_AUTHORIZATION_PATH, endpoint="device_authorization", methods=["POST"]),
                Rule(DEVICE_VERIFICATION_PATH, endpoint="device", methods=["GET", "POST"]),
                Rule(DEVICE_DECISION_PATH, endpoint="device_decision", methods=["POST"]),
            ]
        )
        self._handlers: dict[str, Callable[[Request], Response]] = {
            "index": self._index,
            "discovery": lambda _r: _json(self.device.advertise(self.oidc.discovery())),
            "jwks": lambda _r: _json(self.oidc.jwks()),
            "authorize": self._authorize,
            "token": self._token,
            "userinfo": self._userinfo,
            "end_session": self._end_session,
            "revoke": self._revoke,
            "saml_metadata": self._saml_metadata,
            "saml_sso": self._saml_sso,
            "login": self._login,
            "device_authorization": self._device_authorization,
            "device": self._device_verification,
            "device_decision": self._device_decision,
        }

    @property
    def metadata_xml(self) -> bytes:
        return self._metadata

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = 1024 * 1024
        request.max_form_memory_size = 512 * 1024
        try:
            endpoint, _ = self._routes.bind_to_environ(environ).match()
            response = self._handlers[str(endpoint)](request)
        except NotFound:
            response = _html(pages.error_page("no such page at the dev IdP"), 404)
        except MethodNotAllowed as exc:
            response = exc.get_response(environ)
        except HTTPException as exc:  # e.g. a request body over the limits
            response = exc.get_response(environ)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def _session(self, request: Request) -> LoginSession | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self._sessions.get(cookie) if cookie else None
        if session is not None and self.directory.user(session.username) is None:
            return None
        return session

    def _login_form(
        self, pending: Pending, *, error: str | None = None, status: int = 200
    ) -> Response:
        interaction = new_handle()
        self._interactions.put(interaction, pending, INTERACTION_SECONDS)
        audience = (
            pending.client_id
            if isinstance(pending, AuthorizationRequest | DeviceVerification)
            else pending.sp.entity_id
        )
        page = pages.login_page(
            action=LOGIN_PATH,
            interaction=interaction,
            users=self.directory.users,
            audience=audience,
            error=error,
            default_password_hint=self.directory.uses_demo_password,
        )
        return _html(page, status)

    def _complete(self, pending: Pending, session: LoginSession) -> Response:
        user = self.directory.user(session.username)
        if user is None:
            return _html(pages.error_page("this user no longer exists"), 400)
        if isinstance(pending, DeviceVerification):
            return self._device_consent(pending, session)
        if isinstance(pending, AuthorizationRequest):
            location = self.oidc.issue_code(
                pending, user, auth_time=session.auth_time, sid=session.sid
            )
            return _redirect(location)
        return self._saml_post(pending, user, session)

    def _saml_post(
        self, pending: AuthnRequestInfo, user: DemoUser, session: LoginSession
    ) -> Response:
        xml = build_signed_response(
            issuer=self.endpoints.saml_entity_id,
            keys=self._keys,
            user=user,
            request=pending,
            session_index=session.sid,
            auth_instant=dt.datetime.fromtimestamp(session.auth_time, dt.UTC),
            now=self._now(),
            lifetimes=self._assertion_lifetimes,
        )
        return self._auto_post(pending, xml)

    def _auto_post(self, pending: AuthnRequestInfo, xml: bytes) -> Response:
        """The HTTP-POST binding: the browser carries the response to the verified ACS URL."""
        fields = {"SAMLResponse": base64.b64encode(xml).decode("ascii")}
        if pending.relay_state is not None:
            fields["RelayState"] = pending.relay_state
        return _html(pages.auto_post_page(action=pending.acs_url, fields=fields))

    # -- pages -----------------------------------------------------------------------

    def _index(self, request: Request) -> Response:
        return _html(
            pages.index_page(
                issuer=self.endpoints.issuer,
                metadata_url=self.endpoints.saml_metadata_url,
                users=self.directory.users,
            )
        )

    def _login(self, request: Request) -> Response:
        interaction = request.form.get("interaction", "")
        # Single use, taken atomically: two posts of one form cannot both sign in.
        pending = self._interactions.pop(interaction) if interaction else None
        if pending is None:
            return _html(
                pages.error_page("this sign-in has expired or was already used; start again"),
                400,
            )
        user = self.directory.authenticate(
            request.form.get("username", ""), request.form.get("password", "")
        )
        if user is None:
            return self._login_form(pending, error="wrong user name or password", status=401)
        session = LoginSession(
            sid=new_handle(16), username=user.username, auth_time=int(self._clock())
        )
        # The cookie is a separate secret: ``sid`` is public (ID tokens, SessionIndex).
        cookie = new_handle()
        self._sessions.put(cookie, session, SESSION_SECONDS)
        response = self._complete(pending, session)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="Lax",
            path="/",
            secure=self.endpoints.base_url.startswith("https://"),
        )
        return response

    # -- OIDC ------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        values = request.args if request.method == "GET" else request.form
        try:
            params = _single_values(values)
            auth_request = self.oidc.parse_authorization_request(params)
        except AuthorizeRefusedError as refusal:
            return _html(pages.error_page(str(refusal)), 400)
        except AuthorizeRedirectError as err:
            return _redirect(err.location)
        except OAuthError as err:  # repeated parameter: the redirect URI is unverified
            return _html(pages.error_page(err.description), 400)
        session = self._session(request)
        fresh_enough = session is not None and (
            auth_request.max_age is None
            or self._clock() - session.auth_time <= auth_request.max_age
        )
        if session is not None and fresh_enough and "login" not in auth_request.prompt:
            return self._complete(auth_request, session)
        if "none" in auth_request.prompt:
            return _redirect(
                error_redirect(
                    auth_request, OAuthError("login_required", "the user is not signed in")
                )
            )
        return self._login_form(auth_request)

    def _token(self, request: Request) -> Response:
        try:
            form = _single_values(request.form)
            if form.get("grant_type") == DEVICE_CODE_GRANT:
                return _json(self._device_tokens(form, request.headers.get("Authorization")))
            return _json(self.oidc.token(form, request.headers.get("Authorization")))
        except OAuthError as err:
            headers = (
                {"WWW_Authenticate": 'Basic realm="qbizfed-dev-idp"'} if err.basic_challenge else {}
            )
            return _json(err.body(), err.status, **headers)

    def _revoke(self, request: Request) -> Response:
        try:
            self.oidc.revoke(_single_values(request.form), request.headers.get("Authorization"))
        except OAuthError as err:
            headers = (
                {"WWW_Authenticate": 'Basic realm="qbizfed-dev-idp"'} if err.basic_challenge else {}
            )
            return _json(err.body(), err.status, **headers)
        return Response(b"", status=200)

    def _userinfo(self, request: Request) -> Response:
        try:
            return _json(self.oidc.userinfo(request.headers.get("Authorization")))
        except OAuthError as err:
            challenge = f'Bearer error="{err.error}"'
            return _json(err.body(), err.status, WWW_Authenticate=challenge)

    def _end_session(self, request: Request) -> Response:
        values = request.args if request.method == "GET" else request.form
        try:
            location = self.oidc.end_session_redirect(_single_values(values))
        except (AuthorizeRefusedError, OAuthError) as refusal:
            return _html(pages.error_page(str(refusal)), 400)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            self._sessions.discard(cookie)
        response = _redirect(location) if location else _html(pages.logged_out_page())
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- SAML ------------------------------------------------------------------------

    def _saml_metadata(self, request: Request) -> Response:
        return Response(self._metadata, mimetype="application/samlmetadata+xml")

    def _saml_sso(self, request: Request) -> Response:
        try:
            pending = self._read_saml_request(request)
        except SamlRefusedError as refusal:
            return _html(pages.error_page(str(refusal)), 400)
        session = self._session(request)
        if session is not None and not pending.force_authn:
            return self._complete(pending, session)
        if pending.is_passive:
            xml = build_signed_error_response(
                issuer=self.endpoints.saml_entity_id,
                keys=self._keys,
                request=pending,
                now=self._now(),
                message="the user is not signed in at the IdP",
            )
            return self._auto_post(pending, xml)
        return self._login_form(pending)

    def _read_saml_request(self, request: Request) -> AuthnRequestInfo:
        values = request.args if request.method == "GET" else request.form
        relay_state = values.get("RelayState")
        if relay_state is not None and len(relay_state) > 1024:
            raise SamlRefusedError("RelayState is too long")
        saml_request = values.get("SAMLRequest")
        if saml_request is None:
            provider = values.get("providerId")
            if request.method == "GET" and provider:
                return idp_initiated(
                    directory=self.directory, entity_id=provider, relay_state=relay_state
                )
            raise SamlRefusedError("no SAMLRequest (or providerId for an IdP-initiated login)")
        binding = REDIRECT_BINDING if request.method == "GET" else POST_BINDING
        return read_authn_request(
            binding=binding,
            saml_request=saml_request,
            relay_state=relay_state,
            raw_query=request.query_string.decode("latin-1"),
            directory=self.directory,
            sso_urls=(self.endpoints.saml_sso_url,),
            now=self._now(),
        )

    # -- device sign-in (RFC 8628) ---------------------------------------------------

    def _device_authorization(self, request: Request) -> Response:
        try:
            form = _single_values(request.form)
            client = self.oidc.authenticate_client(form, request.headers.get("Authorization"))
            return _json(self.device.authorize(client, form))
        except OAuthError as err:
            headers = (
                {"WWW_Authenticate": 'Basic realm="qbizfed-dev-idp"'} if err.basic_challenge else {}
            )
            return _json(err.body(), err.status, **headers)

    def _device_tokens(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client = self.oidc.authenticate_client(form, authorization)
        grant = self.device.redeem(client, form)
        user = self.directory.user(grant.username or "")
        if user is None:
            raise OAuthError("invalid_grant", "the user no longer exists")
        return self.oidc.issue_tokens(
            client, user, grant.scope, auth_time=grant.auth_time, sid=grant.sid
        )

    def _device_verification(self, request: Request) -> Response:
        if request.method == "GET":
            typed = request.args.get("user_code", "")
            return _html(device_pages.code_entry_page(user_code=typed[:32]))
        pending = self.device.pending(request.form.get("user_code", ""))
        if pending is None:
            page = device_pages.code_entry_page(
                user_code=request.form.get("user_code", "")[:32],
                error="this code is unknown, expired or already used: check the device",
            )
            return _html(page, 400)
        session = self._session(request)
        if session is not None:
            return self._device_consent(pending, session)
        return self._login_form(pending)

    def _device_consent(self, pending: DeviceVerification, session: LoginSession) -> Response:
        consent = DeviceConsent(
            user_code=pending.user_code,
            username=session.username,
            auth_time=session.auth_time,
            sid=session.sid,
        )
        page = device_pages.consent_page(
            handle=self.device.consent_handle(consent),
            client_id=pending.client_id,
            user_code=display_user_code(pending.user_code),
            username=session.username,
        )
        return _html(page)

    def _device_decision(self, request: Request) -> Response:
        handle = request.form.get("consent", "")
        consent = self.device.consents.pop(handle) if handle else None
        decision = request.form.get("decision", "")
        if consent is None or decision not in ("approve", "deny"):
            return _html(
                pages.error_page("this approval has expired or was already used; start again"),
                400,
            )
        approve = decision == "approve"
        if not self.device.decide(consent, approve=approve):
            return _html(pages.error_page("this device code expired or was already decided"), 400)
        return _html(device_pages.decided_page(approved=approve))
