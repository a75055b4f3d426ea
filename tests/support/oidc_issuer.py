"""A tiny OpenID Connect issuer on loopback, for tests that need real ID tokens.

It serves ``/.well-known/openid-configuration`` and a JWKS over real HTTP on
``127.0.0.1`` (port 0), holds RSA signing keys, and mints ID tokens with joserfc.
Knobs cover what hostile-token tests need: any claim, any header, a key the issuer
does not publish, key rotation, and hand-built tokens that joserfc rightly refuses
to produce (``alg: none``, HS256 keyed with the public key).

    with running_oidc_issuer() as issuer:
        token = issuer.mint(email="ada@example.com")
        ...  # issuer.url is the ``iss``; issuer.host_path is what IAM stores

``running_oidc_issuer`` is a context manager; wrap it in a fixture of any scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

TAGS_CLAIM = "https://aws.amazon.com/tags"
DEFAULT_CLIENT_ID = "qbizfed-test-client"


def new_rsa_key(kid: str) -> RSAKey:
    """A fresh 2048-bit RSA signing key with ``kid``, ``alg: RS256`` and ``use: sig``."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(dict(value), separators=(",", ":")).encode())


@dataclass
class OidcIssuer:
    """A running issuer. ``url`` is the ``iss`` value; keys in ``published`` are served."""

    url: str
    path: str
    signing_key: RSAKey = field(repr=False)
    published: list[RSAKey] = field(repr=False)
    client_id: str = DEFAULT_CLIENT_ID
    jwks_requests: int = 0
    """How many times the JWKS was fetched (for cache tests)."""
    fail_with_status: int | None = None
    """When set, discovery and JWKS answer with this HTTP status (IdP outage)."""

    @property
    def host_path(self) -> str:
        """The issuer as IAM stores an OIDC provider URL (no scheme)."""
        return self.url.split("://", 1)[1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.published]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def rotate(self, kid: str) -> RSAKey:
        """Sign with a new key from now on, publishing it next to the old ones."""
        self.signing_key = new_rsa_key(kid)
        self.published.append(self.signing_key)
        return self.signing_key

    def claims(
        self,
        *,
        sub: str = "user-0001",
        aud: str | list[str] | None = None,
        email: str | None = "ada@example.com",
        lifetime: int = 300,
        issued_offset: int = 0,
        tags: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Standard ID-token claims; ``email`` becomes the ``Email`` principal tag.

        ``tags`` replaces the whole ``https://aws.amazon.com/tags`` claim; ``extra``
        adds or overrides any claim (pass ``exp=None`` to drop one).
        """
        now = int(time.time()) + issued_offset
        payload: dict[str, Any] = {
            "iss": self.url,
            "sub": sub,
            "aud": aud if aud is not None else self.client_id,
            "iat": now,
            "exp": now + lifetime,
        }
        if tags is not None:
            payload[TAGS_CLAIM] = dict(tags)
        elif email is not None:
            payload["email"] = email
            payload[TAGS_CLAIM] = {"principal_tags": {"Email": [email]}}
        for name, value in extra.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return payload

    def mint(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        key: RSAKey | None = None,
        header: Mapping[str, Any] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        **claim_knobs: Any,
    ) -> str:
        """A signed RS256 ID token (``claims`` as given, else ``self.claims(**claim_knobs)``).

        ``extra_claims`` adds claims whose names are not identifiers (URLs, for instance).
        """
        signer = key or self.signing_key
        payload = dict(claims) if claims is not None else self.claims(**claim_knobs)
        payload.update(extra_claims or {})
        protected = {"alg": "RS256", "typ": "JWT", "kid": signer.kid, **(header or {})}
        return jwt.encode(protected, payload, signer, algorithms=[protected["alg"]])

    def mint_unsigned(self, claims: Mapping[str, Any] | None = None, **knobs: Any) -> str:
        """``alg: none`` (built by hand: joserfc refuses to produce it)."""
        payload = dict(claims) if claims is not None else self.claims(**knobs)
        header = {"alg": "none", "typ": "JWT", "kid": self.signing_key.kid}
        return f"{_b64url_json(header)}.{_b64url_json(payload)}."

    def mint_hs256_with_public_key(
        self, claims: Mapping[str, Any] | None = None, **knobs: Any
    ) -> str:
        """The key-confusion attack: HMAC-SHA256 keyed with the published public key PEM."""
        payload = dict(claims) if claims is not None else self.claims(**knobs)
        header = {"alg": "HS256", "typ": "JWT", "kid": self.signing_key.kid}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(payload)}"
        public_pem = self.signing_key.as_pem(private=False)
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(mac)}"


def _handler_for(issuer_ref: list[OidcIssuer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer = issuer_ref[0]
            route = self.path.split("?", 1)[0]
            if issuer.fail_with_status is not None:
                self._send(issuer.fail_with_status, {"error": "unavailable"})
            elif route == f"{issuer.path}/.well-known/openid-configuration":
                self._send(200, issuer.discovery())
            elif route == f"{issuer.path}/jwks":
                issuer.jwks_requests += 1
                self._send(200, issuer.jwks())
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            body = json.dumps(dict(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output quiet

    return Handler


@contextmanager
def running_oidc_issuer(
    *, path: str | None = None, kid: str = "test-key-1", client_id: str = DEFAULT_CLIENT_ID
) -> Iterator[OidcIssuer]:
    """Start an issuer at ``http://127.0.0.1:<port><path>``; stop it on exit.

    ``path`` defaults to a unique ``/issuer-<hex>``: IAM (moto's, process-wide) refuses
    a second OIDC provider for the same URL, and ports get reused.
    """
    path = f"/issuer-{uuid.uuid4().hex[:10]}" if path is None else path
    key = new_rsa_key(kid)
    holder: list[OidcIssuer] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(holder))
    server.daemon_threads = True
    port = server.server_address[1]
    holder.append(
        OidcIssuer(
            url=f"http://127.0.0.1:{port}{path}",
            path=path,
            signing_key=key,
            published=[key],
            client_id=client_id,
        )
    )
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="test-oidc-issuer",
        daemon=True,
    )
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def oidc_trust_policy(
    provider_arn: str,
    host_path: str,
    client_id: str = DEFAULT_CLIENT_ID,
    *,
    require_email_on_assume: bool = True,
    tag_session: bool = True,
) -> dict[str, Any]:
    """The trust policy docs/aws-facts.md recommends for a Q Business web-experience role."""
    assume_condition: dict[str, Any] = {"StringEquals": {f"{host_path}:aud": client_id}}
    if require_email_on_assume:
        assume_condition["StringLike"] = {"aws:RequestTag/Email": "*"}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AssumeWithWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": assume_condition,
        }
    ]
    if tag_session:
        statements.append(
            {
                "Sid": "TagSession",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:TagSession",
                "Condition": {"StringLike": {"aws:RequestTag/Email": "*"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class OidcRole:
    provider_arn: str
    role_arn: str
    role_name: str


def ensure_oidc_provider(iam: Any, issuer: OidcIssuer) -> str:
    """The ARN of the IAM OIDC provider for ``issuer`` (created on first use)."""
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        if entry["Arn"].endswith(f":oidc-provider/{issuer.host_path}"):
            return str(entry["Arn"])
    created = iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=[issuer.client_id], ThumbprintList=["0" * 40]
    )
    return str(created["OpenIDConnectProviderArn"])


def register_oidc_role(
    iam: Any,
    issuer: OidcIssuer,
    role_name: str,
    *,
    trust_policy: Mapping[str, Any] | None = None,
    max_session_duration: int = 3600,
) -> OidcRole:
    """A role trusting ``issuer``, creating the IAM OIDC provider unless it exists."""
    provider_arn = ensure_oidc_provider(iam, issuer)
    policy = trust_policy or oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id)
    role_arn = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps(dict(policy)),
        MaxSessionDuration=max_session_duration,
    )["Role"]["Arn"]
    return OidcRole(provider_arn=provider_arn, role_arn=role_arn, role_name=role_name)
