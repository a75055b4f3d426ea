"""UserInfo in ``serve`` and ``qbizfed login``: called with the access token, trusted for
display only, and refused when it names another user than the ID token.

A loopback IdP advertises ``userinfo_endpoint``; each case sets what it answers. The ID
tokens are genuine (signed by the IdP's published key, right issuer, audience and
nonce), so only the UserInfo checks can refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from qbizfed.creds import cache
from qbizfed.creds.login import login
from qbizfed.identity.errors import UserInfoError
from qbizfed.identity.federated import FederatedIdentity
from tests.adversarial.test_creds_login_attacks import SECRET_ENV, profile_for
from tests.integration.test_serve_harness import RecordingIssuer
from tests.integration.test_serve_pages import Broker, make_broker
from tests.support.rp_idp import LoopbackOidcIdp

ACCESS_TOKEN = "at-0123456789-userinfo-test"


@pytest.fixture
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@pytest.fixture
def broker(idp: LoopbackOidcIdp) -> Iterator[Broker]:
    running = make_broker(idp)
    yield running
    running.server.stop()


def _without_profile(claims: dict[str, Any]) -> dict[str, Any]:
    """An IdP that keeps profile claims out of the ID token (Email tag kept)."""
    return {k: v for k, v in claims.items() if k not in ("name", "preferred_username", "email")}


def sign_in(broker: Broker, client: httpx.Client) -> httpx.Response:
    start = client.get(broker.url + "/login/oidc")
    params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    broker.idp.token_response = {
        "access_token": ACCESS_TOKEN, "token_type": "Bearer",
        "id_token": broker.idp.mint(_without_profile(broker.idp.claims(nonce=params["nonce"]))),
    }  # fmt: skip
    return client.get(broker.url + "/auth/oidc/callback",
                      params={"code": "c", "state": params["state"]})  # fmt: skip


def test_userinfo_gets_the_access_token_as_bearer_and_supplies_the_display_name(
    broker: Broker, idp: LoopbackOidcIdp
) -> None:
    """Control, and the UserInfo behaviour: the name the ID token lacks is shown, while
    the Email tag stays the ID token's even when UserInfo says otherwise."""
    idp.userinfo_response = {"sub": idp.claims()["sub"], "name": "Alice From Userinfo",
                             "email": "mallory@evil.test"}  # fmt: skip
    with httpx.Client(timeout=10) as client:
        done = sign_in(broker, client)
        assert done.status_code == 303, done.text[:1500]
        home = client.get(broker.url + "/")
    assert idp.userinfo_authorizations == [f"Bearer {ACCESS_TOKEN}"]
    assert 'id="name">Alice From Userinfo<' in home.text
    assert 'id="email">alice@example.com<' in home.text
    issuer: RecordingIssuer = broker.issuer
    assert [call[1].email for call in issuer.calls] == ["alice@example.com"]


def test_userinfo_is_not_asked_when_the_id_token_carries_name_and_groups(
    broker: Broker, idp: LoopbackOidcIdp
) -> None:
    """Control: an ID token with ``name`` and ``groups`` leaves UserInfo nothing to add,
    so sign-in does not call it (a UserInfo naming another user is then never seen)."""
    idp.userinfo_response = {"sub": "mallory", "name": "Mallory"}
    with httpx.Client(timeout=10) as client:
        start = client.get(broker.url + "/login/oidc")
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        claims = idp.claims(nonce=params["nonce"], groups=["engineering"])
        idp.token_response = {"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                              "id_token": idp.mint(claims)}  # fmt: skip
        done = client.get(broker.url + "/auth/oidc/callback",
                          params={"code": "c", "state": params["state"]})  # fmt: skip
        assert done.status_code == 303, done.text[:1500]
        home = client.get(broker.url + "/")
    assert idp.userinfo_authorizations == []
    assert 'id="name">Alice Example<' in home.text


@pytest.mark.parametrize(
    ("attack", "answer", "status", "says"),
    [
        ("userinfo_names_another_sub", {"sub": "mallory", "name": "Mallory"}, 200,
         "names another user than the ID token"),
        ("userinfo_without_sub", {"name": "Nobody"}, 200, "names another user"),
        ("userinfo_sub_of_another_type", {"sub": 12345}, 200, "names another user"),
        ("userinfo_not_a_json_object", ["sub"], 200, "did not answer a JSON object"),
        ("userinfo_refuses_the_access_token", {"error": "invalid_token"}, 401,
         "refused the access token"),
    ],
)  # fmt: skip
def test_hostile_userinfo_is_refused_with_403_and_no_sign_in(
    broker: Broker, idp: LoopbackOidcIdp, attack: str, answer: Any, status: int, says: str
) -> None:
    idp.userinfo_response = answer
    idp.userinfo_status = status
    with httpx.Client(timeout=10) as client:
        page = sign_in(broker, client)
        home = client.get(broker.url + "/")
    assert page.status_code == 403, page.text[:1500]
    assert "Sign-in refused" in page.text
    assert says in page.text
    assert broker.issuer.calls == []
    assert 'id="email">' not in home.text


# --- qbizfed login ----------------------------------------------------------------------------


def _login(idp: LoopbackOidcIdp, exchange: Any) -> Any:
    def browser(url: str) -> bool:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        idp.token_response = {
            "id_token": idp.mint(_without_profile(idp.claims(nonce=query["nonce"]))),
            "access_token": ACCESS_TOKEN, "token_type": "Bearer",
        }  # fmt: skip
        back = {"code": "code-1", "state": query["state"]}
        httpx.get(f"{query['redirect_uri']}?{urlencode(back)}", timeout=5)
        return True

    return login(profile_for(idp), announce=lambda _: None, open_browser=browser,
                 exchange=exchange, timeout=10)  # fmt: skip


def test_login_refuses_userinfo_naming_another_user(
    idp: LoopbackOidcIdp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(SECRET_ENV, idp.client_secret)
    idp.userinfo_response = {"sub": "mallory"}

    def never_called(identity: FederatedIdentity, profile: Any) -> Any:
        raise AssertionError("STS must not be called when UserInfo names another user")

    with pytest.raises(UserInfoError) as refused:
        _login(idp, never_called)
    assert refused.value.reason == "userinfo_sub"
    assert "names another user than the ID token" in refused.value.message
    assert idp.userinfo_authorizations == [f"Bearer {ACCESS_TOKEN}"]
    assert cache.load("attacked") is None


def test_login_takes_the_display_name_from_userinfo(
    idp: LoopbackOidcIdp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(SECRET_ENV, idp.client_secret)
    idp.userinfo_response = {"sub": idp.claims()["sub"], "name": "Alice From Userinfo"}
    seen: list[FederatedIdentity] = []

    def exchange(identity: FederatedIdentity, profile: Any) -> Any:
        seen.append(identity)
        raise UserInfoError("stop here: the identity is what this test checks", reason="test")

    with pytest.raises(UserInfoError, match="stop here"):
        _login(idp, exchange)
    assert [(i.display_name, i.email) for i in seen] == [("Alice From Userinfo",
                                                          "alice@example.com")]  # fmt: skip
