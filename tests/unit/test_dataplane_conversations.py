"""Conversations, messages, paging and feedback, per user."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from qbizfed.local.qbusiness.answers import Answer
from qbizfed.local.qbusiness.conversations import (
    ConversationStore,
    Feedback,
    MessageType,
    Usefulness,
    UsefulnessReason,
)
from qbizfed.local.qbusiness.dataplane_errors import (
    DataPlaneConflictError,
    DataPlaneValidationError,
    ResourceNotFoundError,
)

ALICE = "alice@example.com"
BOB = "bob@example.com"
ANSWER = Answer("An answer [1]")


@pytest.fixture
def store() -> ConversationStore:
    ticks = itertools.count()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return ConversationStore(clock=lambda: start + timedelta(seconds=next(ticks)))


def test_first_turn_starts_a_conversation_titled_by_the_message(store: ConversationStore) -> None:
    turn = store.record_turn(ALICE, "What is our vacation policy?", ANSWER)
    (conversation,) = store.list_conversations(ALICE).items
    assert conversation.conversation_id == turn.conversation_id
    assert conversation.title == "What is our vacation policy?"
    assert len(turn.conversation_id) == 36
    messages = store.list_messages(ALICE, turn.conversation_id).items
    assert [m.type for m in messages] == [MessageType.SYSTEM, MessageType.USER]  # newest first
    assert messages[0].message_id == turn.system_message_id
    assert messages[0].body == ANSWER.system_message
    assert messages[1].message_id == turn.user_message_id


def test_long_titles_are_cut_at_a_word(store: ConversationStore) -> None:
    store.record_turn(ALICE, "word " * 100, ANSWER)
    title = store.list_conversations(ALICE).items[0].title
    assert len(title) <= 100
    assert title.endswith("word")


def test_continue_with_the_latest_system_message(store: ConversationStore) -> None:
    first = store.record_turn(ALICE, "q1", ANSWER)
    second = store.record_turn(
        ALICE,
        "q2",
        ANSWER,
        conversation_id=first.conversation_id,
        parent_message_id=first.system_message_id,
    )
    assert second.conversation_id == first.conversation_id
    assert len(store.list_messages(ALICE, first.conversation_id).items) == 4
    assert len(store.list_conversations(ALICE).items) == 1


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("stale-parent", DataPlaneConflictError),
        ("user-message-as-parent", DataPlaneConflictError),
        ("parent-from-another-conversation", DataPlaneValidationError),
        ("unknown-parent", DataPlaneValidationError),
        ("conversation-without-parent", DataPlaneValidationError),
        ("parent-without-conversation", DataPlaneValidationError),
        ("unknown-conversation", ResourceNotFoundError),
        ("another-users-conversation", ResourceNotFoundError),
    ],
)
def test_bad_continuations(store: ConversationStore, case: str, error: type[Exception]) -> None:
    first = store.record_turn(ALICE, "q1", ANSWER)
    second = store.record_turn(
        ALICE,
        "q2",
        ANSWER,
        conversation_id=first.conversation_id,
        parent_message_id=first.system_message_id,
    )
    other = store.record_turn(ALICE, "other", ANSWER)
    conv: str | None = first.conversation_id
    parent: str | None = second.system_message_id
    user = ALICE
    if case == "stale-parent":
        parent = first.system_message_id
    elif case == "user-message-as-parent":
        parent = second.user_message_id
    elif case == "parent-from-another-conversation":
        parent = other.system_message_id
    elif case == "unknown-parent":
        parent = "0" * 36
    elif case == "conversation-without-parent":
        parent = None
    elif case == "parent-without-conversation":
        conv = None
    elif case == "unknown-conversation":
        conv = "0" * 36
    elif case == "another-users-conversation":
        user = BOB
    with pytest.raises(error):
        store.check_continuation(user, conv, parent)
    with pytest.raises(error):
        store.record_turn(user, "q3", ANSWER, conversation_id=conv, parent_message_id=parent)
    assert len(store.list_messages(ALICE, first.conversation_id).items) == 4


def test_users_are_isolated_and_emails_case_insensitive(store: ConversationStore) -> None:
    turn = store.record_turn(ALICE, "mine", ANSWER)
    assert store.list_conversations(BOB).items == ()
    with pytest.raises(ResourceNotFoundError):
        store.list_messages(BOB, turn.conversation_id)
    with pytest.raises(ResourceNotFoundError):
        store.delete_conversation(BOB, turn.conversation_id)
    with pytest.raises(ResourceNotFoundError):
        store.put_feedback(
            BOB, turn.conversation_id, turn.system_message_id, Feedback(Usefulness.USEFUL, None)
        )
    assert len(store.list_conversations("Alice+laptop@EXAMPLE.com").items) == 1


def test_conversations_newest_first_with_paging(store: ConversationStore) -> None:
    made = [store.record_turn(ALICE, f"q{i}", ANSWER).conversation_id for i in range(7)]
    page = store.list_conversations(ALICE, max_results=3)
    seen = [c.conversation_id for c in page.items]
    while page.next_token:
        page = store.list_conversations(ALICE, max_results=3, next_token=page.next_token)
        seen += [c.conversation_id for c in page.items]
    assert seen == list(reversed(made))
    starts = [c.start_time for c in store.list_conversations(ALICE).items]
    assert starts == sorted(starts, reverse=True)


def test_paging_survives_deletes_between_pages(store: ConversationStore) -> None:
    made = [store.record_turn(ALICE, f"q{i}", ANSWER).conversation_id for i in range(5)]
    page = store.list_conversations(ALICE, max_results=2)
    assert [c.conversation_id for c in page.items] == [made[4], made[3]]
    store.delete_conversation(ALICE, made[2])
    rest = store.list_conversations(ALICE, max_results=2, next_token=page.next_token)
    assert [c.conversation_id for c in rest.items] == [made[1], made[0]]
    assert rest.next_token is None


def test_messages_paging(store: ConversationStore) -> None:
    turn = store.record_turn(ALICE, "q0", ANSWER)
    parent = turn.system_message_id
    for i in range(1, 4):
        parent = store.record_turn(
            ALICE,
            f"q{i}",
            ANSWER,
            conversation_id=turn.conversation_id,
            parent_message_id=parent,
        ).system_message_id
    bodies: list[str] = []
    token: str | None = None
    while True:
        page = store.list_messages(ALICE, turn.conversation_id, max_results=3, next_token=token)
        bodies += [m.body for m in page.items if m.type is MessageType.USER]
        token = page.next_token
        if token is None:
            break
    assert bodies == ["q3", "q2", "q1", "q0"]


@pytest.mark.parametrize(
    "token",
    ["garbage!!", "YzoxMA", "", "bTp4eXo", "\u00e9t\u00e9"],
    ids=["not-base64", "conversation-token-for-messages", "empty", "not-a-number", "non-ascii"],
)
def test_invalid_next_tokens(store: ConversationStore, token: str) -> None:
    turn = store.record_turn(ALICE, "q", ANSWER)
    with pytest.raises(DataPlaneValidationError):
        store.list_messages(ALICE, turn.conversation_id, next_token=token or "=")


@pytest.mark.parametrize("max_results", [0, 101, -1])
def test_max_results_bounds(store: ConversationStore, max_results: int) -> None:
    with pytest.raises(DataPlaneValidationError):
        store.list_conversations(ALICE, max_results=max_results)


def test_delete_conversation(store: ConversationStore) -> None:
    turn = store.record_turn(ALICE, "q", ANSWER)
    store.delete_conversation(ALICE, turn.conversation_id)
    assert store.list_conversations(ALICE).items == ()
    with pytest.raises(ResourceNotFoundError):
        store.list_messages(ALICE, turn.conversation_id)
    with pytest.raises(ResourceNotFoundError):
        store.delete_conversation(ALICE, turn.conversation_id)


def test_feedback_on_system_messages(store: ConversationStore) -> None:
    turn = store.record_turn(ALICE, "q", ANSWER)
    now = datetime(2026, 1, 2, tzinfo=UTC)
    feedback = Feedback.from_wire(
        {"usefulness": "NOT_USEFUL", "reason": "NOT_HELPFUL", "comment": "meh", "submittedAt": now}
    )
    store.put_feedback(ALICE, turn.conversation_id, turn.system_message_id, feedback)
    got = store.feedback_of(ALICE, turn.conversation_id, turn.system_message_id)
    assert got == Feedback(Usefulness.NOT_USEFUL, now, UsefulnessReason.NOT_HELPFUL, "meh")
    with pytest.raises(DataPlaneValidationError):
        store.put_feedback(ALICE, turn.conversation_id, turn.user_message_id, feedback)
    with pytest.raises(ResourceNotFoundError):
        store.put_feedback(ALICE, turn.conversation_id, "0" * 36, feedback)


@pytest.mark.parametrize(
    "wire",
    [
        {"usefulness": "MAYBE", "submittedAt": datetime(2026, 1, 1, tzinfo=UTC)},
        {"usefulness": "USEFUL", "reason": "BECAUSE"},
        {"reason": "HELPFUL"},
        {"usefulness": "USEFUL", "comment": "x" * 1001},
    ],
    ids=["bad-usefulness", "bad-reason", "missing-usefulness", "comment-over-1000"],
)
def test_invalid_feedback(wire: dict[str, object]) -> None:
    with pytest.raises(DataPlaneValidationError):
        Feedback.from_wire(wire)


def test_comment_of_exactly_1000_is_fine() -> None:
    assert Feedback.from_wire({"usefulness": "USEFUL", "comment": "x" * 1000}).comment


def test_concurrent_continuations_of_one_parent_exactly_one_wins() -> None:
    store = ConversationStore()
    first = store.record_turn(ALICE, "q", ANSWER)
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        try:
            store.record_turn(
                ALICE,
                "again",
                ANSWER,
                conversation_id=first.conversation_id,
                parent_message_id=first.system_message_id,
            )
            result = "ok"
        except DataPlaneConflictError:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert len(store.list_messages(ALICE, first.conversation_id).items) == 4
