"""Sign in through an IdP's HTML forms with httpx, as a browser without JavaScript would.

Used against qbizfed's dev IdP and the third-party peers alike: follow redirects by
hand, fill the login form's user and password fields, submit every other form (consent,
SAML auto-post) as it is, and stop at the relying party's callback or the ACS form.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import ssl
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~50 ms per httpx.Client; tests make hundreds of clients.
    return ssl.create_default_context()


def new_browser() -> httpx.Client:
    """A client that keeps cookies, like a browser session."""
    return httpx.Client(timeout=10, verify=_tls_context())


def stateless_client() -> httpx.Client:
    """A client that keeps no cookies and no connections: each request stands alone, like
    ``httpx.get``, so a module-level one needs no closing."""
    client = httpx.Client(
        timeout=10, verify=_tls_context(), limits=httpx.Limits(max_keepalive_connections=0)
    )
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


@dataclass
class HtmlForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    select_options: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[HtmlForm] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(HtmlForm(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input" and a.get("name") and a.get("type", "text") != "submit":
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self.forms[-1].select_options[self._select] = []
        elif tag == "option" and self._select is not None:
            self.forms[-1].select_options[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def parse_forms(html: str) -> list[HtmlForm]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


@dataclass(frozen=True)
class SamlPost:
    """What the browser would post to the ACS URL."""

    acs_url: str
    saml_response_xml: bytes
    relay_state: str | None


class LoginFailedError(AssertionError):
    pass


def _fill(form: HtmlForm, username: str, password: str) -> dict[str, str]:
    data = dict(form.fields)
    for name in ("login", "username"):
        if name in data or name in form.select_options:
            data[name] = username
    if "password" in data:
        data["password"] = password
    return data


def authorize_url(
    authorization_endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str = "openid email profile",
    state: str | None = None,
    nonce: str | None = None,
    pkce: Pkce | None = None,
    **extra: str,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        **extra,
    }
    if state is not None:
        params["state"] = state
    if nonce is not None:
        params["nonce"] = nonce
    if pkce is not None:
        params["code_challenge"] = pkce.challenge
        params["code_challenge_method"] = "S256"
    return f"{authorization_endpoint}?{urlencode(params)}"


def browse(
    client: httpx.Client,
    start_url: str,
    *,
    username: str,
    password: str,
    stop_at: str | None = None,
    max_steps: int = 12,
) -> httpx.Response | dict[str, str] | SamlPost:
    """Walk from ``start_url`` until a redirect to ``stop_at`` (its query, as a dict) or a
    SAML auto-post form (a :class:`SamlPost`); otherwise the last response."""
    response = client.get(start_url)
    for _ in range(max_steps):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if stop_at is not None and location.startswith(stop_at):
                return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            response = client.get(location)
            continue
        forms = (
            parse_forms(response.text) if "html" in response.headers.get("content-type", "") else []
        )
        if not forms:
            return response
        form = forms[0]
        if "SAMLResponse" in form.fields:
            return SamlPost(
                acs_url=form.action,
                saml_response_xml=base64.b64decode(form.fields["SAMLResponse"]),
                relay_state=form.fields.get("RelayState"),
            )
        if response.status_code >= 400:
            return response
        target = urljoin(str(response.url), form.action)
        data = _fill(form, username, password)
        response = (
            client.post(target, data=data)
            if form.method == "post"
            else client.get(target, params=data)
        )
    raise LoginFailedError(f"no callback after {max_steps} steps; last page {response.url}")


def login_for_code(
    client: httpx.Client, url: str, *, redirect_uri: str, username: str, password: str
) -> dict[str, str]:
    """The callback's query parameters of an OIDC login (``code``, ``state``, ``iss``)."""
    result = browse(client, url, username=username, password=password, stop_at=redirect_uri)
    if not isinstance(result, dict):
        detail = result.text[:300] if isinstance(result, httpx.Response) else result
        raise LoginFailedError(f"the login did not reach {redirect_uri}: {detail}")
    return result


def login_for_saml(client: httpx.Client, url: str, *, username: str, password: str) -> SamlPost:
    """The SAML Response the IdP hands the browser to post to the ACS URL."""
    result = browse(client, url, username=username, password=password)
    if not isinstance(result, SamlPost):
        detail = result.text[:300] if isinstance(result, httpx.Response) else result
        raise LoginFailedError(f"the login produced no SAMLResponse: {detail}")
    return result
