"""Test peer: pysaml2's IdP (``saml2.server.Server``) behind a tiny loopback HTTP wrapper.

pysaml2 signs through Debian's ``xmlsec1`` binary and defaults to RSA-SHA1: this wrapper
always asks for RSA-SHA256 signatures and SHA-256 digests. It serves

    GET  /metadata               the IdP metadata (pysaml2's own generator)
    GET  /sso/redirect           SP-initiated login, HTTP-Redirect binding
    POST /sso/post               SP-initiated login, HTTP-POST binding
    GET  /sso/idp-initiated?sp=  unsolicited login for a registered SP
    POST /login                  the login form posts here; answers with an auto-post form

Users and service providers are given at construction; the password is ``demo``.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from qbizfed.local.idp.keys import generate_signing_material

XMLSEC1 = "/usr/bin/xmlsec1"
PASSWORD = "demo"
AWS = "https://aws.amazon.com/SAML/Attributes/"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


@dataclass(frozen=True)
class PeerUser:
    username: str
    email: str
    name: str


@dataclass(frozen=True)
class PeerSp:
    entity_id: str
    acs_url: str
    role_attribute: str = ""
    """``"<role arn>,<provider arn>"`` or empty."""


def _sp_metadata(sp: PeerSp) -> str:
    """Just enough SP metadata for pysaml2 to know the SP and its ACS URL."""
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'entityID="{escape(sp.entity_id)}"><md:SPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" '
        f'Location="{escape(sp.acs_url)}" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>'
    )


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class Pysaml2Idp:
    """A pysaml2 IdP on 127.0.0.1 with an ephemeral port; ``start()``/``stop()``."""

    def __init__(self, users: list[PeerUser], sps: list[PeerSp]) -> None:
        self.users = {u.username: u for u in users}
        self.sps = {sp.entity_id: sp for sp in sps}
        self._tmp = tempfile.TemporaryDirectory(prefix="pysaml2-idp-")
        keys = generate_signing_material("pysaml2-peer-idp")
        self.key_file = Path(self._tmp.name) / "key.pem"
        self.cert_file = Path(self._tmp.name) / "cert.pem"
        self.key_file.write_bytes(keys.private_key_pem)
        self.cert_file.write_text(keys.certificate_pem)
        self.certificate_pem = keys.certificate_pem
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.entity_id = self.url + "/metadata"
        self.idp = Server(config=self._config())
        self.metadata_xml = create_metadata_string(None, config=self.idp.config).decode()
        self._thread: threading.Thread | None = None

    def _config(self) -> IdPConfig:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": XMLSEC1,
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "metadata": {"inline": [_sp_metadata(sp) for sp in self.sps.values()]},
                "service": {
                    "idp": {
                        "name": "pysaml2 peer IdP",
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.url + "/sso/redirect", BINDING_HTTP_REDIRECT),
                                (self.url + "/sso/post", BINDING_HTTP_POST),
                            ]
                        },
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "want_authn_requests_signed": False,
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                                "sign_response": True,
                                "sign_assertion": True,
                            }
                        },
                    }
                },
            }
        )
        return config

    def register_sp(self, sp: PeerSp) -> None:
        """Add a service provider at runtime (after its IAM role exists)."""
        self.idp.metadata.load("inline", _sp_metadata(sp))
        self.sps[sp.entity_id] = sp

    @property
    def sso_redirect_url(self) -> str:
        return self.url + "/sso/redirect"

    def start(self) -> Pysaml2Idp:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._tmp.cleanup()

    # -- HTTP ------------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._route(request)
        except Exception as exc:  # a refused request: show it, as an IdP would
            response = Response(f"refused: {escape(type(exc).__name__)}", status=400)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.path == "/metadata":
            return Response(self.metadata_xml, mimetype="application/samlmetadata+xml")
        if request.path == "/sso/redirect" and request.method == "GET":
            return self._sp_initiated(request.args, BINDING_HTTP_REDIRECT)
        if request.path == "/sso/post" and request.method == "POST":
            return self._sp_initiated(request.form, BINDING_HTTP_POST)
        if request.path == "/sso/idp-initiated":
            sp = self.sps[request.args["sp"]]
            return self._login_form(
                {"sp": sp.entity_id, "acs": sp.acs_url, "in_response_to": None,
                 "relay_state": request.args.get("RelayState")}
            )  # fmt: skip
        if request.path == "/login" and request.method == "POST":
            return self._login(request)
        return Response("not found", status=404)

    def _sp_initiated(self, values: Any, binding: str) -> Response:
        parsed = self.idp.parse_authn_request(values["SAMLRequest"], binding)
        message = parsed.message
        sp = self.sps[message.issuer.text]  # KeyError: unknown SP -> refused
        acs = message.assertion_consumer_service_url or sp.acs_url
        if acs != sp.acs_url:
            raise ValueError("unregistered ACS URL")
        return self._login_form(
            {"sp": sp.entity_id, "acs": acs, "in_response_to": message.id,
             "relay_state": values.get("RelayState")}
        )  # fmt: skip

    def _login_form(self, pending: dict[str, Any]) -> Response:
        handle = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[handle] = pending
        body = (
            '<html><body><form method="post" action="/login">'
            f'<input type="hidden" name="handle" value="{escape(handle)}">'
            '<input type="text" name="username"><input type="password" name="password">'
            '<button type="submit">Sign in</button></form></body></html>'
        )
        return Response(body, mimetype="text/html")

    def _login(self, request: Request) -> Response:
        with self._lock:
            pending = self._pending.pop(request.form.get("handle", ""), None)
        user = self.users.get(request.form.get("username", ""))
        if pending is None or user is None or request.form.get("password") != PASSWORD:
            return Response("wrong user name or password", status=401)
        sp = self.sps[pending["sp"]]
        identity: dict[str, list[str]] = {
            AWS + "RoleSessionName": [user.email],
            AWS + "PrincipalTag:Email": [user.email],
            "email": [user.email],
            "name": [user.name],
        }
        if sp.role_attribute:
            identity[AWS + "Role"] = [sp.role_attribute]
        response = self.idp.create_authn_response(
            identity,
            in_response_to=pending["in_response_to"],
            destination=pending["acs"],
            sp_entity_id=sp.entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user.email),
            authn={"class_ref": PASSWORD_PROTECTED},
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        encoded = base64.b64encode(str(response).encode()).decode()
        relay = pending.get("relay_state")
        relay_input = (
            f'<input type="hidden" name="RelayState" value="{escape(relay)}">' if relay else ""
        )
        body = (
            f'<html><body><form method="post" action="{escape(pending["acs"])}">'
            f'<input type="hidden" name="SAMLResponse" value="{encoded}">{relay_input}'
            "</form><script>document.forms[0].submit()</script></body></html>"
        )
        return Response(body, mimetype="text/html")
