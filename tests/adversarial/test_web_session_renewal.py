"""Credential renewal in ``serve``: a refreshed ID token must be the same login's.

A loopback IdP answers the refresh grant with a genuine ID token (signed by its
published key, right issuer and audience, fresh) that differs from the sign-in in one
respect only; OIDC Core §12.2 refuses each, and the session ends instead of renewing:
the next page is the sign-in page and STS is never asked for the other identity.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.integration.test_serve_pages import ROLE
from tests.support.rp_idp import LoopbackOidcIdp

AUTH_TIME = 1_700_000_000


@pytest.fixture
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


def _broker(idp: LoopbackOidcIdp, issuer: RecordingIssuer) -> UvicornServer:
    server = UvicornServer()
    settings = WebSettings(oidc=OidcRegistration(
        issuer=idp.issuer, client_id=idp.client_id, client_secret=idp.client_secret,
        redirect_uri=server.url + "/auth/oidc/callback", role_arn=ROLE,
        allow_insecure_loopback_http=True,
    ))  # fmt: skip
    return server.start(create_app(settings, sts=issuer))


@pytest.mark.parametrize(
    ("attack", "changed", "reason"),
    [
        ("renewed_id_token_for_another_sub", {"sub": "user-mallory"}, "IdTokenError (sub)"),
        ("renewed_id_token_with_another_nonce", {"nonce": "n-other"}, "IdTokenError (nonce)"),
        ("renewed_id_token_with_another_auth_time", {"auth_time": AUTH_TIME + 60},
         "IdTokenError (auth_time)"),
    ],
)  # fmt: skip
def test_a_renewal_naming_another_login_ends_the_session(
    idp: LoopbackOidcIdp, caplog: pytest.LogCaptureFixture, attack: str,
    changed: dict[str, Any], reason: str,
) -> None:  # fmt: skip
    issuer = RecordingIssuer(lifetime=timedelta(minutes=2))  # inside renew_before: due now
    server = _broker(idp, issuer)
    try:
        with httpx.Client(timeout=10) as browser:
            start = browser.get(server.url + "/login/oidc?next=/credentials")
            location = urlsplit(start.headers["location"])
            query = {k: v[0] for k, v in parse_qs(location.query).items()}
            idp.token_response = {
                "access_token": "at-1", "refresh_token": "rt-1",
                "id_token": idp.mint(idp.claims(nonce=query["nonce"], auth_time=AUTH_TIME)),
            }  # fmt: skip
            done = browser.get(server.url + "/auth/oidc/callback",
                               params={"code": "c", "state": query["state"]})  # fmt: skip
            assert done.status_code == 303, done.text[:1000]
            # Control: the same login's refreshed token (no nonce, same auth_time) renews.
            idp.token_response = {
                "access_token": "at-2", "refresh_token": "rt-2",
                "id_token": idp.mint(idp.claims(nonce=None, auth_time=AUTH_TIME)),
            }  # fmt: skip
            assert browser.get(server.url + "/credentials").status_code == 200
            assert len(issuer.calls) == 2
            assert idp.token_requests[-1].form["refresh_token"] == "rt-1"
            hostile = {**idp.claims(nonce=None, auth_time=AUTH_TIME), **changed}
            idp.token_response = {
                "access_token": "at-3", "refresh_token": "rt-3", "id_token": idp.mint(hostile),
            }  # fmt: skip
            refused = browser.get(server.url + "/credentials")
            assert idp.token_requests[-1].form["refresh_token"] == "rt-2"  # rotated, stored
            again = browser.get(server.url + "/credentials")
    finally:
        server.stop()
    assert refused.status_code == 303, attack
    assert refused.headers["location"].startswith("/signin")
    assert again.headers["location"].startswith("/signin")  # the session is gone
    assert len(issuer.calls) == 2  # STS never saw the hostile token
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"credential renewal refused: email=alice@example.com {reason}" in logged
    for token in ("rt-1", "rt-2", "rt-3"):
        assert token not in logged
