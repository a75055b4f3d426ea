"""XSS through everything the chat page shows that someone else wrote.

The model's answer (written from documents anyone may have authored), citation titles,
URLs and snippets, conversation titles, the user's own name and email (from the IdP),
and AWS error messages are hostile input. Each case puts one attack where it would
arrive from the service, renders the real chat page through the real broker, and checks
the resulting DOM: no script but ours, no event handler, no style, no dangerous URL,
no active element (img, svg, iframe, object, embed, form) that the page did not put there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lxml.html
import pytest

from tests.unit.test_web_chat_routes import (
    CONVERSATION,
    ChatApp,
    ScriptedQBusiness,
    chat_app,
    client_error,
)

OUR_SCRIPTS = {"/static/app.js", "/static/chat.js"}
ACTIVE_TAGS = {"iframe", "object", "embed", "img", "svg", "math", "style", "base", "video",
               "audio", "frame", "frameset", "template", "portal"}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
BAD_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")


@dataclass(frozen=True)
class Attack:
    name: str
    where: str
    payload: str


ATTACKS = [
    Attack("script_tag_in_answer", "answer", "Hi <script>alert(1)</script> [1]"),
    Attack("img_onerror_in_answer", "answer", "<img src=x onerror=alert(1)> [1]"),
    Attack("svg_onload_in_answer", "answer", "<svg/onload=alert(1)>"),
    Attack("iframe_srcdoc_in_answer", "answer", '<iframe srcdoc="<script>alert(1)</script>">'),
    Attack("style_block_in_answer", "answer", "<style>body{display:none}</style>"),
    Attack("markdown_javascript_link", "answer", "[click me](javascript:alert(1))"),
    Attack("markdown_javascript_link_mixed_case", "answer", "[x](JaVaScRiPt:alert(1))"),
    Attack("markdown_javascript_link_entity_encoded", "answer",
           "[x](&#106;avascript:alert(1))"),
    Attack("markdown_javascript_link_tab_split", "answer", "[x](java\tscript:alert(1))"),
    Attack("markdown_vbscript_link", "answer", "[x](vbscript:msgbox(1))"),
    Attack("markdown_data_html_link", "answer",
           "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    Attack("markdown_image_data_uri", "answer", "![x](data:image/png;base64,iVBORw0KGgo=)"),
    Attack("markdown_image_attribute_breakout", "answer", '![x](x" onerror="alert(1))'),
    Attack("autolink_javascript", "answer", "<javascript:alert(1)>"),
    Attack("reference_link_javascript", "answer", "[a][r]\n\n[r]: javascript:alert(1)"),
    Attack("link_title_breakout", "answer", '[a](https://x.test "t\\" onmouseover=\\"alert(1))'),
    Attack("citation_marker_breakout", "answer", '[1]"><script>alert(1)</script>'),
    Attack("fake_citation_anchor_javascript", "answer", "[1](javascript:alert(1))"),
    Attack("raw_anchor_with_handler", "answer", '<a href="#source-1" onclick="alert(1)">1</a>'),
    Attack("form_injection_in_answer", "answer",
           '<form action="https://attacker.test"><button>Sign in</button></form>'),
    Attack("html_comment_conditional", "answer",
           "<!--[if IE]><script>alert(1)</script><![endif]-->"),
    Attack("citation_title_script", "title", "<script>alert(1)</script>"),
    Attack("citation_title_attribute_breakout", "title", '"><img src=x onerror=alert(1)>'),
    Attack("citation_url_javascript", "url", "javascript:alert(1)"),
    Attack("citation_url_javascript_leading_space", "url", " JavaScript:alert(1)"),
    Attack("citation_url_javascript_newline", "url", "java\nscript:alert(1)"),
    Attack("citation_url_data", "url", "data:text/html,<script>alert(1)</script>"),
    Attack("citation_url_attribute_breakout", "url", 'https://x.test/"onmouseover="alert(1)'),
    Attack("citation_url_protocol_relative", "url", "//attacker.test/x"),
    Attack("citation_snippet_html", "snippet", "<img src=x onerror=alert(1)>"),
    Attack("conversation_title_script", "conversation_title", "<script>alert(1)</script>"),
    Attack("conversation_title_breakout", "conversation_title", '</a><svg onload=alert(1)>'),
    Attack("history_user_message_html", "question", "<img src=x onerror=alert(1)>"),
    Attack("error_message_script", "error", "<script>alert(1)</script>"),
    Attack("error_message_attribute_breakout", "error", '"><img src=x onerror=alert(1)>'),
]  # fmt: skip


class ScriptedWithQuestion(ScriptedQBusiness):
    question: str = "When do we deploy?"

    def list_messages(self, **params: Any) -> dict[str, Any]:
        result = super().list_messages(**params)
        result["messages"][1]["body"] = self.question
        return result


def hostile_service(attack: Attack) -> ScriptedWithQuestion:
    service = ScriptedWithQuestion()
    source = dict(service.sources[0])
    if attack.where == "answer":
        service.answer = attack.payload
    elif attack.where in ("title", "url", "snippet"):
        source[attack.where] = attack.payload
    elif attack.where == "conversation_title":
        service.titles = [attack.payload]
    elif attack.where == "question":
        service.question = attack.payload
    elif attack.where == "error":
        service.error = client_error("ValidationException", attack.payload, "ListConversations")
    service.sources = [source]
    return service


def assert_page_is_inert(page: str) -> None:
    root = lxml.html.document_fromstring(page)
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        assert tag.lower() not in ACTIVE_TAGS, lxml.html.tostring(element)[:200]
        if tag == "script":
            assert element.get("src") in OUR_SCRIPTS
            assert not (element.text or "").strip()
        if tag == "form":
            assert (element.get("action") or "").startswith("/"), element.get("action")
        if tag == "link":
            assert element.get("href", "").startswith("/static/")
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (tag, name, value)
            assert name.lower() != "style", (tag, value)
            if name.lower() in URL_ATTRIBUTES:
                squashed = "".join(ch for ch in value if ch > " ").lower()
                assert not squashed.startswith(BAD_SCHEMES), (tag, name, value)
                assert not squashed.startswith("//"), (tag, name, value)


@pytest.fixture(scope="module")
def shared() -> Iterator[ChatApp]:
    with chat_app() as app:
        yield app


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_hostile_service_content_stays_inert(shared: ChatApp, attack: Attack) -> None:
    hostile = hostile_service(attack)
    # One broker for the table: swap the scripted service's behaviour in place.
    shared.qbusiness.__dict__.update(hostile.__dict__)
    shared.qbusiness.__class__ = ScriptedWithQuestion
    page = shared.client.get(f"/chat/{CONVERSATION}")
    assert page.status_code in (200, 400)
    assert_page_is_inert(page.text)
    if attack.where == "answer":
        assert 'class="answer"' in page.text


@pytest.mark.parametrize(
    ("name", "email", "display_name"),
    [
        ("email_with_img_onerror", "<img src=x onerror=alert(1)>@example.com", None),
        ("email_with_script", "a<script>alert(1)</script>@example.com", "x"),
        ("display_name_breakout", "alice@example.com", '"><svg onload=alert(1)>'),
    ],
)
def test_hostile_identity_values_stay_inert(
    name: str, email: str, display_name: str | None
) -> None:
    with chat_app(email=email, display_name=display_name) as app:
        page = app.client.get("/chat")
    assert page.status_code == 200
    assert_page_is_inert(page.text)


def test_the_checker_itself_catches_an_injected_handler() -> None:
    with pytest.raises(AssertionError):
        assert_page_is_inert('<html><body><a href="#" onclick="alert(1)">x</a></body></html>')
    with pytest.raises(AssertionError):
        assert_page_is_inert('<html><body><a href=" javascript:alert(1)">x</a></body></html>')
    with pytest.raises(AssertionError):
        assert_page_is_inert("<html><body><script>alert(1)</script></body></html>")
