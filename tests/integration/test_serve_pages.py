"""The broker's pages and their safety properties, over real HTTP on loopback.

Signed-in sessions come from real logins against a loopback IdP
(``tests.support.rp_idp.LoopbackOidcIdp``); STS is the recording fake at its seam
except where a test is about the STS call itself.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.datastructures import Secret

from qbizfed.aws.sts import StsFederation, TagSessionNotAllowedError
from qbizfed.web.app import create_app
from qbizfed.web.settings import EndSessionMethod, OidcSettings, WebSettings
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.support.rp_idp import LoopbackOidcIdp

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
TEMPLATES = Path(__file__).parents[2] / "src" / "qbizfed" / "web" / "templates"


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@dataclass
class Broker:
    server: UvicornServer
    idp: LoopbackOidcIdp
    issuer: Any

    @property
    def url(self) -> str:
        return self.server.url

    def sign_in(self, client: httpx.Client, *, email: str = "alice@example.com") -> httpx.Response:
        start = client.get(self.url + "/login/oidc")
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        self.idp.token_response = {
            "access_token": "at", "token_type": "Bearer",
            "id_token": self.idp.mint(self.idp.claims(nonce=params["nonce"], email=email)),
        }  # fmt: skip
        done = client.get(self.url + "/auth/oidc/callback",
                          params={"code": "c", "state": params["state"]})  # fmt: skip
        assert done.status_code == 303, done.text[:1500]
        return done


def make_broker(
    idp: LoopbackOidcIdp,
    *,
    issuer: Any = None,
    end_session_method: EndSessionMethod = "redirect",
    public_url: str | None = None,
    oidc_issuer: str | None = None,
) -> Broker:
    server = UvicornServer()
    settings = WebSettings(
        oidc=OidcSettings(
            issuer=oidc_issuer or idp.issuer,
            client_id=idp.client_id,
            client_secret=Secret(idp.client_secret),
            redirect_uri=server.url + "/auth/oidc/callback",
            role_arn=ROLE,
            logout_redirect_uri=server.url + "/signed-out",
            end_session_method=end_session_method,
            allow_insecure_loopback_http=True,
        ),
        public_url=public_url,
    )
    issuer = issuer or RecordingIssuer()
    server.start(create_app(settings, sts=issuer))
    return Broker(server, idp, issuer)


@pytest.fixture
def broker(idp: LoopbackOidcIdp) -> Iterator[Broker]:
    running = make_broker(idp)
    yield running
    running.server.stop()


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


# --- headers and cookies ----------------------------------------------------------------------

def test_pages_carry_security_headers_and_are_not_stored(
    broker: Broker, browser: httpx.Client
) -> None:
    broker.sign_in(browser)
    for path in ("/", "/credentials", "/signin"):
        response = browser.get(broker.url + path)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    static = browser.get(broker.url + "/static/app.js")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")


def test_templates_have_no_inline_scripts_styles_or_handlers() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
        assert "style=" not in text, template.name
        assert "<style" not in text, template.name


def test_session_cookie_is_httponly_lax_and_rotated_at_login(
    broker: Broker, browser: httpx.Client
) -> None:
    first = browser.get(broker.url + "/login/oidc")
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain-http loopback deployment
    before = browser.cookies["qbizfed_session"]
    broker.sign_in(browser)
    after = browser.cookies["qbizfed_session"]
    assert after != before
    with httpx.Client(timeout=10, cookies={"qbizfed_session": before}) as fixated:
        assert "alice@example.com" not in fixated.get(broker.url + "/").text


def test_https_deployment_gets_secure_host_prefixed_cookie_and_hsts(idp: LoopbackOidcIdp) -> None:
    running = make_broker(idp, public_url="https://broker.example.com")
    try:
        response = httpx.get(running.url + "/login/oidc")
        assert response.headers["set-cookie"].startswith("__Host-qbizfed=")
        assert "Secure" in response.headers["set-cookie"]
        assert "max-age" in response.headers["strict-transport-security"]
    finally:
        running.server.stop()


def test_untrusted_host_header_is_refused(broker: Broker) -> None:
    response = httpx.get(broker.url + "/", headers={"Host": "evil.test"})
    assert response.status_code == 400


# --- pages -------------------------------------------------------------------------------------

def test_sign_in_page_offers_what_is_configured(broker: Broker, browser: httpx.Client) -> None:
    page = browser.get(broker.url + "/")
    assert 'id="login-oidc"' in page.text
    assert 'id="login-saml"' not in page.text


def test_credentials_are_masked_until_revealed_by_a_csrf_protected_post(
    broker: Broker, browser: httpx.Client
) -> None:
    broker.sign_in(browser)
    page = browser.get(broker.url + "/credentials")
    secret = "fake-secret-"
    assert secret not in page.text
    assert "fake-session-token" not in page.text
    assert "ASIA" in page.text  # a hint of which key it is
    assert browser.post(broker.url + "/credentials").status_code == 400
    revealed = browser.post(broker.url + "/credentials", data={"csrf_token": csrf_of(page)})
    assert secret in revealed.text
    assert "export AWS_SESSION_TOKEN=" in revealed.text
    assert "[qbizfed-alice]" in revealed.text
    assert revealed.headers["cache-control"] == "no-store"


def test_credential_process_json_needs_the_csrf_header(
    broker: Broker, browser: httpx.Client
) -> None:
    broker.sign_in(browser)
    token = csrf_of(browser.get(broker.url + "/credentials"))
    url = broker.url + "/credentials/credential-process"
    assert browser.post(url).status_code == 400
    answer = browser.post(url, headers={"X-CSRF-Token": token}).json()
    assert answer["Version"] == 1
    assert answer["AccessKeyId"].startswith("ASIA")


def test_cross_site_post_is_refused_even_with_the_token(
    broker: Broker, browser: httpx.Client
) -> None:
    broker.sign_in(browser)
    token = csrf_of(browser.get(broker.url + "/credentials"))
    response = browser.post(broker.url + "/logout", data={"csrf_token": token},
                            headers={"Origin": "https://evil.test"})  # fmt: skip
    assert response.status_code == 400
    assert "another site" in response.text
    assert "alice@example.com" in browser.get(broker.url + "/").text


def test_session_ends_when_the_credentials_expire(idp: LoopbackOidcIdp) -> None:
    running = make_broker(idp, issuer=RecordingIssuer(lifetime=timedelta(seconds=1)))
    try:
        with httpx.Client(timeout=10) as client:
            running.sign_in(client)
            assert "alice@example.com" in client.get(running.url + "/").text
            time.sleep(1.2)
            assert "alice@example.com" not in client.get(running.url + "/").text
    finally:
        running.server.stop()


# --- logout ------------------------------------------------------------------------------------

def test_logout_clears_the_session_and_ends_the_idp_session_without_the_token_in_the_url(
    broker: Broker, browser: httpx.Client
) -> None:
    broker.sign_in(browser)
    old_cookie = browser.cookies["qbizfed_session"]
    token = csrf_of(browser.get(broker.url + "/"))
    response = browser.post(broker.url + "/logout", data={"csrf_token": token})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(broker.idp.base_url + "/session/end?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [broker.idp.client_id]
    assert query["post_logout_redirect_uri"] == [broker.url + "/signed-out"]
    assert "id_token_hint" not in query
    assert "eyJ" not in location
    with httpx.Client(timeout=10, cookies={"qbizfed_session": old_cookie}) as replay:
        assert "alice@example.com" not in replay.get(broker.url + "/").text


def test_logout_by_post_sends_the_id_token_hint_in_a_form_not_a_url(idp: LoopbackOidcIdp) -> None:
    running = make_broker(idp, end_session_method="post")
    try:
        with httpx.Client(timeout=10) as client:
            running.sign_in(client)
            token = csrf_of(client.get(running.url + "/"))
            page = client.post(running.url + "/logout", data={"csrf_token": token})
        assert page.status_code == 200
        assert f'action="{idp.base_url}/session/end"' in page.text
        assert 'name="id_token_hint" value="eyJ' in page.text
        assert 'data-autosubmit="true"' in page.text
        assert page.headers["cache-control"] == "no-store"
    finally:
        running.server.stop()


def test_logout_without_csrf_token_is_refused(broker: Broker, browser: httpx.Client) -> None:
    broker.sign_in(browser)
    assert browser.post(broker.url + "/logout").status_code == 400
    assert "alice@example.com" in browser.get(broker.url + "/").text


# --- error pages -------------------------------------------------------------------------------

def test_unreachable_idp_gets_a_page_saying_so(idp: LoopbackOidcIdp) -> None:
    running = make_broker(idp, oidc_issuer="http://127.0.0.1:9")  # discard port: refused
    try:
        page = httpx.get(running.url + "/login/oidc")
        assert page.status_code == 503
        assert page.headers["retry-after"] == "30"
        assert "could not be reached" in page.text
        assert 'id="error-remedy"' in page.text
    finally:
        running.server.stop()


def test_sts_access_denied_page_names_the_probable_cause(idp: LoopbackOidcIdp) -> None:
    denied = TagSessionNotAllowedError(
        "STS refused QBizWeb (AccessDenied: not authorized to perform: sts:TagSession)",
        code="AccessDenied",
        remedy="the role's trust policy lacks sts:TagSession: add it",
    )
    running = make_broker(idp, issuer=RecordingIssuer(error=denied))
    try:
        with httpx.Client(timeout=10) as client:
            start = client.get(running.url + "/login/oidc")
            query = parse_qs(urlsplit(start.headers["location"]).query)
            params = {k: v[0] for k, v in query.items()}
            idp.token_response = {
                "access_token": "a", "token_type": "Bearer",
                "id_token": idp.mint(idp.claims(nonce=params["nonce"])),
            }  # fmt: skip
            page = client.get(running.url + "/auth/oidc/callback",
                              params={"code": "c", "state": params["state"]})  # fmt: skip
        assert page.status_code == 403
        assert "lacks sts:TagSession" in page.text
    finally:
        running.server.stop()


# --- the event loop stays free -----------------------------------------------------------------

class SlowStsClient:
    """A boto3-like STS client that blocks its thread for ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def assume_role_with_web_identity(self, **params: Any) -> dict[str, Any]:
        time.sleep(self.delay)
        return {
            "Credentials": {
                "AccessKeyId": "ASIASLOWSLOWSLOWSLOW", "SecretAccessKey": "s" * 40,
                "SessionToken": "t" * 80, "Expiration": datetime.now(UTC) + timedelta(hours=1),
            },
            "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/QBizWeb/x"},
        }  # fmt: skip


def test_a_slow_sts_call_does_not_stall_other_users(idp: LoopbackOidcIdp) -> None:
    issuer = ThreadPoolStsIssuer(region="us-east-1",
                                 federation=StsFederation(client=SlowStsClient(1.0)))  # fmt: skip
    running = make_broker(idp, issuer=issuer)
    try:
        finished: list[float] = []

        def slow_login() -> None:
            with httpx.Client(timeout=10) as client:
                running.sign_in(client)
                finished.append(time.monotonic())

        login = threading.Thread(target=slow_login)
        login.start()
        time.sleep(0.3)  # the login is now inside the STS call
        started = time.monotonic()
        assert httpx.get(running.url + "/healthz").status_code == 200
        assert time.monotonic() - started < 0.3
        assert not finished, "the login should still be waiting for STS"
        login.join(timeout=10)
        assert finished
    finally:
        running.server.stop()


class SlowTokenEndpointIdp(LoopbackOidcIdp):
    """The loopback IdP whose token endpoint takes ``delay`` seconds to answer."""

    delay = 0.6  # read twice per token request

    @property
    def token_response(self) -> dict[str, Any] | None:
        answer = self.__dict__.get("_answer")
        if answer is not None and threading.current_thread() is not threading.main_thread():
            time.sleep(self.delay)  # only the IdP's handler thread waits
        return answer

    @token_response.setter
    def token_response(self, value: dict[str, Any] | None) -> None:
        self.__dict__["_answer"] = value


def test_a_slow_idp_does_not_stall_other_users() -> None:
    slow_idp = SlowTokenEndpointIdp().start()
    running = make_broker(slow_idp)
    try:
        finished: list[float] = []

        def slow_login() -> None:
            with httpx.Client(timeout=10) as client:
                running.sign_in(client)
                finished.append(time.monotonic())

        login = threading.Thread(target=slow_login)
        login.start()
        time.sleep(0.4)  # the broker now awaits the IdP's token endpoint
        started = time.monotonic()
        with httpx.Client(timeout=10) as other_user:
            assert other_user.get(running.url + "/").status_code == 200
            assert other_user.get(running.url + "/login/oidc").status_code == 302
        assert time.monotonic() - started < 0.3
        assert not finished, "the slow login should still be waiting for the IdP"
        login.join(timeout=10)
        assert finished
    finally:
        running.server.stop()
        slow_idp.stop()


def test_an_unexpected_error_gets_a_generic_page_with_headers_and_a_clean_log(
    idp: LoopbackOidcIdp, caplog: pytest.LogCaptureFixture
) -> None:
    leaky = RuntimeError("boom with eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln inside")
    running = make_broker(idp, issuer=RecordingIssuer(error=leaky))
    try:
        with httpx.Client(timeout=10) as client:
            start = client.get(running.url + "/login/oidc")
            query = parse_qs(urlsplit(start.headers["location"]).query)
            params = {k: v[0] for k, v in query.items()}
            idp.token_response = {
                "access_token": "a", "token_type": "Bearer",
                "id_token": idp.mint(idp.claims(nonce=params["nonce"])),
            }  # fmt: skip
            page = client.get(running.url + "/auth/oidc/callback",
                              params={"code": "c", "state": params["state"]})  # fmt: skip
        assert page.status_code == 500
        assert "Something went wrong" in page.text
        assert "eyJ" not in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "eyJ" not in caplog.text
        assert "RuntimeError" in caplog.text
    finally:
        running.server.stop()


def test_paths_of_an_unconfigured_protocol_do_not_exist(broker: Broker) -> None:
    for path in ("/login/saml", "/saml/metadata"):
        response = httpx.get(broker.url + path)
        assert response.status_code == 404
        assert "Not found" in response.text
    assert httpx.post(broker.url + "/saml", data={"SAMLResponse": "x"}).status_code == 404
