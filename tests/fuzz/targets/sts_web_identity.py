"""Fuzz target: the local STS's web-identity token validation (AssumeRoleWithWebIdentity).

``validate_web_identity_token`` with one registered OIDC provider whose discovery
document and JWKS are served at the httpx seam. Allowed outcome: a web identity or an
:class:`StsRefusalError` (AWS's wire error).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import httpx
from joserfc.jwk import RSAKey

from qbizfed.local.moto_backend import OidcProvider
from qbizfed.local.sts.jwks import JwksCache
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.web_identity import validate_web_identity_token
from tests.fuzz.targets.id_token import CLIENT_ID, ISSUER, good_claims
from tests.fuzz.targets.jwt_inputs import signed_seed, text_seed, token_from
from tests.support.rp_idp import SigningKey, hs256_token, public_pem, unsigned_token

PROVIDER = OidcProvider(
    arn="arn:aws:iam::123456789012:oidc-provider/idp.fuzz.test",
    url="idp.fuzz.test",
    client_ids=(CLIENT_ID,),
    thumbprints=(),
)


class StsWebIdentityTarget:
    name = "sts_web_identity"

    def __init__(self) -> None:
        self.key = SigningKey.generate(kid="fuzz-key")
        self.rsa = RSAKey.import_key(self.key.private)

        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/.well-known/openid-configuration":
                return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"})
            if request.url.path == "/jwks":
                return httpx.Response(200, json={"keys": [self.key.jwk]})
            return httpx.Response(404)

        self.keys = JwksCache(client=httpx.Client(transport=httpx.MockTransport(answer)))

    def seeds(self) -> list[bytes]:
        claims = good_claims()
        header = {"kid": self.key.kid}
        return [
            text_seed(self.key.sign_rs256({}, claims)),
            text_seed(unsigned_token(header, claims)),
            text_seed(hs256_token(header, claims, public_pem(self.key))),
            signed_seed(header, claims),
            signed_seed(header, {**claims, "https://aws.amazon.com/tags": {
                "principal_tags": {"Email": ["a@example.com"], "Dept": ["x"]},
                "transitive_tag_keys": ["Dept"]}}),
        ]  # fmt: skip

    def check(self, data: bytes) -> None:
        token = token_from(data, key=self.rsa, kid=self.key.kid)
        with contextlib.suppress(StsRefusalError):
            validate_web_identity_token(
                token, providers=[PROVIDER], keys=self.keys, now=datetime.now(UTC)
            )
