"""Text handling for retrieval: passages (the unit of ranking and snippets) and tokens.

A document is cut into passages at blank lines; a long paragraph is cut further at
sentence ends so a passage stays readable as a snippet (about ``max_chars``). A
Markdown heading standing alone is joined to the paragraph under it, so "Vacation"
still finds the paragraph that follows "## Vacation".

Tokens come from ``bm25s.tokenize`` (lower-cased words, English stop words removed)
with a light plural fold, so "vacations" and "vacation" meet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
from bm25s.stopwords import STOPWORDS_EN

_PARAGRAPH = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_SPACES = re.compile(r"\s+")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)

# Lucene's list (bm25s "en") plus the question and filler words of chat prompts,
# which would otherwise count as query terms no document "covers".
STOPWORDS: tuple[str, ...] = tuple(
    sorted(
        set(STOPWORDS_EN)
        | {
            "about",
            "all",
            "any",
            "been",
            "being",
            "can",
            "could",
            "did",
            "do",
            "does",
            "doing",
            "done",
            "from",
            "get",
            "gets",
            "got",
            "had",
            "has",
            "have",
            "having",
            "he",
            "her",
            "here",
            "him",
            "his",
            "how",
            "i",
            "its",
            "just",
            "know",
            "let",
            "many",
            "me",
            "might",
            "more",
            "most",
            "much",
            "must",
            "my",
            "need",
            "our",
            "ours",
            "please",
            "shall",
            "she",
            "should",
            "so",
            "some",
            "tell",
            "than",
            "them",
            "those",
            "us",
            "very",
            "want",
            "we",
            "were",
            "what",
            "when",
            "where",
            "which",
            "who",
            "whom",
            "why",
            "would",
            "you",
            "your",
            "yours",
            "give",
            "show",
            "find",
            "explain",
            "describe",
            "there",
            "also",
        }
    )
)


@dataclass(frozen=True)
class Passage:
    """A piece of a document's text, cleaned for display."""

    text: str


def _clean(text: str) -> str:
    text = _LIST_MARK.sub("", text)
    text = _HEADING.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _sentences(paragraph: str, max_chars: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        if current and len(current) + 1 + len(sentence) > max_chars:
            chunks.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        chunks.append(current)
    # A single run-on sentence longer than max_chars is cut at a word boundary.
    out: list[str] = []
    for chunk in chunks:
        while len(chunk) > max_chars * 2:
            cut = chunk.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            out.append(chunk[:cut].strip())
            chunk = chunk[cut:].strip()
        out.append(chunk)
    return out


def split_passages(text: str, *, max_chars: int = 400) -> tuple[Passage, ...]:
    """Cut ``text`` into display-ready passages (never empty when text has words)."""
    passages: list[str] = []
    heading = ""
    for raw in _PARAGRAPH.split(text.replace("\r\n", "\n")):
        if not raw.strip():
            continue
        lines = raw.strip().splitlines()
        if len(lines) == 1 and _HEADING.match(lines[0]):
            heading = f"{heading} {_clean(lines[0])}".strip() if heading else _clean(lines[0])
            continue
        if _HEADING.match(lines[0]):
            heading = f"{heading} {_clean(lines[0])}".strip() if heading else _clean(lines[0])
            lines = lines[1:]
        body = _clean("\n".join(lines))
        if heading:
            body = f"{heading}: {body}" if body else heading
            heading = ""
        passages.extend(_sentences(body, max_chars))
    if heading:
        passages.append(heading)
    return tuple(Passage(p) for p in passages if p)


def _fold(words: list[str]) -> list[str]:
    """A light plural fold (not a full stemmer): policies->policy, vacations->vacation."""
    out: list[str] = []
    for w in words:
        if len(w) > 4 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
        out.append(w)
    return out


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Tokens per text, as used both for indexing and for queries."""
    if not texts:
        return []
    result = bm25s.tokenize(
        list(texts),
        stopwords=list(STOPWORDS),
        stemmer=_fold,
        return_ids=False,
        show_progress=False,
    )
    return [list(tokens) for tokens in result]
