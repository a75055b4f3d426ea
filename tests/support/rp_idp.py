"""A small IdP for relying-party tests: mints ID tokens and signed SAML responses.

``LoopbackOidcIdp`` serves discovery, JWKS and a token endpoint on 127.0.0.1 (port 0)
from a thread, so the relying party talks real HTTP. Hostile tokens (``alg: none``,
HS256 key confusion) are built by hand here because joserfc rightly refuses to.
``SamlIdp`` builds SAML 2.0 responses and signs them with signxml (RSA-SHA256,
exclusive c14n, signature placed after ``Issuer`` as the schema requires).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey
from lxml import etree
from signxml.algorithms import CanonicalizationMethod
from signxml.signer import XMLSigner

# --------------------------------------------------------------------------- OIDC


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rsa_jwk_from_private(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """Public JWK of a cryptography RSA key, built by hand (works for weak keys too)."""
    numbers = private.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64url(n), "e": b64url(e)}


@dataclass
class SigningKey:
    """An RSA signing key with its kid; ``jwk`` is the public half as published."""

    private: rsa.RSAPrivateKey = field(repr=False)
    kid: str

    @classmethod
    def generate(cls, bits: int = 2048, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return cls(private=key, kid=kid or uuid.uuid4().hex[:16])

    @property
    def jwk(self) -> dict[str, Any]:
        return rsa_jwk_from_private(self.private, self.kid)

    def sign_rs256(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """Sign with joserfc (strong keys) or by hand with cryptography (weak test keys)."""
        if self.private.key_size >= 2048:
            key = RSAKey.import_key(self.private)
            return jwt.encode({"alg": "RS256", "kid": self.kid, **header}, claims, key)
        from cryptography.hazmat.primitives.asymmetric import padding

        full = {"typ": "JWT", "alg": "RS256", "kid": self.kid, **header}
        signing_input = f"{b64url(json.dumps(full).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"


def unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """``alg: none`` token with an empty signature (attack)."""
    h = b64url(json.dumps({"typ": "JWT", "alg": "none", **header}).encode())
    return f"{h}.{b64url(json.dumps(claims).encode())}."


def hs256_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """HS256 token keyed with ``secret`` (attack: the IdP's public key as HMAC secret)."""
    h = b64url(json.dumps({"typ": "JWT", "alg": "HS256", **header}).encode())
    signing_input = f"{h}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def public_pem(key: SigningKey) -> bytes:
    return key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class TokenEndpointRecord:
    form: dict[str, str]
    authorization: str | None


class LoopbackOidcIdp:
    """Discovery + JWKS + token + end-session endpoints on 127.0.0.1 with a random port."""

    def __init__(
        self,
        *,
        client_id: str = "qbizfed-test-client",
        client_secret: str = "test-client-secret-0123456789",
        auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post"),
        algorithms: tuple[str, ...] = ("RS256",),
        issuer_path: str = "",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_methods = auth_methods
        self.algorithms = algorithms
        self.key = SigningKey.generate()
        self.jwks_keys: list[dict[str, Any]] = [self.key.jwk]
        self.jwks_hits = 0
        self.token_requests: list[TokenEndpointRecord] = []
        self.token_response: dict[str, Any] | None = None
        self.token_status = 200
        self.userinfo_response: dict[str, Any] | None = None
        """None: the claims of the ID token last handed out (a well-behaved IdP)."""
        self.userinfo_status = 200
        self.userinfo_authorizations: list[str | None] = []
        self._issuer_path = issuer_path
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == f"{idp._issuer_path}/.well-known/openid-configuration":
                    self._json(200, idp.discovery_document())
                elif path == "/jwks":
                    idp.jwks_hits += 1
                    self._json(200, {"keys": idp.jwks_keys})
                elif path == "/userinfo":
                    idp.userinfo_authorizations.append(self.headers.get("Authorization"))
                    self._json(idp.userinfo_status, idp.current_userinfo())
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                idp.token_requests.append(
                    TokenEndpointRecord(form=form, authorization=self.headers.get("Authorization"))
                )
                if idp.token_response is None:
                    self._json(400, {"error": "invalid_grant"})
                else:
                    self._json(idp.token_status, idp.token_response)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return self.base_url + self._issuer_path

    def discovery_document(self) -> dict[str, Any]:
        base = self.base_url
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/session/end",
            "userinfo_endpoint": f"{base}/userinfo",
            "id_token_signing_alg_values_supported": list(self.algorithms),
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile", "aws_tags"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    def current_userinfo(self) -> dict[str, Any]:
        """What /userinfo answers: ``userinfo_response``, or the last ID token's claims."""
        if self.userinfo_response is not None:
            return self.userinfo_response
        token = (self.token_response or {}).get("id_token")
        if not isinstance(token, str) or token.count(".") != 2:
            return {"error": "invalid_token"}
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
        keep = ("sub", "name", "preferred_username", "email", "groups")
        return {k: v for k, v in claims.items() if k in keep}

    def start(self) -> LoopbackOidcIdp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def claims(
        self, *, email: str = "alice@example.com", nonce: str | None = "n-0", **extra: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "user-alice",
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "name": "Alice Example",
            "email": email,
            "https://aws.amazon.com/tags": {"principal_tags": {"Email": [email]}},
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, claims: dict[str, Any] | None = None, *, key: SigningKey | None = None,
             header: dict[str, Any] | None = None) -> str:  # fmt: skip
        return (key or self.key).sign_rs256(
            header or {}, claims if claims is not None else self.claims()
        )


# --------------------------------------------------------------------------- SAML

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
TAG_ATTR = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"


@dataclass
class CertifiedKey:
    """RSA key with a self-signed certificate, as an IdP publishes in its metadata."""

    private: rsa.RSAPrivateKey = field(repr=False)
    cert: x509.Certificate

    @classmethod
    def generate(cls, common_name: str = "rp-test-idp") -> CertifiedKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        return cls(private=key, cert=cert)

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cert_b64(self) -> str:
        return "".join(self.cert_pem.strip().splitlines()[1:-1])


def _ts(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SamlResponseSpec:
    """Everything a test may want to vary in a SAML response."""

    idp_entity_id: str
    sp_entity_id: str
    acs_url: str
    in_response_to: str | None = None
    name_id: str = "alice@example.com"
    email: str = "alice@example.com"
    roles: tuple[str, ...] = (
        "arn:aws:iam::123456789012:role/QBizWeb,arn:aws:iam::123456789012:saml-provider/TestIdp",
    )
    session_name: str | None = "alice@example.com"
    extra_attributes: dict[str, list[str]] = field(default_factory=dict)
    destination: str | None = None  # defaults to acs_url
    recipient: str | None = None  # defaults to acs_url
    audience: str | None = None  # defaults to sp_entity_id
    issued_at: dt.datetime | None = None
    not_before: dt.datetime | None = None
    not_on_or_after: dt.datetime | None = None
    assertion_id: str = field(default_factory=lambda: "_a" + uuid.uuid4().hex)
    response_id: str = field(default_factory=lambda: "_r" + uuid.uuid4().hex)


class SamlIdp:
    """Builds and signs SAML 2.0 responses for one IdP entity."""

    def __init__(self, entity_id: str = "https://idp.rp-test.example/saml") -> None:
        self.entity_id = entity_id
        self.key = CertifiedKey.generate()

    def spec(self, *, sp_entity_id: str, acs_url: str, **kwargs: Any) -> SamlResponseSpec:
        kwargs.setdefault("idp_entity_id", self.entity_id)
        return SamlResponseSpec(sp_entity_id=sp_entity_id, acs_url=acs_url, **kwargs)

    def response_xml(self, spec: SamlResponseSpec) -> str:
        now = spec.issued_at or dt.datetime.now(dt.UTC)
        not_before = spec.not_before or now - dt.timedelta(minutes=1)
        not_after = spec.not_on_or_after or now + dt.timedelta(minutes=5)
        irt = f' InResponseTo="{spec.in_response_to}"' if spec.in_response_to else ""
        destination = spec.destination if spec.destination is not None else spec.acs_url
        dest_attr = f' Destination="{destination}"' if destination else ""
        recipient = spec.recipient if spec.recipient is not None else spec.acs_url
        audience = spec.audience if spec.audience is not None else spec.sp_entity_id
        attributes: list[tuple[str, list[str]]] = [(ROLE_ATTR, list(spec.roles))]
        if spec.session_name is not None:
            attributes.append((SESSION_ATTR, [spec.session_name]))
        if spec.email:
            attributes.append((TAG_ATTR + "Email", [spec.email]))
        attributes.extend(spec.extra_attributes.items())
        attr_xml = "".join(
            f'<saml:Attribute Name="{name}">'
            + "".join(
                f'<saml:AttributeValue xsi:type="xs:string">{v}</saml:AttributeValue>'
                for v in values
            )
            + "</saml:Attribute>"
            for name, values in attributes
            if values
        )
        return (
            f'<samlp:Response xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
            'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'ID="{spec.response_id}" Version="2.0" IssueInstant="{_ts(now)}"{dest_attr}{irt}>'
            f"<saml:Issuer>{spec.idp_entity_id}</saml:Issuer>"
            '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
            "</samlp:Status>"
            f'<saml:Assertion ID="{spec.assertion_id}" Version="2.0" IssueInstant="{_ts(now)}">'
            f"<saml:Issuer>{spec.idp_entity_id}</saml:Issuer>"
            "<saml:Subject>"
            '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
            f"{spec.name_id}</saml:NameID>"
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{_ts(not_after)}" '
            f'Recipient="{recipient}"{irt}/>'
            "</saml:SubjectConfirmation></saml:Subject>"
            f'<saml:Conditions NotBefore="{_ts(not_before)}" NotOnOrAfter="{_ts(not_after)}">'
            f"<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience>"
            "</saml:AudienceRestriction></saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{_ts(now)}" SessionIndex="{spec.assertion_id}">'
            "<saml:AuthnContext><saml:AuthnContextClassRef>"
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
            f"<saml:AttributeStatement>{attr_xml}</saml:AttributeStatement>"
            "</saml:Assertion></samlp:Response>"
        )

    def _sign_element(
        self, root: etree._Element, target: etree._Element, key: CertifiedKey
    ) -> None:
        """Sign ``target`` in place, Signature placed right after its Issuer."""
        placeholder = etree.Element(f"{{{NS['ds']}}}Signature", nsmap={"ds": NS["ds"]})
        placeholder.set("Id", "placeholder")
        issuer = target.find("saml:Issuer", NS)
        assert issuer is not None
        issuer.addnext(placeholder)
        signer = XMLSigner(
            signature_algorithm="rsa-sha256",
            digest_algorithm="sha256",
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signed = signer.sign(
            target,
            key=key.private,
            cert=[key.cert],
            reference_uri=target.get("ID"),
            id_attribute="ID",
        )
        parent = target.getparent()
        if parent is None:
            raise ValueError("sign the response with sign_response")
        parent.replace(target, signed)

    def signed_response(
        self,
        spec: SamlResponseSpec,
        *,
        sign_assertion: bool = True,
        sign_response: bool = False,
        key: CertifiedKey | None = None,
        edit: Callable[[etree._Element], None] | None = None,
    ) -> bytes:
        """Response XML with the assertion and/or the response signed by ``key`` (ours).

        ``edit`` changes the document *before* signing: the result is validly signed by
        the trusted key, so only the checks after the signature can refuse it.
        """
        key = key or self.key
        root = etree.fromstring(self.response_xml(spec).encode())
        if edit is not None:
            edit(root)
        if sign_assertion:
            assertion = root.find("saml:Assertion", NS)
            assert assertion is not None
            self._sign_element(root, assertion, key)
        if sign_response:
            root = self.sign_whole_response(root, key)
        return bytes(etree.tostring(root))

    def sign_whole_response(
        self, root: etree._Element, key: CertifiedKey | None = None
    ) -> etree._Element:
        key = key or self.key
        placeholder = etree.Element(f"{{{NS['ds']}}}Signature", nsmap={"ds": NS["ds"]})
        placeholder.set("Id", "placeholder")
        issuer = root.find("saml:Issuer", NS)
        assert issuer is not None
        issuer.addnext(placeholder)
        signer = XMLSigner(
            signature_algorithm="rsa-sha256",
            digest_algorithm="sha256",
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        result: etree._Element = signer.sign(
            root, key=key.private, cert=[key.cert], reference_uri=root.get("ID"), id_attribute="ID"
        )
        return result

    def metadata_xml(self) -> str:
        return (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'entityID="{self.entity_id}"><md:IDPSSODescriptor '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
            f"<ds:X509Data><ds:X509Certificate>{self.key.cert_b64}</ds:X509Certificate>"
            "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{self.entity_id}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>'
        )


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()
