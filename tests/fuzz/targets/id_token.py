"""Fuzz target: the relying party's ID-token validator (``validate_id_token``).

The issuer's JWKS is served at the httpx seam (``MockTransport``), so nothing leaves
the process. Allowed outcome: a validated token or a :class:`QbizfedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
from joserfc.jwk import RSAKey

from qbizfed.errors import QbizfedError
from qbizfed.identity.id_token import IdTokenExpectations, validate_id_token
from qbizfed.identity.jwks import JwksCache
from tests.fuzz.targets.jwt_inputs import signed_seed, text_seed, token_from
from tests.support.rp_idp import SigningKey, hs256_token, public_pem, unsigned_token

ISSUER = "https://idp.fuzz.test"
CLIENT_ID = "fuzz-client"
NONCE = "fuzz-nonce-0123456789"


def jwks_transport(key: SigningKey) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [key.jwk]})
        return httpx.Response(404, json={"error": "not_found"})

    return httpx.MockTransport(answer)


def good_claims() -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": ISSUER, "sub": "user-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
        "nonce": NONCE, "email": "a@example.com",
        "https://aws.amazon.com/tags": {"principal_tags": {"Email": ["a@example.com"]}},
    }  # fmt: skip


class IdTokenTarget:
    name = "id_token"

    def __init__(self) -> None:
        self.key = SigningKey.generate(kid="fuzz-key")
        self.rsa = RSAKey.import_key(self.key.private)
        self.expected = IdTokenExpectations(issuer=ISSUER, client_id=CLIENT_ID)
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=jwks_transport(self.key))

    def seeds(self) -> list[bytes]:
        claims = good_claims()
        header = {"kid": self.key.kid}
        return [
            text_seed(self.key.sign_rs256({}, claims)),
            text_seed(unsigned_token(header, claims)),
            text_seed(hs256_token(header, claims, public_pem(self.key))),
            signed_seed({"kid": self.key.kid, "typ": "JWT"}, claims),
            signed_seed({}, {**claims, "aud": [CLIENT_ID, "other"], "azp": "other"}),
        ]

    def check(self, data: bytes) -> None:
        token = token_from(data, key=self.rsa, kid=self.key.kid)
        jwks = JwksCache(ISSUER + "/jwks")

        async def run() -> None:
            await validate_id_token(
                token, expected=self.expected, nonce=NONCE, jwks=jwks, http=self.http
            )

        with contextlib.suppress(QbizfedError):
            self.loop.run_until_complete(run())
