"""The per-session chat page cache: what a turn may extend, and a faithful round trip."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from qbizfed.aws.chat import (
    Citation,
    CitedSegment,
    ConversationAttachment,
    ConversationSummary,
    HistoryMessage,
)
from qbizfed.aws.chat_controls import ChatControls
from qbizfed.web.chat_page_cache import (
    MAX_CACHED_MESSAGES,
    CachedPage,
    ChatPageCache,
    last_answer_id,
)
from qbizfed.web.sessions import InMemorySessionStore

CID = "c" * 36
WHEN = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
CITED = Citation(number=1, title="Handbook", url="https://example.com/h", snippet="s",
                 document_id="d1", updated_at=WHEN,
                 segments=(CitedSegment(0, 4, "exc"),))  # fmt: skip
PAGE = CachedPage(
    conversation_id=CID,
    conversations=(ConversationSummary(CID, "On-call", WHEN),),
    history=(HistoryMessage("u1", "USER", "q?", WHEN),
             HistoryMessage("a1", "SYSTEM", "answer [1]", WHEN, (CITED,))),
)  # fmt: skip
QUESTION = HistoryMessage("u2", "USER", "again?", None)
ANSWER = HistoryMessage("a2", "SYSTEM", "yes", None)


def test_round_trip_through_the_store_keeps_every_field() -> None:
    cache = ChatPageCache(InMemorySessionStore())
    asyncio.run(cache.put("sid", PAGE))
    assert asyncio.run(cache.get("sid")) == PAGE
    assert asyncio.run(cache.get("other")) is None


def test_a_turn_extends_the_conversation_shown_and_marks_it_fresh() -> None:
    extended = PAGE.after_turn(CID, QUESTION, ANSWER)
    assert extended is not None
    assert extended.fresh
    assert extended.history[-2:] == (QUESTION, ANSWER)
    assert last_answer_id(extended.history) == "a2"


CONTROLS = ChatControls("EXTENDED_KNOWLEDGE_ENABLED", creator_mode_allowed=True,
                        topics=("payroll",), blocked_phrase_count=2)  # fmt: skip


def test_what_the_page_showed_beside_the_conversation_survives_the_store() -> None:
    cache = ChatPageCache(InMemorySessionStore())
    known = replace(PAGE, attachments=(), controls=CONTROLS)
    asyncio.run(cache.put("sid", known))
    assert asyncio.run(cache.get("sid")) == known


def test_only_an_absence_of_attachments_is_kept_a_listed_file_is_asked_for_again() -> None:
    cache = ChatPageCache(InMemorySessionStore())
    attached = ConversationAttachment("a" * 36, CID, "notes.md", "md", 10, "SUCCESS")
    asyncio.run(cache.put("sid", replace(PAGE, attachments=(attached,))))
    cached = asyncio.run(cache.get("sid"))
    assert cached is not None
    assert cached.attachments is None


def test_a_turn_that_attached_files_makes_the_attachments_unknown() -> None:
    known = replace(PAGE, attachments=(), controls=CONTROLS)
    plain = known.after_turn(CID, QUESTION, ANSWER)
    assert plain is not None
    assert plain.attachments == ()
    assert plain.controls == CONTROLS
    with_files = known.after_turn(CID, QUESTION, ANSWER, attached=True)
    assert with_files is not None
    assert with_files.attachments is None


def test_a_turn_elsewhere_or_in_a_new_conversation_cannot_be_shown_from_the_cache() -> None:
    assert PAGE.after_turn("d" * 36, QUESTION, ANSWER) is None  # another conversation
    home = CachedPage(None, PAGE.conversations, ())
    assert home.after_turn(CID, QUESTION, ANSWER) is None  # a new one: title unknown


def test_a_long_conversation_is_not_kept() -> None:
    cache = ChatPageCache(InMemorySessionStore())
    asyncio.run(cache.put("sid", PAGE))
    long = CachedPage(CID, PAGE.conversations, (QUESTION,) * (MAX_CACHED_MESSAGES + 1))
    asyncio.run(cache.put("sid", long))
    assert asyncio.run(cache.get("sid")) is None


def test_an_entry_of_another_shape_is_ignored() -> None:
    store = InMemorySessionStore()
    asyncio.run(store.set("chat-page:sid", {"list": "nonsense"}, ttl_seconds=60))
    assert asyncio.run(ChatPageCache(store).get("sid")) is None


def test_a_turn_that_started_a_conversation_is_its_history_and_only_the_titles_are_unknown() -> (
    None
):
    home = CachedPage(None, PAGE.conversations, (), attachments=(), controls=CONTROLS)
    assert home.complete
    started = home.after_turn(CID, QUESTION, ANSWER, started=True)
    assert started is not None
    assert started.conversation_id == CID
    assert started.history == (QUESTION, ANSWER)
    assert started.attachments == ()
    assert not started.titles_known
    assert not started.complete
    cache = ChatPageCache(InMemorySessionStore())
    asyncio.run(cache.put("sid", started))
    assert asyncio.run(cache.get("sid")) == started
    with_files = home.after_turn(CID, QUESTION, ANSWER, started=True, attached=True)
    assert with_files is not None
    assert with_files.attachments is None


def test_another_instance_reads_the_page_this_one_wrote() -> None:
    store = InMemorySessionStore()
    known = replace(PAGE, attachments=(), controls=CONTROLS)
    asyncio.run(ChatPageCache(store).put("sid", known))
    assert asyncio.run(ChatPageCache(store).get("sid")) == known  # decoded, not remembered


def test_a_page_written_by_another_instance_replaces_the_one_remembered() -> None:
    store = InMemorySessionStore()
    ours, theirs = ChatPageCache(store), ChatPageCache(store)
    asyncio.run(ours.put("sid", PAGE))
    assert asyncio.run(ours.get("sid")) == PAGE
    extended = PAGE.after_turn(CID, QUESTION, ANSWER)
    assert extended is not None
    asyncio.run(theirs.put("sid", extended))
    assert asyncio.run(ours.get("sid")) == extended
    asyncio.run(theirs.forget("sid"))
    assert asyncio.run(ours.get("sid")) is None


def test_a_fresh_page_is_fresh_once_shown_it_is_not_and_the_entry_stays() -> None:
    store = InMemorySessionStore()
    cache = ChatPageCache(store)
    extended = PAGE.after_turn(CID, QUESTION, ANSWER)
    assert extended is not None
    asyncio.run(cache.put("sid", extended))
    seen = asyncio.run(cache.get("sid"))
    assert seen is not None
    assert seen.fresh
    asyncio.run(cache.shown("sid"))
    for reader in (cache, ChatPageCache(store)):
        again = asyncio.run(reader.get("sid"))
        assert again == replace(extended, fresh=False)


def test_an_entry_the_state_does_not_name_is_not_shown() -> None:
    # Written between the entry and its state by another instance: neither is trusted.
    store = InMemorySessionStore()
    cache = ChatPageCache(store)
    asyncio.run(cache.put("sid", PAGE))
    asyncio.run(store.set("chat-page-state:sid", {"nonce": "another", "fresh": True},
                          ttl_seconds=60))  # fmt: skip
    assert asyncio.run(cache.get("sid")) is None
    assert asyncio.run(ChatPageCache(store).get("sid")) is None


def test_a_turn_keeps_the_list_and_the_earlier_messages_as_they_were() -> None:
    store = InMemorySessionStore()
    cache = ChatPageCache(store)
    asyncio.run(cache.put("sid", PAGE))
    base = asyncio.run(store.get("chat-page:sid"))
    extended = PAGE.after_turn(CID, QUESTION, ANSWER)
    assert extended is not None
    asyncio.run(cache.put("sid", extended))
    assert asyncio.run(ChatPageCache(store).get("sid")) == extended
    entry = asyncio.run(store.get("chat-page:sid"))
    assert base is not None
    assert entry is not None
    assert entry["list"] == base["list"]
    assert entry["history"][:2] == base["history"]
