"""Hostile OIDC callbacks and ID tokens against the web broker, one named attack per case.

The IdP is a real loopback server (``tests.support.rp_idp.LoopbackOidcIdp``) whose token
endpoint answers whatever token the case mints; the broker runs under uvicorn on loopback. Every
refusal must be an error page that says what to do, with no session created and no
STS call made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.support.rp_idp import (
    LoopbackOidcIdp,
    SigningKey,
    hs256_token,
    public_pem,
    unsigned_token,
)

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@dataclass
class Broker:
    client: httpx.Client
    issuer: RecordingIssuer
    idp: LoopbackOidcIdp

    def start_login(self) -> dict[str, str]:
        """GET /login/oidc; returns the authorization request's parameters."""
        response = self.client.get("/login/oidc")
        assert response.status_code == 302, response.text[:300]
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}

    def answer_with(self, id_token: str) -> None:
        self.idp.token_response = {"access_token": "at", "token_type": "Bearer",
                                   "id_token": id_token}  # fmt: skip

    def callback(self, **params: str) -> httpx.Response:
        return self.client.get("/auth/oidc/callback", params=params)


@pytest.fixture(scope="module")
def served(idp: LoopbackOidcIdp) -> Iterator[tuple[str, RecordingIssuer]]:
    server = UvicornServer()
    settings = WebSettings(
        oidc=OidcRegistration(
            issuer=idp.issuer,
            client_id=idp.client_id,
            client_secret=idp.client_secret,
            redirect_uri=server.url + "/auth/oidc/callback",
            role_arn=ROLE,
            allow_insecure_loopback_http=True,
        ),
    )
    issuer = RecordingIssuer()
    server.start(create_app(settings, sts=issuer))
    yield server.url, issuer
    server.stop()


@pytest.fixture
def broker(idp: LoopbackOidcIdp, served: tuple[str, RecordingIssuer]) -> Iterator[Broker]:
    """A fresh browser (cookie jar) against the shared broker."""
    base, issuer = served
    issuer.calls.clear()
    with httpx.Client(base_url=base, timeout=10) as client:
        yield Broker(client, issuer, idp)


def refused(response: httpx.Response, *, says: str) -> None:
    assert response.status_code in (400, 401, 403), response.status_code
    assert says in response.text, response.text[:1500]
    assert 'id="error-remedy"' in response.text


def test_a_genuine_login_succeeds(broker: Broker) -> None:
    """The control case: without it, every refusal below could be a broken setup."""
    params = broker.start_login()
    broker.answer_with(broker.idp.mint(broker.idp.claims(nonce=params["nonce"])))
    done = broker.callback(code="c1", state=params["state"])
    assert done.status_code == 303, done.text[:800]
    assert broker.client.get("/").text.count("alice@example.com") >= 1
    assert len(broker.issuer.calls) == 1


# --- the callback itself -----------------------------------------------------------------

def test_missing_state_is_refused(broker: Broker) -> None:
    broker.start_login()
    refused(broker.callback(code="c1"), says="carries no state")


def test_wrong_state_is_refused(broker: Broker) -> None:
    broker.start_login()
    refused(broker.callback(code="c1", state="forged-state-value"), says="unknown, expired")


def test_callback_replay_reusing_the_code_is_refused(broker: Broker) -> None:
    params = broker.start_login()
    broker.answer_with(broker.idp.mint(broker.idp.claims(nonce=params["nonce"])))
    assert broker.callback(code="c1", state=params["state"]).status_code == 303
    refused(broker.callback(code="c1", state=params["state"]), says="already used")
    assert len(broker.issuer.calls) == 1


def test_login_csrf_with_a_state_from_another_browser_is_refused(
    broker: Broker, idp: LoopbackOidcIdp
) -> None:
    attacker_params = broker.start_login()  # the attacker's own login ...
    broker.answer_with(idp.mint(idp.claims(nonce=attacker_params["nonce"], email="eve@evil.test")))
    with httpx.Client(base_url=str(broker.client.base_url), timeout=10) as victim:
        # ... completed in the victim's browser, which has no (or another) session.
        response = victim.get(
            "/auth/oidc/callback", params={"code": "c1", "state": attacker_params["state"]}
        )
    refused(response, says="another browser")
    assert broker.issuer.calls == []


def test_idp_error_response_is_shown_without_signing_in(broker: Broker) -> None:
    params = broker.start_login()
    response = broker.callback(state=params["state"], error="access_denied",
                               error_description="user not assigned")  # fmt: skip
    refused(response, says="access_denied")


# --- the ID token --------------------------------------------------------------------------

OTHER_KEY = SigningKey.generate()
TokenFactory = Callable[[LoopbackOidcIdp, str], str]


def _claims(idp: LoopbackOidcIdp, nonce: str, **changes: Any) -> dict[str, Any]:
    return idp.claims(nonce=nonce, **changes)


NOW = int(time.time())
ATTACKS: list[tuple[str, TokenFactory, str]] = [
    ("forged_signature_other_key_same_kid",
     lambda idp, n: OTHER_KEY.sign_rs256({"kid": idp.key.kid}, _claims(idp, n)),
     "signature is invalid"),
    ("alg_none_unsigned_token",
     lambda idp, n: unsigned_token({"kid": idp.key.kid}, _claims(idp, n)),
     "algorithm"),
    ("hs256_key_confusion_with_public_key",
     lambda idp, n: hs256_token({"kid": idp.key.kid}, _claims(idp, n), public_pem(idp.key)),
     "algorithm"),
    ("wrong_audience",
     lambda idp, n: idp.mint(_claims(idp, n, aud="another-client")),
     "not meant for client"),
    ("extra_audience_without_azp",
     lambda idp, n: idp.mint(_claims(idp, n, aud=[idp.client_id, "another-client"])),
     "azp"),
    ("expired_token",
     lambda idp, n: idp.mint(_claims(idp, n, iat=NOW - 7200, exp=NOW - 3600)),
     "expired"),
    ("nonce_replay_from_an_earlier_login",
     lambda idp, n: idp.mint(_claims(idp, "nonce-of-an-earlier-login")),
     "nonce does not match"),
    ("nonce_missing",
     lambda idp, n: idp.mint(idp.claims(nonce=None)),
     "nonce"),
    ("wrong_issuer",
     lambda idp, n: idp.mint(_claims(idp, n, iss="https://evil.test")),
     "issued by"),
    ("unknown_kid",
     lambda idp, n: OTHER_KEY.sign_rs256({"kid": "not-published"}, _claims(idp, n)),
     "does not publish"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("attack", "token", "says"), ATTACKS, ids=[a for a, _, _ in ATTACKS]
)
def test_hostile_id_token_is_refused(
    broker: Broker, attack: str, token: TokenFactory, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    params = broker.start_login()
    raw = token(broker.idp, params["nonce"])
    broker.answer_with(raw)
    response = broker.callback(code="c1", state=params["state"])
    refused(response, says=says)
    assert raw not in response.text
    assert "refused GET /auth/oidc/callback" in caplog.text  # the refusal is logged ...
    assert raw.split(".")[1] not in caplog.text  # ... without the token
    assert broker.issuer.calls == []
    assert "alice@example.com" not in broker.client.get("/").text


def test_token_without_the_aws_email_tag_gets_a_page_naming_the_idp_setting(
    broker: Broker,
) -> None:
    params = broker.start_login()
    claims = broker.idp.claims(nonce=params["nonce"])
    del claims["https://aws.amazon.com/tags"]
    broker.answer_with(broker.idp.mint(claims))
    response = broker.callback(code="c1", state=params["state"])
    refused(response, says="https://aws.amazon.com/tags")
    assert "Okta" in response.text
    assert broker.issuer.calls == []


@pytest.mark.parametrize(
    ("attack", "target"),
    [
        ("absolute_url_in_next", "https://evil.test/"),
        ("protocol_relative_next", "//evil.test/x"),
        ("backslash_next", "/\\evil.test"),
    ],
)
def test_open_redirect_via_next_parameter_is_refused(
    broker: Broker, attack: str, target: str
) -> None:
    response = broker.client.get("/login/oidc", params={"next": target})
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    broker.answer_with(broker.idp.mint(broker.idp.claims(nonce=params["nonce"])))
    done = broker.callback(code="c1", state=params["state"])
    assert done.status_code == 303
    assert done.headers["location"] == "/"


def test_a_local_next_path_is_honoured(broker: Broker) -> None:
    response = broker.client.get("/login/oidc", params={"next": "/credentials"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    broker.answer_with(broker.idp.mint(broker.idp.claims(nonce=params["nonce"])))
    done = broker.callback(code="c1", state=params["state"])
    assert done.headers["location"] == "/credentials"


def test_markup_in_claims_is_rendered_inert(broker: Broker) -> None:
    """Stored XSS via IdP-controlled claims (name, email) must come out escaped."""
    params = broker.start_login()
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    claims = broker.idp.claims(nonce=params["nonce"], email="x@example.com", name=evil)
    broker.answer_with(broker.idp.mint(claims))
    assert broker.callback(code="c1", state=params["state"]).status_code == 303
    page = broker.client.get("/").text
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
