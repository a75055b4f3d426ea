"""Extractive answers, citation markers and source attributions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import botocore.session
import pytest

from qbizfed.local.qbusiness.answers import (
    NO_ANSWER,
    compose_answer,
    creator_mode_answer,
)
from qbizfed.local.qbusiness.dataplane_attributes import AttributeValue, DocumentAttribute
from qbizfed.local.qbusiness.retrieval import Hit, IndexedDocument

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def hit(doc_id: str, passage: str, score: float = 1.0, url: str | None = None) -> Hit:
    attrs = (DocumentAttribute("_source_uri", AttributeValue(string_value=url)),) if url else ()
    document = IndexedDocument(doc_id, f"Title {doc_id}", passage, attrs, T0, "index-1")
    return Hit(document, passage, score, 1.0)


@pytest.fixture(scope="module")
def model_members() -> dict[str, set[str]]:
    model = botocore.session.get_session().get_service_model("qbusiness")
    return {
        name: set(model.shape_for(name).members)
        for name in ("SourceAttribution", "TextSegment", "SnippetExcerpt")
    }


def test_markers_match_attributions_and_offsets_point_at_the_passage() -> None:
    hits = [
        hit("a", "Employees get 25 days.", url="https://x.example/a"),
        hit("b", "Carry over five days."),
        hit("c", "Holidays do not count."),
    ]
    answer = compose_answer(hits)
    message = answer.system_message
    assert re.findall(r"\[(\d+)\]", message) == ["1", "2", "3"]
    assert [a.citation_number for a in answer.source_attributions] == [1, 2, 3]
    for attribution, h in zip(answer.source_attributions, hits, strict=True):
        (segment,) = attribution.text_message_segments
        assert message[segment.begin_offset : segment.end_offset] == h.passage
        assert segment.snippet_excerpt == h.passage == attribution.snippet
        marker = f" [{attribution.citation_number}]"
        assert message[segment.end_offset : segment.end_offset + len(marker)] == marker
        assert attribution.document_id == h.document.document_id
        assert attribution.index_id == "index-1"
        assert attribution.updated_at == T0
    assert answer.source_attributions[0].url == "https://x.example/a"
    assert answer.source_attributions[1].url is None


def test_one_attribution_per_document_and_max_sources() -> None:
    answer = compose_answer(
        [hit("a", "one"), hit("a", "again"), hit("b", "two"), hit("c", "three")], max_sources=2
    )
    assert [a.document_id for a in answer.source_attributions] == ["a", "b"]
    assert "again" not in answer.system_message


def test_no_hits_is_q_s_no_answer_without_attributions() -> None:
    answer = compose_answer([])
    assert answer.system_message == NO_ANSWER
    assert answer.source_attributions == ()


def test_creator_mode_is_deterministic_and_unattributed() -> None:
    first = creator_mode_answer("Write   a haiku\nabout robots")
    assert first == creator_mode_answer("Write a haiku about robots")
    assert first.source_attributions == ()
    assert "Write a haiku about robots" in first.system_message
    long = creator_mode_answer("x " * 1000)
    assert len(long.system_message) < 400


def test_wire_shape_uses_the_model_member_names(model_members: dict[str, set[str]]) -> None:
    wire = compose_answer([hit("a", "text", url="https://x.example")]).source_attributions[0]
    data = wire.to_wire()
    assert set(data) <= model_members["SourceAttribution"]
    segment = data["textMessageSegments"][0]
    assert set(segment) <= model_members["TextSegment"]
    assert set(segment["snippetExcerpt"]) <= model_members["SnippetExcerpt"]
    assert isinstance(data["updatedAt"], datetime)
