"""Turning Q Business answers into safe HTML: Markdown, citation links, source lists.

An answer is text written by a model from documents anybody may have written, so it
is hostile input. It goes through two independent layers:

1. markdown-it-py with raw HTML *disabled* (``<script>`` stays text) and its own link
   validation (no ``javascript:``/``vbscript:``/``file:``/``data:`` links);
2. nh3 (ammonia) with an allow-list of tags, attributes and URL schemes, so that even
   a bug in layer 1 cannot put an event handler, a style, a form or a
   ``javascript:`` URL on the page.

Citation markers ``[n]`` whose number is one of the answer's sources become links to
``#source-n``, the entry of the source list under the answer. Source titles and
snippets are plain text (escaped by the templates); a source URL is kept only if it
is an absolute ``http(s)`` URL.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markupsafe import Markup

from qbizfed.aws.chat import Citation

ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "del", "s",
})  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "ol": {"start"},
}
ALLOWED_CLASSES: dict[str, set[str]] = {"a": {"citation"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
SOURCE_URL_SCHEMES = frozenset({"http", "https"})
MAX_CITATION_NUMBER = 999
_MARKER = re.compile(r"\[(\d{1,3})\]")
_ANCHOR_PREFIX = re.compile(r"^[A-Za-z0-9-]{0,32}$")
_UNSAFE_URL_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True)
class SourceView:
    """One entry of the source list, ready for a template (all plain text)."""

    number: int
    anchor: str
    title: str
    url: str | None
    snippet: str
    open_url: str | None = None
    """For a source without a URL: serve's route that opens its content (the user's own
    conversation's citation, fetched with their credentials)."""


def safe_source_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL without tricks, else ``None``."""
    if not url or len(url) > 2048 or _UNSAFE_URL_CHARACTERS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in SOURCE_URL_SCHEMES or not parts.hostname:
        return None
    return url


def _citation_rule(state: StateInline, silent: bool) -> bool:
    """Inline rule: ``[n]`` for a known source number becomes a link to ``#source-n``."""
    if state.src[state.pos] != "[":
        return False
    match = _MARKER.match(state.src, state.pos)
    if match is None:
        return False
    number = int(match.group(1))
    known: Collection[int] = state.env.get("citation_numbers", ())
    if number not in known:
        return False
    if not silent:
        prefix = str(state.env.get("anchor_prefix", ""))
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": f"#{prefix}source-{number}", "class": "citation"}
        text = state.push("text", "", 0)
        text.content = f"[{number}]"
        state.push("link_close", "a", -1)
    state.pos = match.end()
    return True


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["image"])  # CSP blocks remote images anyway; show nothing rather than a hole
    md.inline.ruler.before("link", "citation", _citation_rule)
    return md


_MD = _markdown()


def sanitize_html(html: str) -> str:
    """The allow-list pass (layer 2); usable on any HTML fragment."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        allowed_classes={k: set(v) for k, v in ALLOWED_CLASSES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def source_anchor(number: int, prefix: str = "") -> str:
    """The element id of source ``number``: ``source-n``, or ``<prefix>source-n`` when a
    page shows several answers (element ids must stay unique)."""
    return f"{prefix}source-{number}"


def render_answer(
    text: str, citation_numbers: Iterable[int] = (), *, anchor_prefix: str = ""
) -> Markup:
    """An answer's Markdown as sanitised HTML, with ``[n]`` linked for known sources."""
    if not _ANCHOR_PREFIX.match(anchor_prefix):
        raise ValueError("anchor_prefix must be letters, digits and dashes")
    numbers = frozenset(n for n in citation_numbers if 0 < n <= MAX_CITATION_NUMBER)
    env: dict[str, Any] = {"citation_numbers": numbers, "anchor_prefix": anchor_prefix}
    html = _MD.render(text, env)
    return Markup(sanitize_html(html))  # noqa: S704 - sanitised by nh3 just above


def source_views(
    citations: Sequence[Citation], *, anchor_prefix: str = ""
) -> tuple[SourceView, ...]:
    """The source list of an answer, one entry per citation number, in order."""
    seen: set[int] = set()
    views: list[SourceView] = []
    for citation in sorted(citations, key=lambda c: c.number):
        if citation.number in seen or not 0 < citation.number <= MAX_CITATION_NUMBER:
            continue
        seen.add(citation.number)
        views.append(
            SourceView(
                number=citation.number,
                anchor=source_anchor(citation.number, anchor_prefix),
                title=citation.title.strip() or "Untitled source",
                url=safe_source_url(citation.url),
                snippet=citation.snippet.strip(),
            )
        )
    return tuple(views)
