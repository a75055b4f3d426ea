"""Attacks on the chat page's streamed answers (``POST /chat/stream``).

The model's text arrives in pieces, and an attacker who wrote a cited document chooses
where markup falls: a tag or a ``javascript:`` link split across text events must
never reach the page as markup, whatever the split. Each case makes a scripted Q
Business streaming peer (a real WebSocket server) answer with the payload cut at
hostile points and parses *every* ``answer`` event the broker sends, as the page would
insert it: no element but the allow-list's, no event handler, no dangerous URL. If the
broker forwarded raw text (or rendered only the new piece) these checks would fail.
Cross-site use of the stream (no token, another origin) is refused before any call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import lxml.html
import pytest

from tests.integration.test_serve_chat_stream import StreamingQBusiness, events_of, origin
from tests.support.scripted_stream import StreamScript, scripted_stream_peer
from tests.unit.test_web_chat_routes import chat_app

ALLOWED = {"p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol",
           "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr",
           "th", "td", "del", "s", "div", "html", "body"}  # fmt: skip
BAD_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")

SPLITS: dict[str, Sequence[str]] = {
    "script_tag_split_mid_name": ("Hi <scr", "ipt>alert(1)</scr", "ipt> there"),
    "img_onerror_split_inside_attribute": ("<img src=x on", "error=alert(1)", "> [1]"),
    "svg_onload_split_after_angle": ("<", "svg/onload=alert(1)>"),
    "iframe_srcdoc_split_across_quotes": ('<iframe srcdoc="<scr', 'ipt>alert(1)</script>">'),
    "markdown_javascript_link_split_in_scheme": ("[click](java", "script:alert(1))"),
    "markdown_link_split_before_url": ("[click]", "(javascript:alert(1))"),
    "html_anchor_onclick_split_in_handler": ('<a href="#" oncl', 'ick="alert(1)">x</a>'),
    "autolink_javascript_split": ("<javascript", ":alert(1)>"),
    "entity_encoded_scheme_split": ("[x](&#106;ava", "script:alert(1))"),
    "reference_link_split_over_lines": ("[a][r]\n\n[r]: java", "script:alert(1)"),
    "style_block_split": ("<sty", "le>body{display:none}</style>"),
    "code_fence_closed_then_script": ("```\ncode\n", "```\n<script>alert(1)</script>"),
}


def unsafe_in(fragment: str) -> list[str]:
    """What the page would get that it must not: elements off the allow-list, handlers,
    style attributes, dangerous URLs."""
    if not fragment.strip():
        return []
    found = []
    for element in lxml.html.fragment_fromstring(fragment, create_parent="div").iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag not in ALLOWED:
            found.append(f"<{element.tag}>")
        for name, value in element.attrib.items():
            if name.startswith("on") or name == "style":
                found.append(f"{element.tag}@{name}")
            if name in ("href", "src") and value.strip().lower().startswith(BAD_SCHEMES):
                found.append(f"{element.tag}@{name}={value}")
    return found


@pytest.mark.parametrize("pieces", list(SPLITS.values()), ids=list(SPLITS))
def test_markup_split_across_text_events_never_reaches_the_page(pieces: Sequence[str]) -> None:
    script = StreamScript(pieces=pieces)
    with scripted_stream_peer(script) as peer, chat_app(qbusiness=StreamingQBusiness(peer)) as app:
        response = app.client.post(
            "/chat/stream", data={"csrf_token": app.csrf(), "message": "tell me"},
            headers={"Origin": origin(app)},
        )  # fmt: skip
    events = events_of(response.text)
    answers = [data["html"] for name, data in events if name == "answer"]
    # The markup cut in two was on the page in its cut state at least once.
    assert len(answers) > 1, "the pieces were merged: the split state was never rendered"
    for html in answers:  # every intermediate state the page shows
        assert unsafe_in(html) == [], html
    done = events[-1]
    assert done[0] == "done"
    final = lxml.html.fragment_fromstring(done[1]["item"]).xpath('.//div[@class="answer"]')[0]
    assert unsafe_in(lxml.html.tostring(final, encoding="unicode")) == []


def test_stream_route_never_returns_the_model_text_unescaped_in_json() -> None:
    script = StreamScript(pieces=("</script><script>alert(1)</script>",))
    with scripted_stream_peer(script) as peer, chat_app(qbusiness=StreamingQBusiness(peer)) as app:
        body = app.client.post(
            "/chat/stream", data={"csrf_token": app.csrf(), "message": "x"},
            headers={"Origin": origin(app)},
        ).text  # fmt: skip
    for block in body.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                json.loads(line[6:])  # one JSON document per event: no line injection
    assert "<script>" not in body


def test_cross_site_stream_request_is_refused_before_any_call() -> None:
    with scripted_stream_peer() as peer, chat_app(qbusiness=StreamingQBusiness(peer)) as app:
        response = app.client.post(
            "/chat/stream", data={"csrf_token": app.csrf(), "message": "exfiltrate"},
            headers={"Origin": "https://attacker.example"},
        )  # fmt: skip
    assert response.status_code == 400
    assert "from another site" in response.text
    assert peer.turns == []
