"""Web attacks the other catalogue files do not cover, each case named after its attack.

The broker runs under uvicorn on loopback with a loopback IdP (real OIDC logins) and
the recording STS at its seam. Covered here: CSRF on *every* state-changing POST of
the app (the route table is read from the app, so a new POST route without a case
fails), session fixation, open redirects at sign-out, markup in error messages and
unknown paths, framing (clickjacking) and security headers on every kind of
response, cookie flags, and hostile model answers and citations (the chat pages'
renderer).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import lxml.html
import pytest
from starlette.routing import Route

from qbizfed.aws.chat import Citation
from qbizfed.settings.chat import ChatSettings
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.chat_rendering import render_answer, source_views
from qbizfed.web.routes_chat import install_chat
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.support.rp_idp import LoopbackOidcIdp

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
COOKIE = "qbizfed_session"
EVIL = "https://evil.test/phish"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class RecordingQBusiness:
    """Stands in for the boto3 qbusiness client: records any use, answers nothing."""

    def __init__(self, calls: list[str]) -> None:
        self._calls = calls

    def __getattr__(self, name: str) -> object:
        self._calls.append(name)
        raise AssertionError(f"Q Business was called ({name}) by a request that must be refused")


@dataclass
class Broker:
    url: str
    idp: LoopbackOidcIdp
    issuer: RecordingIssuer
    app_post_paths: frozenset[str]
    qbusiness_calls: list[str]

    def sign_in(self, browser: httpx.Client) -> httpx.Response:
        start = browser.get(self.url + "/login/oidc")
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        self.idp.token_response = {"access_token": "at", "token_type": "Bearer",
                                   "id_token": self.idp.mint(self.idp.claims(
                                       nonce=params["nonce"]))}  # fmt: skip
        done = browser.get(self.url + "/auth/oidc/callback",
                           params={"code": "c", "state": params["state"]})  # fmt: skip
        assert done.status_code == 303, done.text[:800]
        return done

    def csrf_token(self, browser: httpx.Client) -> str:
        found = CSRF_FIELD.search(browser.get(self.url + "/credentials").text)
        assert found, "the credentials page carries the CSRF token"
        return found.group(1)


def post_paths(routes: Iterable[object]) -> Iterator[str]:
    """Every POST path, walking into included routers (FastAPI wraps them)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from post_paths(included.routes)
        elif isinstance(route, Route) and route.methods and "POST" in route.methods:
            yield route.path


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    idp = LoopbackOidcIdp().start()
    server = UvicornServer()
    settings = WebSettings(oidc=OidcRegistration(
        issuer=idp.issuer, client_id=idp.client_id, client_secret=idp.client_secret,
        redirect_uri=server.url + "/auth/oidc/callback", role_arn=ROLE,
        allow_insecure_loopback_http=True))  # fmt: skip
    issuer = RecordingIssuer()
    app = create_app(settings, sts=issuer)
    qbusiness_calls: list[str] = []
    install_chat(
        app,
        settings=ChatSettings(application_id=APPLICATION_ID).check(),
        qbusiness=lambda _credentials: RecordingQBusiness(qbusiness_calls),
    )
    posts = frozenset(post_paths(app.routes))
    server.start(app)
    yield Broker(server.url, idp, issuer, posts, qbusiness_calls)
    server.stop()
    idp.stop()


@pytest.fixture
def browser(broker: Broker) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


# --- CSRF on every POST ---------------------------------------------------------------

# Every POST route of the app, with how it resists cross-site requests. A route added
# without an entry here fails test_every_post_route_is_in_the_csrf_table.
CSRF_PROTECTED_POSTS = (
    "/credentials",
    "/credentials/credential-process",
    "/logout",
    "/chat",
    "/chat/stream",
    "/chat/{conversation_id}/delete",
    "/chat/{conversation_id}/feedback",
    "/chat/{conversation_id}/attachments/{attachment_id}/delete",
)
CONVERSATION_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
ATTACHMENT_ID = "6b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
APPLICATION_ID = "5a1c7e0e-3f0b-4c53-9d0a-2b7f6f0d1e11"
POSTS_DEFENDED_OTHERWISE = {
    # The SAML ACS receives a cross-site POST from the IdP by design; it is bound to the
    # browser by InResponseTo (tests/adversarial/test_web_saml_refusals.py:
    # test_login_csrf_posting_an_attackers_response_in_the_victims_browser_is_refused).
    "/saml": "InResponseTo bound to this browser's session",
    # Choosing a SAML role carries the CSRF token
    # (test_web_saml_refusals.py::test_forged_role_choice_is_refused, case
    # role_choice_without_csrf_token).
    "/saml/choose-role": "CSRF token (tested with SAML configured)",
}


def test_every_post_route_is_in_the_csrf_table(broker: Broker) -> None:
    assert broker.app_post_paths == set(CSRF_PROTECTED_POSTS) | set(POSTS_DEFENDED_OTHERWISE)


STALE_TOKEN = "the form's security token is missing or stale"
CSRF_ATTACKS = {  # (form, headers, what the refusal page says)
    "csrf_no_token": ({}, {}, STALE_TOKEN),
    "csrf_wrong_token": ({"csrf_token": "forged-token-0123456789"}, {}, STALE_TOKEN),
    "csrf_cross_site_origin_with_the_real_token": ({"csrf_token": "<real>"},
                                                   {"Origin": "https://evil.test"},
                                                   "this form was submitted from another site"),
    "csrf_token_in_query_not_form": ({}, {}, STALE_TOKEN),
}  # fmt: skip


@pytest.mark.parametrize("path", CSRF_PROTECTED_POSTS)
@pytest.mark.parametrize("attack", list(CSRF_ATTACKS))
def test_csrf_on_every_post_is_refused(
    broker: Broker, browser: httpx.Client, path: str, attack: str
) -> None:
    broker.sign_in(browser)
    token = broker.csrf_token(browser)
    broker.qbusiness_calls.clear()
    form, headers, says = CSRF_ATTACKS[attack]
    form = {k: (token if v == "<real>" else v) for k, v in form.items()}
    form |= {"message": "hello", "message_id": CONVERSATION_ID, "usefulness": "USEFUL"}
    params = {"csrf_token": token} if attack == "csrf_token_in_query_not_form" else None
    url = broker.url + path.format(conversation_id=CONVERSATION_ID, attachment_id=ATTACHMENT_ID)
    response = browser.post(url, data=form, headers=headers, params=params)
    assert response.status_code in (400, 403), (response.status_code, response.text[:500])
    assert says in html.unescape(response.text), response.text[:1500]
    assert "fake-secret-" not in response.text
    assert "fake-session-token" not in response.text
    assert "SecretAccessKey" not in response.text
    # Nothing happened: no Q Business call, and the session is still signed in.
    assert broker.qbusiness_calls == []
    assert "alice@example.com" in browser.get(broker.url + "/").text


# --- session fixation ------------------------------------------------------------------


def session_cookie_set_by(response: httpx.Response) -> str | None:
    for name, value in response.headers.multi_items():
        if name == "set-cookie" and value.startswith(COOKIE + "="):
            return value.split(";", 1)[0].split("=", 1)[1].strip('"')
    return None


def test_session_fixation_an_attacker_planted_cookie_is_not_signed_in(
    broker: Broker, browser: httpx.Client
) -> None:
    planted = "attacker-chosen-session-id-0123456789abcdef"
    browser.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/")
    done = broker.sign_in(browser)
    assert session_cookie_set_by(done) not in (None, planted)
    with httpx.Client() as attacker:
        attacker.cookies.set(COOKIE, planted)
        assert "alice@example.com" not in attacker.get(broker.url + "/").text


def test_session_fixation_an_anonymous_session_id_is_replaced_at_login(
    broker: Broker, browser: httpx.Client
) -> None:
    before = session_cookie_set_by(browser.get(broker.url + "/login/oidc"))
    assert before
    after = session_cookie_set_by(broker.sign_in(browser))
    assert after
    assert after != before
    with httpx.Client() as attacker:  # who learnt the pre-login id gets nothing
        attacker.cookies.set(COOKIE, before)
        assert "alice@example.com" not in attacker.get(broker.url + "/").text


# --- open redirects at sign-out ---------------------------------------------------------

LOGOUT_REDIRECTS = {
    "open_redirect_after_logout_via_post_logout_redirect_uri": {"post_logout_redirect_uri": EVIL},
    "open_redirect_after_logout_via_next": {"next": EVIL},
    "open_redirect_after_logout_via_redirect_uri": {"redirect_uri": EVIL},
}


@pytest.mark.parametrize("fields", list(LOGOUT_REDIRECTS.values()), ids=list(LOGOUT_REDIRECTS))
def test_open_redirect_at_logout_is_ignored(
    broker: Broker, browser: httpx.Client, fields: dict[str, str]
) -> None:
    broker.sign_in(browser)
    token = broker.csrf_token(browser)
    response = browser.post(broker.url + "/logout", data={"csrf_token": token, **fields},
                            params=fields)  # fmt: skip
    assert response.status_code in (200, 303)
    location = response.headers.get("location", "")
    assert "evil.test" not in location
    assert "evil.test" not in response.text


# --- markup in what the broker echoes -----------------------------------------------------

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def assert_inert(response: httpx.Response) -> None:
    assert "<script>alert" not in response.text
    assert "onerror=alert" not in response.text or "&lt;img" in response.text
    assert "<img src=x" not in response.text


def test_xss_through_the_idps_error_description_is_escaped(
    broker: Broker, browser: httpx.Client
) -> None:
    start = browser.get(broker.url + "/login/oidc")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    hostile = {"state": state, "error": "access_denied" + MARKUP, "error_description": MARKUP}
    response = browser.get(broker.url + "/auth/oidc/callback", params=hostile)
    assert response.status_code in (400, 401, 403)
    assert "the IdP refused the login: access_denied" in html.unescape(response.text)
    assert_inert(response)


@pytest.mark.parametrize(
    "path",
    ["/" + MARKUP.replace("/", "%2F"), "/signin?next=" + MARKUP, "/chat/" + MARKUP],
    ids=["xss_in_unknown_path", "xss_in_next_parameter", "xss_in_conversation_id"],
)
def test_xss_through_echoed_request_values_is_escaped(
    broker: Broker, browser: httpx.Client, path: str
) -> None:
    assert_inert(browser.get(broker.url + path))


# --- framing and headers on every kind of response ------------------------------------------

RESPONSE_KINDS = {
    "clickjacking_framing_the_start_page": "/",
    "clickjacking_framing_the_sign_in_page": "/signin",
    "clickjacking_framing_a_not_found_page": "/no-such-page",
    "clickjacking_framing_an_error_page": "/auth/oidc/callback?code=x",
    "clickjacking_framing_the_health_json": "/healthz",
    "clickjacking_framing_the_redirect_to_the_idp": "/login/oidc",
}


@pytest.mark.parametrize("path", list(RESPONSE_KINDS.values()), ids=list(RESPONSE_KINDS))
def test_clickjacking_no_response_may_be_framed(browser: httpx.Client, broker: Broker,
                                                path: str) -> None:  # fmt: skip
    response = browser.get(broker.url + path)
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_session_cookie_flags(broker: Broker, browser: httpx.Client) -> None:
    done = broker.sign_in(browser)
    cookie = next(v for k, v in done.headers.multi_items()
                  if k == "set-cookie" and v.startswith(COOKIE + "="))  # fmt: skip
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags
    assert re.search(r"samesite=lax", cookie, re.IGNORECASE)
    assert re.search(r"path=/(;|$)", cookie, re.IGNORECASE)
    assert "domain" not in flags  # host-only: no sibling subdomain receives it


# --- hostile model answers and citations (what the chat pages render) ------------------------

ACTIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "svg", "math", "form", "input",
               "button", "style", "link", "meta", "base", "img"}  # fmt: skip
HOSTILE_ANSWERS = {
    "xss_script_tag_in_answer": "Hello <script>alert(1)</script>",
    "xss_img_onerror_in_answer": 'See <img src=x onerror="alert(1)">',
    "xss_javascript_link_in_answer": "[click](javascript:alert(1))",
    "xss_javascript_link_entity_obfuscated": "[click](jav&#x61;script:alert(1))",
    "xss_data_url_link_in_answer": "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "xss_vbscript_link_in_answer": "[click](vbscript:msgbox(1))",
    "xss_autolink_javascript": "<javascript:alert(1)>",
    "xss_svg_onload_in_answer": "<svg onload=alert(1)>",
    "xss_iframe_in_answer": '<iframe src="https://evil.test"></iframe>',
    "xss_style_attribute_via_html": '<p style="background:url(javascript:alert(1))">x</p>',
    "xss_form_injection": '<form action="https://evil.test"><input name=p></form>',
    "xss_citation_marker_with_markup": "Answer [1]<script>alert(1)</script>",
}


@pytest.mark.parametrize("answer", list(HOSTILE_ANSWERS.values()), ids=list(HOSTILE_ANSWERS))
def test_xss_through_the_models_answer_is_neutralised(answer: str) -> None:
    rendered = str(render_answer(answer, [1]))
    tree = lxml.html.fragment_fromstring(rendered, create_parent="div")
    for element in tree.iter():
        assert element.tag not in ACTIVE_TAGS, rendered
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), rendered
            assert name.lower() != "style", rendered
            if name.lower() in ("href", "src", "action", "formaction"):
                assert urlsplit(value.strip()).scheme.lower() in ("", "http", "https"), rendered


HOSTILE_CITATIONS = {
    "xss_javascript_url_in_citation": ("javascript:alert(1)", "Title"),
    "xss_javascript_url_mixed_case_with_spaces": ("  JaVaScRiPt:alert(1)", "Title"),
    "xss_data_url_in_citation": ("data:text/html,<script>alert(1)</script>", "Title"),
    "xss_protocol_relative_url_in_citation": ("//evil.test/x", "Title"),
    "xss_markup_in_citation_title": ("https://docs.example.com/a", "<script>alert(1)</script>"),
}


@pytest.mark.parametrize(("url", "title"), list(HOSTILE_CITATIONS.values()),
                         ids=list(HOSTILE_CITATIONS))  # fmt: skip
def test_xss_through_citation_titles_and_urls_is_neutralised(url: str, title: str) -> None:
    (view,) = source_views([Citation(number=1, title=title, url=url, snippet="s")])
    assert view.url is None or view.url.startswith(("https://", "http://"))
    assert not hasattr(view.title, "__html__"), "titles stay text for the template to escape"


def test_control_a_chat_post_with_the_token_does_reach_q_business(
    broker: Broker, browser: httpx.Client
) -> None:
    """Proves the recorder above is wired: without it the CSRF cases could pass vacuously."""
    broker.sign_in(browser)
    token = broker.csrf_token(browser)
    broker.qbusiness_calls.clear()
    browser.post(broker.url + "/chat", data={"csrf_token": token, "message": "hello"})
    assert broker.qbusiness_calls
