"""Answers to HTML: Markdown features kept, citation markers linked, source lists cleaned."""

from __future__ import annotations

import pytest

from qbizfed.aws.chat import Citation
from qbizfed.web.chat_rendering import (
    render_answer,
    safe_source_url,
    sanitize_html,
    source_anchor,
    source_views,
)


def test_markdown_is_rendered() -> None:
    html = str(render_answer("**Deploy** on *Tuesdays*:\n\n- canary\n- `fleetctl rollout`"))
    assert "<strong>Deploy</strong>" in html
    assert "<em>Tuesdays</em>" in html
    assert "<li>canary</li>" in html
    assert "<code>fleetctl rollout</code>" in html


def test_known_citation_markers_link_to_their_source() -> None:
    html = str(render_answer("Tuesdays [1] and Fridays [2], see [7].", [1, 2]))
    assert '<a href="#source-1" class="citation" rel="noopener noreferrer nofollow">[1]</a>' in html
    assert 'href="#source-2"' in html
    assert "see [7]." in html  # no such source: left as text
    assert 'href="#source-7"' not in html


def test_marker_links_can_be_prefixed_for_earlier_answers() -> None:
    html = str(render_answer("x [1]", [1], anchor_prefix="a1-"))
    assert 'href="#a1-source-1"' in html
    assert source_anchor(1, "a1-") == "a1-source-1"
    with pytest.raises(ValueError, match="anchor_prefix"):
        render_answer("x", [1], anchor_prefix='"><script>')


def test_markers_inside_code_stay_code() -> None:
    html = str(render_answer("`arr[1]` is fine", [1]))
    assert "<code>arr[1]</code>" in html
    assert "citation" not in html


def test_raw_html_is_text_and_links_keep_only_safe_schemes() -> None:
    html = str(render_answer("<b>x</b> [ok](https://x.test/a) [bad](javascript:alert(1))"))
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert '<a href="https://x.test/a" rel="noopener noreferrer nofollow">ok</a>' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")


def test_sanitizer_drops_what_is_not_allowed() -> None:
    cleaned = sanitize_html(
        '<p style="x" onclick="y">a</p><a class="citation other" href="data:text/html,x">b</a>'
        "<img src=x><script>z</script>"
    )
    assert cleaned == '<p>a</p><a class="citation" rel="noopener noreferrer nofollow">b</a>'


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://wiki.example/deploy", True),
        ("http://intranet.example/x?y=1#z", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,x", False),
        ("//evil.test/x", False),
        ("/relative/path", False),
        ("https://", False),
        ("https://a.test/\nx", False),
        ("https://a.test/ x", False),
        ("https://a.test\\@evil.test", False),
        ("", False),
        (None, False),
        ("https://a.test/" + "x" * 3000, False),
    ],
)
def test_source_urls_must_be_absolute_http(url: str | None, kept: bool) -> None:
    assert safe_source_url(url) == (url if kept else None)


def test_source_views_are_ordered_deduplicated_and_titled() -> None:
    views = source_views([
        Citation(number=2, title="  ", url="javascript:x", snippet=" two "),
        Citation(number=1, title="One", url="https://x.test/1", snippet="one"),
        Citation(number=1, title="Duplicate", url=None, snippet=""),
        Citation(number=0, title="Zero", url=None, snippet=""),
    ], anchor_prefix="a2-")  # fmt: skip
    assert [(v.number, v.anchor, v.title, v.url, v.snippet) for v in views] == [
        (1, "a2-source-1", "One", "https://x.test/1", "one"),
        (2, "a2-source-2", "Untitled source", None, "two"),
    ]
