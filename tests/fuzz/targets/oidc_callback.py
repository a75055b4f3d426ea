"""Fuzz target: the OIDC callback (``OidcRelyingParty.complete``) with arbitrary parameters.

Input: NUL-separated ``key=value`` callback parameters, then the token endpoint's
answer body. The literal ``$STATE`` in a value becomes the pending login's real state,
so mutations get past the state check into the code exchange. A body starting with
``SIGN:`` is ID-token claims (``$NONCE`` replaced by the login's nonce) that the fake
IdP signs with its real key, so mutated claims reach the checks behind the signature.
The IdP (token endpoint and JWKS) is served at the httpx seam. Allowed outcome: a
token set or a :class:`QbizfedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
from joserfc.errors import JoseError

from qbizfed.errors import QbizfedError
from qbizfed.identity.discovery import ProviderMetadata
from qbizfed.identity.oidc import OidcRelyingParty
from qbizfed.settings.oidc import OidcRegistration
from tests.fuzz.targets.base import SEPARATOR, join_fields
from tests.fuzz.targets.id_token import CLIENT_ID, ISSUER, good_claims
from tests.support.rp_idp import SigningKey

STATE_MARK = "$STATE"
NONCE_MARK = "$NONCE"
SIGN_MARK = b"SIGN:"
MAX_PARAMS = 8


class OidcCallbackTarget:
    name = "oidc_callback"

    def __init__(self) -> None:
        self.key = SigningKey.generate(kid="fuzz-key")
        self.token_body = b"{}"
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self._answer))
        metadata = ProviderMetadata(
            issuer=ISSUER,
            authorization_endpoint=ISSUER + "/authorize",
            token_endpoint=ISSUER + "/token",
            jwks_uri=ISSUER + "/jwks",
            id_token_signing_alg_values_supported=("RS256",),
            code_challenge_methods_supported=("S256",),
        )
        settings = OidcRegistration(
            issuer=ISSUER,
            client_id=CLIENT_ID,
            redirect_uri="https://app.fuzz.test/cb",
            client_secret="fuzz-secret",
        )
        self.rp = OidcRelyingParty(settings, metadata, http=self.http)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.jwk]})
        if request.url.path == "/token":
            return httpx.Response(200, content=self.token_body,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
        return httpx.Response(404)

    def _token_body(self, body: bytes, nonce: str) -> bytes:
        if not body.startswith(SIGN_MARK):
            return body
        try:
            raw = body[len(SIGN_MARK) :].replace(NONCE_MARK.encode(), nonce.encode())
            claims = json.loads(raw)
        except (ValueError, RecursionError):
            return body
        if not isinstance(claims, dict):
            return body
        try:
            token = self.key.sign_rs256({}, claims)
        except (JoseError, ValueError, TypeError):
            return body
        answer = {"access_token": "at", "token_type": "Bearer", "id_token": token}
        return json.dumps(answer).encode()

    def seeds(self) -> list[bytes]:
        good = SIGN_MARK + json.dumps({**good_claims(), "nonce": NONCE_MARK}).encode()
        return [
            join_fields(b"state=$STATE", b"code=abc", good),
            join_fields(b"state=$STATE", b"code=abc", b"iss=" + ISSUER.encode(), good),
            join_fields(b"state=$STATE", b"error=access_denied", b"error_description=<b>x"),
            join_fields(b"state=other", b"code=abc", good),
            join_fields(b"state=$STATE", b"id_token=eyJhbGciOiJub25lIn0.e30.", b"{}"),
        ]

    def check(self, data: bytes) -> None:
        pending = self.rp.authorization_request()
        *raw_params, body = data.split(SEPARATOR, MAX_PARAMS)
        params: dict[str, str] = {}
        for raw in raw_params:
            key, _, value = raw.decode("utf-8", errors="replace").partition("=")
            params[key] = value.replace(STATE_MARK, pending.state)
        self.token_body = self._token_body(body, pending.nonce)
        with contextlib.suppress(QbizfedError):
            self.loop.run_until_complete(self.rp.complete(pending, params))
