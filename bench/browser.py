"""An async "browser" for the benchmarks: signs in through the IdP's HTML forms with httpx.

Follows redirects by hand, fills the dev IdP's login form (user, password), submits
other forms as they are, and stops at what goes back to the relying party (the OIDC
callback, or the SAML auto-post form to the ACS), whose answer decides success. Each
user gets its own client (its own cookies), as a browser would.
Once signed in, it can export the session's credentials and chat through serve's
chat pages (the ask form, then the conversation page), or read streamed answers as the
page's script does (``POST /chat/stream``, Server-Sent Events).
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import time
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from bench.baselines.sample_samlapp import SIGNED_IN as SAMPLE_SIGNED_IN

CALLBACK_PATH = "/auth/oidc/callback"
CHAT_PATH = "/chat"
TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
# serve's ask form (``action="/chat"``, or ``/chat?conversation_id=...``), not the
# conversation list's ``/chat/<id>/delete`` forms: only this form is parsed (see _ask_fields).
ASK_FORM = re.compile(r'<form [^>]*?action="/chat(?:\?[^"]*)?"[^>]*>.*?</form>', re.S)
INPUT = re.compile(r"<input\b([^>]*)>")
ATTRIBUTE = re.compile(r'([a-zA-Z_:][-\w:.]*)="([^"]*)"')
MAX_STEPS = 12


class LoginError(RuntimeError):
    """The sign-in did not end at a successful callback."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Only loopback http is used; one context spares ~50 ms per client for the CA bundle.
    return ssl.create_default_context()


def new_browser(*, timeout: float = 60.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, verify=_tls_context())


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    selects: set[str] = field(default_factory=set)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input" and a.get("name") and a.get("type", "text") != "submit":
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name"):
            self.forms[-1].selects.add(a["name"])


def _login_data(form: _Form, username: str, password: str) -> dict[str, str]:
    data = dict(form.fields)
    for name in ("login", "username"):
        if name in data or name in form.selects:
            data[name] = username
    if "password" in data:
        data["password"] = password
    return data


@dataclass(frozen=True)
class SamlPost:
    """The IdP's auto-post form: where the browser is about to POST the SAMLResponse."""

    acs_url: str
    fields: dict[str, str]


async def _through_the_idp(
    browser: httpx.AsyncClient, start_url: str, *, username: str, password: str
) -> str | SamlPost:
    """From a login's start through the IdP's pages to what goes back to the relying
    party: the OIDC callback URL, or the SAML auto-post form (neither is sent)."""
    response = await browser.get(start_url)
    for _ in range(MAX_STEPS):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if urlsplit(location).path == CALLBACK_PATH:
                return location
            response = await browser.get(location)
            continue
        parser = _FormParser()
        if "html" in response.headers.get("content-type", ""):
            parser.feed(response.text)
        if response.status_code >= 400 or not parser.forms:
            raise LoginError(f"stuck at {urlsplit(str(response.url)).path}: {response.status_code}")
        form = parser.forms[0]
        target = urljoin(str(response.url), form.action)
        if "SAMLResponse" in form.fields:
            return SamlPost(target, dict(form.fields))
        data = _login_data(form, username, password)
        if form.method == "post":
            response = await browser.post(target, data=data)
        else:
            response = await browser.get(target, params=data)
    raise LoginError(f"no way back to the relying party after {MAX_STEPS} steps")


async def authorize(
    browser: httpx.AsyncClient, start_url: str, *, username: str, password: str
) -> str:
    """From the relying party's login URL through the IdP to the callback URL (not fetched)."""
    found = await _through_the_idp(browser, start_url, username=username, password=password)
    if not isinstance(found, str):
        raise LoginError("the IdP answered with a SAML response, not an OIDC callback")
    return found


async def authorize_saml(
    browser: httpx.AsyncClient, start_url: str, *, username: str, password: str
) -> SamlPost:
    """From a SAML login's start through the IdP to its auto-post form (not posted)."""
    found = await _through_the_idp(browser, start_url, username=username, password=password)
    if not isinstance(found, SamlPost):
        raise LoginError("the IdP redirected to an OIDC callback, not a SAML response")
    return found


def _summary(response: httpx.Response) -> str:
    """Status and the start of the page's text, for error reports (error pages hold no secrets)."""
    text = " ".join(TAGS.sub(" ", response.text).split())
    return f"{response.status_code}: {text[:160]}"


async def finish(browser: httpx.AsyncClient, callback_url: str) -> httpx.Response:
    """The relying party's callback: code exchange, validation, STS. 200 or 303 is success."""
    response = await browser.get(callback_url)
    if response.status_code not in (200, 303):
        raise LoginError(f"the callback answered {_summary(response)}")
    return response


async def finish_saml(browser: httpx.AsyncClient, post: SamlPost) -> httpx.Response:
    """POST the SAMLResponse to the ACS (and follow serve's one-time ticket redirect).

    Success: serve's 303 after its finish page, or the sample's page with credentials
    (the sample answers 200 even when STS refused, so its page text decides).
    """
    response = await browser.post(post.acs_url, data=post.fields)
    if response.status_code == 303:
        response = await browser.get(urljoin(post.acs_url, response.headers["location"]))
    if response.status_code == 303 or (
        response.status_code == 200 and SAMPLE_SIGNED_IN in response.text
    ):
        return response
    raise LoginError(f"the ACS answered {_summary(response)}")


async def sign_in_saml(
    browser: httpx.AsyncClient, start_url: str, *, username: str, password: str
) -> httpx.Response:
    """The whole SAML login: :func:`authorize_saml` then :func:`finish_saml`."""
    post = await authorize_saml(browser, start_url, username=username, password=password)
    return await finish_saml(browser, post)


async def sign_in(
    browser: httpx.AsyncClient, start_url: str, *, username: str, password: str
) -> httpx.Response:
    """The whole login: :func:`authorize` then :func:`finish`."""
    callback = await authorize(browser, start_url, username=username, password=password)
    return await finish(browser, callback)


async def exported_credentials(browser: httpx.AsyncClient, serve_url: str) -> dict[str, str]:
    """The signed-in session's credentials, as ``qbizfed serve`` exports them to tools."""
    page = await browser.get(serve_url + "/credentials")
    token = CSRF_FIELD.search(page.text)
    if token is None:
        raise LoginError(f"no CSRF token on the credentials page ({page.status_code})")
    answer = await browser.post(
        serve_url + "/credentials/credential-process", data={"csrf_token": token.group(1)}
    )
    if answer.status_code != 200:
        raise LoginError(f"credential export answered {answer.status_code}")
    data: dict[str, str] = answer.json()
    return data


def _ask_fields(html: str) -> dict[str, str]:
    """The named inputs of serve's ask form (``action="/chat"``, with the conversation in
    its query once there is one) on a chat page, as :class:`_FormParser` reads them.

    Found by pattern, not by parsing the page: a chat page is ~40-50 KB (the conversation
    list has a delete form per entry) and ``html.parser`` took ~5.5 ms of the load
    generator's CPU per turn for it, CPU that only the serve path paid on the shared cores,
    inside every timed serve turn. serve writes every attribute double-quoted.
    """
    for form in ASK_FORM.finditer(html):
        fields: dict[str, str] = {}
        for tag in INPUT.finditer(form.group(0)):
            found = ATTRIBUTE.findall(tag[1])
            attributes = {name.lower(): unescape(value) for name, value in found}
            if attributes.get("name") and attributes.get("type", "text") != "submit":
                fields[attributes["name"]] = attributes.get("value", "")
        if "csrf_token" in fields:
            return fields
    raise LoginError("no ask form on the chat page")


async def open_chat(browser: httpx.AsyncClient, serve_url: str) -> dict[str, str] | None:
    """The ask form's fields of ``qbizfed serve``'s chat page; None if serve has no chat."""
    page = await browser.get(serve_url + CHAT_PATH)
    if page.status_code == 404:
        return None
    if page.status_code != 200:
        raise LoginError(f"the chat page answered {page.status_code}")
    return _ask_fields(page.text)


async def ask_serve(
    browser: httpx.AsyncClient,
    serve_url: str,
    fields: dict[str, str],
    message: str,
    *,
    read_answer: bool = True,
) -> dict[str, str]:
    """One chat turn through serve's form: POST /chat (303), then, as a browser does, the
    conversation page; returns the next ask form's fields (the same ones if not read)."""
    # The form's action names its conversation (serve redirects a signed-out POST
    # without reading the body), as the page's own form does.
    conversation = fields.get("conversation_id")
    action = CHAT_PATH + (f"?conversation_id={conversation}" if conversation else "")
    posted = await browser.post(serve_url + action, data={**fields, "message": message})
    if posted.status_code != 303:
        raise LoginError(f"the chat turn answered {posted.status_code}")
    if not read_answer:
        return fields
    page = await browser.get(urljoin(serve_url, posted.headers["location"]))
    if page.status_code != 200:
        raise LoginError(f"the conversation page answered {page.status_code}")
    return _ask_fields(page.text)


STREAM_PATH = "/chat/stream"


@dataclass(frozen=True)
class StreamedAnswer:
    """One turn through serve's streaming route, as the page's script reads it."""

    fields: dict[str, str]
    """The ask form's fields for the next question (conversation and parent ids set)."""
    first_event_seconds: float
    """From sending the POST until the first ``answer`` event was read."""
    total_seconds: float
    events: int


async def ask_serve_streaming(
    browser: httpx.AsyncClient, serve_url: str, fields: dict[str, str], message: str
) -> StreamedAnswer:
    """POST /chat/stream as ``chat.js`` does and read the Server-Sent Events until ``done``."""
    started = time.perf_counter()
    first = 0.0
    events = 0
    request = browser.build_request(
        "POST", serve_url + STREAM_PATH, data={**fields, "message": message},
        headers={"Accept": "text/event-stream", "Origin": serve_url},
    )  # fmt: skip
    response = await browser.send(request, stream=True)
    try:
        if response.status_code != 200:
            raise LoginError(f"the streamed turn answered {response.status_code}")
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                name = next((ln[6:].strip() for ln in block.splitlines()
                             if ln.startswith("event:")), "")  # fmt: skip
                data = next((ln[5:].strip() for ln in block.splitlines()
                             if ln.startswith("data:")), "")  # fmt: skip
                if name == "answer":
                    events += 1
                    if not first:
                        first = time.perf_counter() - started
                elif name == "failed":
                    raise LoginError(f"the streamed turn failed: {json.loads(data)['message']}")
                elif name == "done":
                    done = json.loads(data)
                    next_fields = {**fields, "conversation_id": done["conversationId"],
                                   "parent_message_id": done["messageId"]}  # fmt: skip
                    return StreamedAnswer(next_fields, first or time.perf_counter() - started,
                                          time.perf_counter() - started, events)  # fmt: skip
        raise LoginError("the streamed turn ended without its done event")
    finally:
        await response.aclose()
