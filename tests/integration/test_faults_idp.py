"""An IdP that is down, slow or talking garbage: the relying party and the local STS.

``FaultyIdp`` is a real OIDC issuer on 127.0.0.1 (discovery, JWKS, token endpoint)
whose endpoints can each be switched to *slow* (answers after a delay) or *garbage*
(HTML where JSON belongs), and which can be stopped. What must hold:

- the relying party (``qbizfed.identity.oidc``) turns each fault into a qbizfed error
  with a remedy, within its configured timeout (a slow IdP never hangs a login);
- the local STS answers ``IDPCommunicationError`` as AWS does when it cannot fetch the
  issuer's keys, and ``StsFederation`` turns that into ``IdpCommunicationError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from qbizfed.aws.sts import IdpCommunicationError, StsFederation
from qbizfed.errors import QbizfedError
from qbizfed.identity.errors import (
    DiscoveryDocumentError,
    IdpUnreachableError,
    IdTokenError,
    TokenEndpointError,
)
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.identity.oidc import OidcRelyingParty, TokenSet
from qbizfed.local.stack import LocalAws
from qbizfed.settings.oidc import OidcRegistration
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.rp_idp import SigningKey

CLIENT_ID = "faults-client"
EMAIL = "ada@example.com"
GARBAGE = b"<html><body>502 Bad Gateway</body></html>"
TIMEOUT = 0.5


class FaultyIdp:
    """A stoppable loopback OIDC issuer whose endpoints can be made slow or garbage."""

    def __init__(self) -> None:
        self.key = SigningKey.generate(kid="faulty-" + uuid.uuid4().hex[:6])
        self.path = f"/issuer-{uuid.uuid4().hex[:10]}"
        self.faults: dict[str, str] = {}  # endpoint -> "slow" | "garbage"
        self.delay = 3 * TIMEOUT
        self.nonce = ""
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, endpoint: str, body: dict[str, Any]) -> None:
                fault = idp.faults.get(endpoint)
                if fault == "slow":
                    time.sleep(idp.delay)
                data = GARBAGE if fault == "garbage" else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up waiting, as it should
                    self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == idp.path + "/.well-known/openid-configuration":
                    self._answer("discovery", idp.discovery())
                elif self.path == idp.path + "/jwks":
                    self._answer("jwks", {"keys": [idp.key.jwk]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._answer("token", {"access_token": "at", "token_type": "Bearer",
                                       "id_token": idp.token(nonce=idp.nonce)})  # fmt: skip

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    @property
    def host_path(self) -> str:
        return self.url.split("://", 1)[1]

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url, "jwks_uri": self.url + "/jwks",
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
        }  # fmt: skip

    def token(self, *, nonce: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "sub": "user-ada", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
            "email": EMAIL, "https://aws.amazon.com/tags": {"principal_tags": {"Email": [EMAIL]}},
        }  # fmt: skip
        if nonce:
            claims["nonce"] = nonce
        return self.key.sign_rs256({}, claims)

    def stop(self) -> None:
        if self.running:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self.running = False


@pytest.fixture
def idp() -> Iterator[FaultyIdp]:
    server = FaultyIdp()
    yield server
    server.stop()


def settings(idp: FaultyIdp) -> OidcRegistration:
    return OidcRegistration(
        issuer=idp.url, client_id=CLIENT_ID, redirect_uri="http://127.0.0.1:1/cb",
        client_secret="faults-secret", allow_insecure_loopback_http=True,
    )  # fmt: skip


def login(idp: FaultyIdp, *, fault_after_discovery: tuple[str, str] | None = None) -> TokenSet:
    """A whole OIDC login through the relying party, with a client timeout of TIMEOUT."""

    async def main() -> TokenSet:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            rp = await OidcRelyingParty.discover(settings(idp), http=http)
            pending = rp.authorization_request()
            idp.nonce = pending.nonce
            if fault_after_discovery == ("down", "all"):
                idp.stop()
            elif fault_after_discovery:
                idp.faults[fault_after_discovery[1]] = fault_after_discovery[0]
            return await rp.complete(pending, {"state": pending.state, "code": "c-1"})

    return asyncio.run(main())


def test_control_a_healthy_idp_logs_in(idp: FaultyIdp) -> None:
    assert login(idp).identity.email == EMAIL


# -- the relying party -----------------------------------------------------------------

RP_FAULTS = {
    # name: (fault, endpoint, expected error, words the message must carry)
    "idp_down_at_discovery": ("down", "discovery", IdpUnreachableError, "reach"),
    "idp_down_at_code_exchange": ("down", "all", IdpUnreachableError, "token endpoint"),
    "discovery_slow": ("slow", "discovery", IdpUnreachableError, ""),
    "token_endpoint_slow": ("slow", "token", IdpUnreachableError, "token endpoint"),
    "jwks_slow": ("slow", "jwks", IdpUnreachableError, ""),
    "discovery_garbage": ("garbage", "discovery", QbizfedError, ""),
    "token_endpoint_garbage": ("garbage", "token", TokenEndpointError, "token endpoint"),
    "jwks_garbage": ("garbage", "jwks", QbizfedError, ""),
}


@pytest.mark.parametrize(("fault", "endpoint", "error", "says"), list(RP_FAULTS.values()),
                         ids=list(RP_FAULTS))  # fmt: skip
def test_relying_party_turns_idp_faults_into_errors_with_a_remedy(
    idp: FaultyIdp, fault: str, endpoint: str, error: type[QbizfedError], says: str
) -> None:
    after_discovery = None if endpoint == "discovery" else (fault, endpoint)
    if after_discovery is None and fault == "down":
        idp.stop()
    elif after_discovery is None:
        idp.faults["discovery"] = fault
    started = time.monotonic()
    with pytest.raises(error) as failure:
        login(idp, fault_after_discovery=after_discovery)
    elapsed = time.monotonic() - started
    assert failure.value.remedy, "every error says what to do next"
    assert says in failure.value.message
    assert isinstance(failure.value, IdpUnreachableError | DiscoveryDocumentError
                      | TokenEndpointError | IdTokenError)  # fmt: skip
    # A slow IdP costs at most about one client timeout per request, never the IdP's delay.
    assert elapsed < idp.delay + TIMEOUT, f"took {elapsed:.2f}s"
    for secret in ("faults-secret", "c-1"):
        assert secret not in failure.value.diagnostics()


# -- the local STS -------------------------------------------------------------------------


def sts_role(stack: LocalAws, idp: FaultyIdp, iam: Any, name: str) -> str:
    provider = iam.create_open_id_connect_provider(
        Url=idp.url, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    policy = oidc_trust_policy(provider, idp.host_path, CLIENT_ID)
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))
               ["Role"]["Arn"])  # fmt: skip


def identity_of(idp: FaultyIdp, token: str) -> FederatedIdentity:
    return FederatedIdentity(protocol="oidc", email=EMAIL, subject="user-ada", issuer=idp.url,
                             credential=token, session_tags=(("Email", EMAIL),))  # fmt: skip


@pytest.mark.parametrize("fault", ["down", "garbage_discovery", "garbage_jwks"])
def test_local_sts_answers_idp_communication_error(
    local_aws: LocalAws, admin_client: Any, unique_name: str, idp: FaultyIdp, fault: str
) -> None:
    role = sts_role(local_aws, idp, admin_client("iam"), unique_name)
    token = idp.token()
    if fault == "down":
        idp.stop()
    else:
        idp.faults[fault.split("_", 1)[1]] = "garbage"
    sts = StsFederation(endpoint_url=local_aws.url, max_attempts=0)
    with pytest.raises(IdpCommunicationError) as failure:
        sts.assume(identity_of(idp, token), role)
    assert failure.value.code == "IDPCommunicationError"
    assert failure.value.remedy
    assert token not in failure.value.diagnostics()


def test_local_sts_gives_up_on_a_slow_idp_and_says_so(
    local_aws: LocalAws, admin_client: Any, unique_name: str, idp: FaultyIdp
) -> None:
    """AWS STS waits a few seconds for the IdP's keys; the local STS waits 5 s."""
    role = sts_role(local_aws, idp, admin_client("iam"), unique_name)
    idp.delay = 6.0
    idp.faults["jwks"] = "slow"
    sts = StsFederation(endpoint_url=local_aws.url, max_attempts=0)
    started = time.monotonic()
    with pytest.raises(IdpCommunicationError):
        sts.assume(identity_of(idp, idp.token()), role)
    assert time.monotonic() - started < 6.0
