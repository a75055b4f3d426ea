"""Extractive answers with source attributions, as ChatSync returns them.

The emulator runs no language model. In ``RETRIEVAL_MODE`` the system message is
made of the best passages of the retrieved documents, each followed by a citation
marker ``[n]``; ``sourceAttributions[n-1]`` describes document ``n`` and its
``textMessageSegments`` point at that passage inside the message
(``beginOffset``/``endOffset`` are zero-based offsets in Unicode code points, end
exclusive, like a Python slice; the marker is not inside the segment). Nothing
relevant and permitted -> Q's "could not find" message and no attributions.
``CREATOR_MODE`` answers without retrieval and without attributions.

Maps to botocore's ``SourceAttribution``, ``TextSegment`` and ``SnippetExcerpt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qbizfed.local.qbusiness.retrieval import Hit

NO_ANSWER = "Sorry, I could not find relevant information to complete your request."
_PARAGRAPH_BREAK = "\n\n"
_MAX_ECHO = 200


@dataclass(frozen=True)
class TextSegment:
    """``TextSegment``: the part of the system message a source supports."""

    begin_offset: int
    end_offset: int
    snippet_excerpt: str

    def to_wire(self) -> dict[str, Any]:
        """The model's JSON shape (``snippetExcerpt`` is ``{"text": ...}``)."""
        return {
            "beginOffset": self.begin_offset,
            "endOffset": self.end_offset,
            "snippetExcerpt": {"text": self.snippet_excerpt},
        }


@dataclass(frozen=True)
class SourceAttribution:
    """``SourceAttribution``."""

    title: str
    snippet: str
    url: str | None
    citation_number: int
    updated_at: datetime
    text_message_segments: tuple[TextSegment, ...]
    document_id: str
    index_id: str
    datasource_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The model's JSON shape; ``updatedAt`` stays a datetime for the codec."""
        wire: dict[str, Any] = {
            "title": self.title,
            "snippet": self.snippet,
            "citationNumber": self.citation_number,
            "updatedAt": self.updated_at,
            "textMessageSegments": [s.to_wire() for s in self.text_message_segments],
            "documentId": self.document_id,
            "indexId": self.index_id,
        }
        if self.url is not None:
            wire["url"] = self.url
        if self.datasource_id is not None:
            wire["datasourceId"] = self.datasource_id
        return wire


@dataclass(frozen=True)
class Answer:
    """What ChatSync says back: the system message and its attributions."""

    system_message: str
    source_attributions: tuple[SourceAttribution, ...] = ()


def compose_answer(hits: Sequence[Hit], *, max_sources: int = 3) -> Answer:
    """An extractive answer citing up to ``max_sources`` hits (one per document)."""
    parts: list[str] = []
    attributions: list[SourceAttribution] = []
    offset = 0
    seen: set[tuple[str, str]] = set()
    for hit in hits:
        doc = hit.document
        key = (doc.index_id, doc.document_id)
        if key in seen:
            continue
        seen.add(key)
        number = len(attributions) + 1
        if parts:
            parts.append(_PARAGRAPH_BREAK)
            offset += len(_PARAGRAPH_BREAK)
        begin = offset
        parts.append(hit.passage)
        offset += len(hit.passage)
        end = offset
        marker = f" [{number}]"
        parts.append(marker)
        offset += len(marker)
        attributions.append(
            SourceAttribution(
                title=doc.title or doc.document_id,
                snippet=hit.passage,
                url=doc.url,
                citation_number=number,
                updated_at=doc.last_updated,
                text_message_segments=(TextSegment(begin, end, hit.passage),),
                document_id=doc.document_id,
                index_id=doc.index_id,
                datasource_id=doc.data_source_id,
            )
        )
        if len(attributions) >= max_sources:
            break
    if not attributions:
        return Answer(NO_ANSWER)
    return Answer("".join(parts), tuple(attributions))


def creator_mode_answer(user_message: str) -> Answer:
    """A deterministic reply for ``CREATOR_MODE``: no retrieval, no attributions."""
    echo = " ".join(user_message.split())
    if len(echo) > _MAX_ECHO:
        echo = echo[: _MAX_ECHO - 1].rstrip() + "…"
    return Answer(
        "This is the qbizfed local Q Business emulator in creator mode: it has no "
        f"language model and does not search your documents. You asked: {echo}"
    )
