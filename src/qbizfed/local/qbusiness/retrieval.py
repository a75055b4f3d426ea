"""BM25 retrieval over the documents a user may see, and nothing else.

Documents are cut into passages (``dataplane_passages``); the ranking unit is the
passage, a document's score is its best passage's, and that passage is the snippet.

**No leak through statistics.** A BM25 score depends on corpus statistics (document
frequencies, average length). A shared index would let a hidden document change a
visible document's score and so the order, the snippet, or a "no answer" decision.
Here the ``bm25s`` index is built over the *permitted documents only*: the permitted
set is the cache key, so everything a search returns is a function of the query and
the permitted documents alone. Indexes are built lazily on first use of a permitted
set, kept in a small LRU, and dropped when one of their documents changes (a new
document a user may see changes that user's permitted set, hence the key); never
rebuilt per query.
The attribute filter only narrows results inside a permitted set (it does not
change the statistics, which is fine: those documents are permitted).

**Relevance threshold.** A document is an answer candidate when its BM25 score is
positive and its text covers at least ``min_coverage`` of the distinct query terms.
Coverage is a property of one document and the query, so the "no answer" decision
cannot depend on other documents either. Hits after the first are kept only when
they score at least ``relative_cutoff`` times the best hit (best among permitted,
filter-passing documents), so weak side matches are not cited.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import bm25s
import numpy as np
import numpy.typing as npt

from qbizfed.local.qbusiness.dataplane_attributes import (
    AttributeFilter,
    AttributeValue,
    DocumentAttribute,
)
from qbizfed.local.qbusiness.dataplane_passages import split_passages, tokenize

SOURCE_URI = "_source_uri"
LAST_UPDATED_AT = "_last_updated_at"


@dataclass(frozen=True)
class IndexedDocument:
    """A document as the index holds it (BatchPutDocument's ``Document``, text extracted)."""

    document_id: str
    title: str
    text: str
    attributes: tuple[DocumentAttribute, ...] = ()
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    index_id: str = ""
    data_source_id: str | None = None

    @property
    def attribute_map(self) -> dict[str, AttributeValue]:
        """Attributes by name (the last one wins on duplicates)."""
        return {a.name: a.value for a in self.attributes}

    @property
    def url(self) -> str | None:
        """The ``_source_uri`` attribute, if the document has one."""
        value = self.attribute_map.get(SOURCE_URI)
        return value.string_value if value is not None else None

    @property
    def last_updated(self) -> datetime:
        """``_last_updated_at`` when given, else the time it was indexed."""
        value = self.attribute_map.get(LAST_UPDATED_AT)
        if value is not None and value.date_value is not None:
            return value.date_value
        return self.updated_at


@dataclass(frozen=True)
class Hit:
    """One retrieved document with its best passage."""

    document: IndexedDocument
    passage: str
    score: float
    coverage: float


@dataclass(frozen=True)
class _Entry:
    document: IndexedDocument
    passages: tuple[str, ...]
    passage_tokens: tuple[tuple[str, ...], ...]
    terms: frozenset[str]
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True)
class _Snapshot:
    retriever: bm25s.BM25 | None
    entries: tuple[_Entry, ...]
    row_entry: npt.NDArray[np.int64]
    row_passage: npt.NDArray[np.int64]


def _entry(document: IndexedDocument) -> _Entry:
    passages = tuple(p.text for p in split_passages(document.text))
    if document.title and document.title != document.document_id:
        # The title is searchable too, as in Q's index; it never becomes the snippet
        # on its own unless the document has no text.
        searchable = [f"{document.title} {p}" for p in passages] or [document.title]
        passages = passages or (document.title,)
    else:
        searchable = list(passages)
    tokens = tuple(tuple(t) for t in tokenize(searchable))
    terms = frozenset(t for ts in tokens for t in ts)
    return _Entry(document, passages, tokens, terms, document.attribute_map)


class DocumentIndex:
    """The documents of one Q Business index, searchable per permitted set. Thread-safe."""

    def __init__(
        self,
        *,
        min_coverage: float = 0.5,
        relative_cutoff: float = 0.5,
        cache_size: int = 16,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._snapshots: OrderedDict[frozenset[str], _Snapshot] = OrderedDict()
        self._cache_size = cache_size
        self._min_coverage = min_coverage
        self._relative_cutoff = relative_cutoff
        self._k1 = k1
        self._b = b
        self.version = 0
        self.builds = 0  # how many bm25s indexes were built (for tests and benchmarks)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, document_id: object) -> bool:
        with self._lock:
            return document_id in self._entries

    def put(self, document: IndexedDocument) -> None:
        """Add or replace a document."""
        entry = _entry(document)  # tokenise outside the lock
        with self._lock:
            self._entries[document.document_id] = entry
            self._changed({document.document_id})

    def put_many(self, documents: Sequence[IndexedDocument]) -> None:
        """Add or replace several documents with one invalidation."""
        entries = [_entry(d) for d in documents]
        with self._lock:
            for entry in entries:
                self._entries[entry.document.document_id] = entry
            self._changed({e.document.document_id for e in entries})

    def delete(self, document_id: str) -> bool:
        """Remove a document; False when it was not there."""
        with self._lock:
            if self._entries.pop(document_id, None) is None:
                return False
            self._changed({document_id})
            return True

    def get(self, document_id: str) -> IndexedDocument | None:
        """The stored document."""
        with self._lock:
            entry = self._entries.get(document_id)
            return entry.document if entry else None

    def document_ids(self) -> list[str]:
        """All document ids, sorted."""
        with self._lock:
            return sorted(self._entries)

    def search(
        self,
        query: str,
        *,
        permitted: frozenset[str],
        attribute_filter: AttributeFilter | None = None,
        k: int = 3,
    ) -> list[Hit]:
        """The ``k`` best relevant permitted documents for ``query`` (best first)."""
        terms = list(dict.fromkeys(tokenize([query])[0])) if query.strip() else []
        if not terms or k <= 0:
            return []
        snapshot = self._snapshot(permitted)
        if snapshot.retriever is None:
            return []
        known = [t for t in terms if t in snapshot.retriever.vocab_dict]
        if not known:
            return []
        scores = snapshot.retriever.get_scores(known)
        rows = np.flatnonzero(scores > 0)
        if rows.size == 0:
            return []
        # Best first; ties broken by document order (sorted ids), then passage order.
        order = rows[np.lexsort((rows, -scores[rows]))]
        query_terms = frozenset(terms)
        hits: list[Hit] = []
        seen: set[int] = set()
        for row in order:
            entry_index = int(snapshot.row_entry[row])
            if entry_index in seen:
                continue
            seen.add(entry_index)
            entry = snapshot.entries[entry_index]
            coverage = len(query_terms & entry.terms) / len(query_terms)
            if coverage < self._min_coverage:
                continue
            if attribute_filter is not None and not attribute_filter.matches(entry.attributes):
                continue
            passage = entry.passages[int(snapshot.row_passage[row])]
            hits.append(Hit(entry.document, passage, float(scores[row]), coverage))
            if len(hits) >= k:
                break
        if hits:
            floor = hits[0].score * self._relative_cutoff
            hits = [h for h in hits if h.score >= floor]
        return hits

    def _snapshot(self, permitted: frozenset[str]) -> _Snapshot:
        with self._lock:
            snapshot = self._snapshots.get(permitted)
            if snapshot is not None:
                self._snapshots.move_to_end(permitted)
                return snapshot
            entries = tuple(self._entries[d] for d in sorted(permitted) if d in self._entries)
        # Built outside the lock: other users' warm searches do not wait for it.
        snapshot = self._build(entries)
        with self._lock:
            self.builds += 1
            if self._current(permitted, entries):
                self._snapshots[permitted] = snapshot
                if len(self._snapshots) > self._cache_size:
                    self._snapshots.popitem(last=False)
        return snapshot

    def _current(self, permitted: frozenset[str], entries: tuple[_Entry, ...]) -> bool:
        """Whether none of these documents changed (or appeared) since ``entries`` was read."""
        if any(self._entries.get(e.document.document_id) is not e for e in entries):
            return False
        return sum(1 for d in permitted if d in self._entries) == len(entries)

    def _build(self, entries: tuple[_Entry, ...]) -> _Snapshot:
        corpus: list[list[str]] = []
        row_entry: list[int] = []
        row_passage: list[int] = []
        for i, entry in enumerate(entries):
            for j, tokens in enumerate(entry.passage_tokens):
                corpus.append(list(tokens))
                row_entry.append(i)
                row_passage.append(j)
        if not any(corpus):
            return _Snapshot(None, entries, np.zeros(0, np.int64), np.zeros(0, np.int64))
        retriever = bm25s.BM25(k1=self._k1, b=self._b)
        retriever.index(corpus, show_progress=False)
        return _Snapshot(
            retriever,
            entries,
            np.asarray(row_entry, dtype=np.int64),
            np.asarray(row_passage, dtype=np.int64),
        )

    def _changed(self, document_ids: set[str]) -> None:
        # A snapshot depends only on the documents of its permitted set: keep those
        # that contain none of the changed documents.
        for key in [k for k in self._snapshots if not k.isdisjoint(document_ids)]:
            del self._snapshots[key]
        self.version += 1
