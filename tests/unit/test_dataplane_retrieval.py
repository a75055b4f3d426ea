"""BM25 retrieval over permitted documents, passages and snippets."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from qbizfed.local.qbusiness.dataplane_attributes import (
    AttributeFilter,
    AttributeValue,
    DocumentAttribute,
    FilterOperator,
)
from qbizfed.local.qbusiness.dataplane_passages import split_passages, tokenize
from qbizfed.local.qbusiness.retrieval import (
    DocumentIndex,
    Hit,
    IndexedDocument,
    _Entry,
    _Snapshot,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(doc_id: str, text: str, title: str = "", **attrs: AttributeValue) -> IndexedDocument:
    return IndexedDocument(
        document_id=doc_id,
        title=title or doc_id,
        text=text,
        attributes=tuple(DocumentAttribute(k, v) for k, v in attrs.items()),
        updated_at=T0,
        index_id="idx",
    )


VACATION = doc(
    "vacation",
    "# Vacation\n\nEmployees receive 25 vacation days per year.\n\n"
    "## Sick leave\n\nReport sick leave to your manager before 10:00.",
    title="Vacation policy",
    _source_uri=AttributeValue(string_value="https://intranet.example/vacation"),
    dept=AttributeValue(string_value="hr"),
)
DEPLOY = doc(
    "deploy",
    "Deployments happen on Tuesdays. Roll back with fleetctl rollback.",
    dept=AttributeValue(string_value="eng"),
)
SECRET = doc("secret", "Vacation vacation vacation days: the CEO gets 60 vacation days.")
ALL = frozenset({"vacation", "deploy", "secret"})


def index_of(*docs: IndexedDocument) -> DocumentIndex:
    index = DocumentIndex()
    index.put_many(list(docs))
    return index


def ids(hits: list[Hit]) -> list[str]:
    return [h.document.document_id for h in hits]


def test_passages_split_at_paragraphs_and_join_headings() -> None:
    passages = [p.text for p in split_passages(VACATION.text)]
    assert passages == [
        "Vacation: Employees receive 25 vacation days per year.",
        "Sick leave: Report sick leave to your manager before 10:00.",
    ]


def test_long_paragraph_is_cut_at_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(60))
    passages = split_passages(text, max_chars=200)
    assert len(passages) > 5
    assert all(len(p.text) <= 200 for p in passages)
    assert " ".join(p.text for p in passages) == text


def test_tokens_drop_question_words_and_fold_plurals() -> None:
    assert tokenize(["How many vacation days do I get?"]) == [["vacation", "day"]]
    assert tokenize(["policies"]) == [["policy"]]


def test_best_document_and_best_passage() -> None:
    index = index_of(VACATION, DEPLOY)
    hits = index.search("How do I report sick leave?", permitted=ALL)
    assert ids(hits) == ["vacation"]
    assert hits[0].passage.startswith("Sick leave:")
    assert hits[0].document.url == "https://intranet.example/vacation"


def test_unpermitted_document_is_never_returned() -> None:
    index = index_of(VACATION, DEPLOY, SECRET)
    assert "secret" in ids(index.search("vacation days", permitted=ALL))
    hits = index.search("vacation days", permitted=frozenset({"vacation", "deploy"}))
    assert ids(hits) == ["vacation"]
    assert index.search("CEO 60 days", permitted=frozenset({"deploy"})) == []


def test_unpermitted_documents_do_not_change_scores() -> None:
    visible = frozenset({"vacation", "deploy"})
    alone = index_of(VACATION, DEPLOY).search("vacation days rollback", permitted=visible)
    crowded = index_of(
        VACATION,
        DEPLOY,
        SECRET,
        *[doc(f"noise{i}", "vacation days vacation rollback " * (i + 1)) for i in range(20)],
    ).search("vacation days rollback", permitted=visible)
    assert [(h.document.document_id, h.passage, h.score) for h in alone] == [
        (h.document.document_id, h.passage, h.score) for h in crowded
    ]


def test_relevance_threshold_needs_half_the_terms() -> None:
    index = index_of(VACATION, DEPLOY)
    assert index.search("vacation", permitted=ALL)
    assert index.search("quarterly revenue figures", permitted=ALL) == []
    assert index.search("vacation revenue", permitted=ALL)  # 1 of 2 terms: relevant
    assert index.search("vacation revenue margin", permitted=ALL) == []  # 1 of 3: not


def test_empty_and_stopword_queries_find_nothing() -> None:
    index = index_of(VACATION)
    assert index.search("", permitted=ALL) == []
    assert index.search("what is the", permitted=ALL) == []
    assert index.search("vacation", permitted=frozenset()) == []
    assert DocumentIndex().search("vacation", permitted=ALL) == []


def test_attribute_filter_narrows_results() -> None:
    index = index_of(VACATION, DEPLOY)
    only_eng = AttributeFilter.leaf(
        FilterOperator.EQUALS_TO, "dept", AttributeValue(string_value="eng")
    )
    assert index.search("vacation days", permitted=ALL, attribute_filter=only_eng) == []
    assert ids(index.search("rollback tuesdays", permitted=ALL, attribute_filter=only_eng)) == [
        "deploy"
    ]


def test_replace_and_delete() -> None:
    index = index_of(VACATION, DEPLOY)
    assert ids(index.search("rollback", permitted=ALL)) == ["deploy"]
    index.put(doc("deploy", "Deployments are frozen in December."))
    assert index.search("rollback", permitted=ALL) == []
    assert ids(index.search("frozen december", permitted=ALL)) == ["deploy"]
    assert index.delete("deploy") is True
    assert index.delete("deploy") is False
    assert index.search("frozen december", permitted=ALL) == []
    assert "deploy" not in index
    assert len(index) == 1


def test_index_is_built_once_per_permitted_set_and_rebuilt_after_change() -> None:
    index = index_of(VACATION, DEPLOY)
    for _ in range(5):
        index.search("vacation", permitted=ALL)
    assert index.builds == 1
    index.search("vacation", permitted=frozenset({"vacation"}))
    assert index.builds == 2
    index.put(doc("new", "new text"))  # not in either permitted set: both stay valid
    index.search("vacation", permitted=ALL)
    index.search("vacation", permitted=frozenset({"vacation"}))
    assert index.builds == 2
    index.put(doc("deploy", "Deployments are frozen."))  # in ALL only
    index.search("vacation", permitted=ALL)
    index.search("vacation", permitted=frozenset({"vacation"}))
    assert index.builds == 3
    index.delete("vacation")  # in both
    index.search("vacation", permitted=ALL)
    index.search("vacation", permitted=frozenset({"vacation"}))
    assert index.builds == 5


def test_title_is_searchable_and_k_limits() -> None:
    index = index_of(doc("a", "Body without the word.", title="Parking rules"), VACATION, DEPLOY)
    assert ids(index.search("parking", permitted=frozenset({"a"}))) == ["a"]
    assert len(index.search("vacation rollback", permitted=ALL, k=1)) == 1


def test_last_updated_attribute_wins() -> None:
    when = datetime(2025, 5, 5, tzinfo=UTC)
    d = doc("x", "text", _last_updated_at=AttributeValue(date_value=when))
    assert d.last_updated == when
    assert doc("y", "text").last_updated == T0


# ---- property: results for a user depend only on the permitted documents ----

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(texts, min_size=1, max_size=10),
    st.lists(st.booleans(), min_size=10, max_size=10),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
)
def test_results_depend_only_on_permitted_documents(
    corpus: list[str], visible: list[bool], query: str
) -> None:
    docs = [doc(f"d{i}", text) for i, text in enumerate(corpus)]
    permitted = frozenset(d.document_id for d, v in zip(docs, visible, strict=False) if v)
    full = index_of(*docs).search(query, permitted=permitted, k=5)
    only = index_of(*[d for d in docs if d.document_id in permitted]).search(
        query, permitted=permitted, k=5
    )
    assert set(ids(full)) <= permitted
    assert [(h.document.document_id, h.passage, h.score) for h in full] == [
        (h.document.document_id, h.passage, h.score) for h in only
    ]


def test_a_snapshot_built_while_its_documents_change_is_not_cached() -> None:
    pending = [doc("deploy", "Deployments are frozen in December.")]

    class RacingIndex(DocumentIndex):
        def _build(self, entries: tuple[_Entry, ...]) -> _Snapshot:
            snapshot = super()._build(entries)
            if pending:  # another request replaces a document during the build
                self.put(pending.pop())
            return snapshot

    index = RacingIndex()
    index.put_many([VACATION, DEPLOY])
    assert ids(index.search("rollback", permitted=ALL)) == ["deploy"]  # read before the change
    assert index.search("rollback", permitted=ALL) == []  # the stale snapshot was not kept
    assert ids(index.search("frozen december", permitted=ALL)) == ["deploy"]
