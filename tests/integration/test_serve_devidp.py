"""Full sign-ins through the web broker against qbizfed's dev IdP, over real HTTP.

The STS step is the recording fake here (the web layer is under test); the
end-to-end tests with ``qbizfed local aws`` as STS are in ``test_serve_end_to_end``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret, ServiceProvider
from qbizfed.web.app import create_app
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.peers.flows import browse, login_for_saml
from tests.support.dev_idp_broker import dev_idp_web_settings

CLIENT_ID = "qbizfed-web"
CLIENT_SECRET = "web-secret-0123456789abcdef"
ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
OTHER_ROLE = "arn:aws:iam::123456789012:role/QBizAnalyst"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/qbizfed-dev"


@dataclass
class Broker:
    server: UvicornServer
    idp: DevIdp
    issuer: RecordingIssuer
    idp_calls: list[tuple[str, str, int]]
    """(path, Authorization scheme, status) of every call the broker made to the IdP."""

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    server = UvicornServer()
    base = server.url
    client = OidcClient(
        client_id=CLIENT_ID,
        client_secret=Secret(CLIENT_SECRET),
        redirect_uris=(base + "/auth/oidc/callback",),
        post_logout_redirect_uris=(base + "/signed-out",),
        require_pkce=True,
    )
    sp = ServiceProvider(
        entity_id=base + "/saml", acs_urls=(base + "/saml",), role_arn=ROLE, provider_arn=PROVIDER
    )
    idp = DevIdp(DevIdpSettings(port=0, clients=(client,), service_providers=(sp,))).start()
    settings = dev_idp_web_settings(
        idp,
        base,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        oidc_role_arn=ROLE,
    )
    issuer = RecordingIssuer()
    calls: list[tuple[str, str, int]] = []

    async def record(response: httpx.Response) -> None:
        scheme = response.request.headers.get("authorization", "").split(" ")[0]
        calls.append((response.request.url.path, scheme, response.status_code))

    http = httpx.AsyncClient(timeout=10, event_hooks={"response": [record]})
    server.start(create_app(settings, sts=issuer, http_client=http))
    try:
        yield Broker(server, idp, issuer, calls)
    finally:
        server.stop()
        idp.stop()


def oidc_login(broker: Broker, browser: httpx.Client, username: str = "alice") -> httpx.Response:
    callback = broker.url + "/auth/oidc/callback"
    params = browse(
        browser, broker.url + "/login/oidc", username=username, password="demo", stop_at=callback
    )
    assert isinstance(params, dict), params
    return browser.get(callback, params=params)


def test_oidc_sign_in_lands_on_a_page_saying_who_and_until_when(broker: Broker) -> None:
    with httpx.Client(timeout=10) as browser:
        done = oidc_login(broker, browser)
        assert done.status_code == 303, done.text[:500]
        home = browser.get(broker.url + done.headers["location"])
    assert home.status_code == 200
    assert "alice@example.com" in home.text
    assert re.search(r'id="expires"><time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', home.text)
    kind, identity, role, _ = broker.issuer.calls[-1]
    assert (kind, identity.email, role) == ("oidc", "alice@example.com", ROLE)
    assert identity.issuer == broker.idp.issuer


def test_oidc_sign_in_skips_userinfo_when_the_id_token_carries_name_and_groups(
    broker: Broker,
) -> None:
    """The dev IdP puts name and groups in the ID token (as OIDC Core §5.4 allows), so
    UserInfo would add nothing: one IdP round trip fewer per sign-in. (An ID token
    without them still gets UserInfo: tests/adversarial/test_web_userinfo.py.)"""
    broker.idp_calls.clear()
    with httpx.Client(timeout=10) as browser:
        assert oidc_login(broker, browser).status_code == 303
        home = browser.get(broker.url + "/")
    paths = [path for path, _, _ in broker.idp_calls]
    assert "/oidc/token" in paths  # the recording works
    assert "/oidc/userinfo" not in paths
    assert 'id="name">Alice' in home.text


def test_saml_sign_in_lands_on_a_page_saying_who(broker: Broker) -> None:
    with httpx.Client(timeout=10) as browser:
        post = login_for_saml(browser, broker.url + "/login/saml", username="bob", password="demo")
        assert post.acs_url == broker.url + "/saml"
        import base64

        acs = browser.post(
            post.acs_url,
            data={
                "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
                "RelayState": post.relay_state or "",
            },
        )
        assert acs.status_code == 303, acs.text[:800]
        finish = browser.get(broker.url + acs.headers["location"])
        assert finish.status_code == 303, finish.text[:800]
        home = browser.get(broker.url + finish.headers["location"])
    assert "bob@example.com" in home.text
    kind, identity, role, _ = broker.issuer.calls[-1]
    assert (kind, identity.email, role) == ("saml", "bob@example.com", ROLE)


def test_code_reuse_is_refused_by_the_idp(broker: Broker) -> None:
    """A used code replayed with a fresh state of the same browser: the IdP refuses it."""
    callback = broker.url + "/auth/oidc/callback"
    calls = len(broker.issuer.calls)
    with httpx.Client(timeout=10) as browser:
        first = browse(browser, broker.url + "/login/oidc", username="alice", password="demo",
                       stop_at=callback)  # fmt: skip
        assert isinstance(first, dict)
        assert browser.get(callback, params=first).status_code == 303
        second = browse(browser, broker.url + "/login/oidc", username="alice", password="demo",
                        stop_at=callback)  # fmt: skip
        assert isinstance(second, dict)
        replay = browser.get(callback, params={**second, "code": first["code"]})
    assert replay.status_code == 403
    assert "invalid_grant" in replay.text
    assert len(broker.issuer.calls) == calls + 1


def test_logout_ends_the_dev_idp_session_and_returns(broker: Broker) -> None:
    import re

    with httpx.Client(timeout=10) as browser:
        done = oidc_login(broker, browser)
        assert done.status_code == 303
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(broker.url + "/").text)
        assert token is not None
        out = browser.post(broker.url + "/logout", data={"csrf_token": token.group(1)})
        assert out.status_code == 303
        assert out.headers["location"].startswith(broker.idp.url)
        assert "id_token_hint" not in out.headers["location"]
        back = browser.get(out.headers["location"], follow_redirects=True)
        assert str(back.url).startswith(broker.url + "/signed-out"), back.text[:500]
        assert "alice@example.com" not in browser.get(broker.url + "/").text
