"""Streamed turns through the library against the local stack's WebSocket chat endpoint.

The same code that would talk to ``qbusiness-websocket.<region>.api.aws`` talks to
``qbizfed local aws`` (``AWS_ENDPOINT_URL``-style ``endpoint_url``: ``ws://`` on the same
port), with identity-aware credentials from the local session registry. What must
hold: the deltas join to the final text; citations come only from the user's permitted
documents; streamed and ChatSync turns continue one conversation; each stream fault
gives the documented ``ChatError`` with the partial text, and the conversation stays
where it was.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from botocore.config import Config

from qbizfed.aws.chat import ChatClient, ChatError, ChatTurn
from qbizfed.aws.chat_stream import StreamSettings, TextDelta
from qbizfed.local.stack import LocalAws
from tests.support.qbusiness_app import ready_application, user_qbusiness
from tests.support.stream_faults import set_stream_faults

DOCUMENTS = [
    {"id": "rollback", "title": "Rollback runbook",
     "text": "To roll back a deployment run fleetctl rollback --to previous. "
             "Rollback takes five minutes and is announced in the ops channel first."},
    {"id": "salaries", "title": "Salary bands", "allow_user": "someone.else@example.com",
     "text": "Salary bands for engineers range from 50k to 90k, reviewed every rollback season."},
]  # fmt: skip
QUESTION = "How do I roll back a deployment?"
EMAIL = "dana@example.com"


def _client(
    stack: LocalAws, app: str, *, idle_timeout: float = 30.0, notices: list[str] | None = None
) -> ChatClient:
    qb = user_qbusiness(stack, EMAIL, config=Config(retries={"total_max_attempts": 1}))
    settings = StreamSettings.from_boto3_client(qb, idle_timeout=idle_timeout)
    return ChatClient(qbusiness=qb, application_id=app, subscription_backoff=0.05,
                      on_notice=None if notices is None else notices.append,
                      stream_settings=settings)  # fmt: skip


@pytest.fixture
def app(fresh_local_aws: LocalAws) -> str:
    return ready_application(fresh_local_aws, DOCUMENTS)


def _drain(events: Any) -> tuple[list[TextDelta], ChatTurn]:
    deltas: list[TextDelta] = []
    turn: ChatTurn | None = None
    for event in events:
        if isinstance(event, TextDelta):
            assert turn is None, "text after the turn"
            deltas.append(event)
        else:
            turn = event
    assert turn is not None
    return deltas, turn


def test_deltas_join_to_the_final_text_with_permitted_citations_only(
    fresh_local_aws: LocalAws, app: str
) -> None:
    notices: list[str] = []
    chat = _client(fresh_local_aws, app, notices=notices)
    conversation = chat.conversation()
    deltas, turn = _drain(conversation.stream(QUESTION))
    assert len(deltas) > 1, "the answer came in one piece: nothing was streamed"
    assert "".join(d.text for d in deltas) == turn.text
    assert "fleetctl rollback" in turn.text
    assert [c.title for c in turn.citations] == ["Rollback runbook"]
    assert "Salary bands" not in turn.text  # not permitted to dana
    assert all(seg.end <= len(turn.text) for c in turn.citations for seg in c.segments)
    assert turn.subscription_retries >= 1  # dana's first call: the subscription retry
    assert any("subscribes you" in n for n in notices)
    assert conversation.conversation_id == turn.conversation_id
    assert conversation.parent_message_id == turn.system_message_id


def test_streamed_and_chatsync_turns_continue_one_conversation(
    fresh_local_aws: LocalAws, app: str
) -> None:
    chat = _client(fresh_local_aws, app)
    conversation = chat.conversation()
    _, first = _drain(conversation.stream(QUESTION))
    second = conversation.ask("How long does it take?")
    _, third = _drain(conversation.stream("Where is it announced?"))
    assert first.conversation_id == second.conversation_id == third.conversation_id
    history = chat.history(first.conversation_id)
    assert [m.kind for m in history].count("SYSTEM") == 3
    resumed = chat.conversation(first.conversation_id)
    assert resumed.parent_message_id == third.system_message_id


def test_astream_gives_the_same_turn(fresh_local_aws: LocalAws, app: str) -> None:
    conversation = _client(fresh_local_aws, app).conversation()

    async def run() -> tuple[list[TextDelta], ChatTurn]:
        deltas: list[TextDelta] = []
        async for event in conversation.astream(QUESTION):
            if isinstance(event, TextDelta):
                deltas.append(event)
            else:
                return deltas, event
        raise AssertionError("no turn")

    deltas, turn = asyncio.run(run())
    assert "".join(d.text for d in deltas) == turn.text
    assert conversation.conversation_id == turn.conversation_id


def _continues_after_failure(chat: ChatClient, fault: dict[str, Any], stack: LocalAws) -> None:
    conversation = chat.conversation()
    _, before = _drain(conversation.stream(QUESTION))
    set_stream_faults(stack, fault)
    with pytest.raises(ChatError) as failed:
        _drain(conversation.stream("How long does it take?"))
    # Nothing moved: the same question continues the same conversation afterwards.
    assert conversation.conversation_id == before.conversation_id
    assert conversation.parent_message_id == before.system_message_id
    assert failed.value.unsent_message == "How long does it take?"
    set_stream_faults(stack)
    _, after = _drain(conversation.stream(failed.value.unsent_message))
    assert after.conversation_id == before.conversation_id
    raise failed.value


def test_connection_closed_mid_answer_keeps_the_partial_text(
    fresh_local_aws: LocalAws, app: str
) -> None:
    chat = _client(fresh_local_aws, app)
    with pytest.raises(ChatError) as failed:
        _continues_after_failure(chat, {"kind": "stream-close", "after_events": 2}, fresh_local_aws)
    assert failed.value.code == "StreamInterrupted"
    assert failed.value.partial_text  # two events were shown
    assert "send the message again" in failed.value.remedy


def test_exception_frame_raises_aws_code(fresh_local_aws: LocalAws, app: str) -> None:
    chat = _client(fresh_local_aws, app)
    with pytest.raises(ChatError) as failed:
        _continues_after_failure(
            chat,
            {"kind": "stream-exception", "after_events": 2,
             "exception_type": "ValidationException"},
            fresh_local_aws,
        )  # fmt: skip
    assert failed.value.code == "ValidationException"
    assert failed.value.partial_text


def test_throttling_after_text_is_not_retried(fresh_local_aws: LocalAws, app: str) -> None:
    chat = _client(fresh_local_aws, app)
    with pytest.raises(ChatError) as failed:
        _continues_after_failure(
            chat,
            {"kind": "stream-exception", "after_events": 1,
             "exception_type": "ThrottlingException"},
            fresh_local_aws,
        )  # fmt: skip
    assert failed.value.code == "ThrottlingException"
    assert failed.value.partial_text


def test_throttling_before_any_text_is_retried(fresh_local_aws: LocalAws, app: str) -> None:
    chat = _client(fresh_local_aws, app)
    chat.conversation().ask(QUESTION)  # subscribed
    set_stream_faults(
        fresh_local_aws,
        {
            "kind": "stream-exception",
            "after_events": 0,
            "exception_type": "ThrottlingException",
            "count": 1,
        },
    )
    deltas, turn = _drain(chat.conversation().stream(QUESTION))
    assert "".join(d.text for d in deltas) == turn.text


def test_stalled_stream_times_out_with_the_partial_text(
    fresh_local_aws: LocalAws, app: str
) -> None:
    chat = _client(fresh_local_aws, app, idle_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ChatError) as failed:
        _continues_after_failure(
            chat, {"kind": "stream-stall", "after_events": 1, "stall_seconds": 5}, fresh_local_aws
        )
    assert failed.value.code == "StreamStalled"
    assert failed.value.partial_text
    assert time.monotonic() - started < 5


def test_close_ends_the_stream_and_the_conversation_stays(
    fresh_local_aws: LocalAws, app: str
) -> None:
    conversation = _client(fresh_local_aws, app).conversation()
    stream = conversation.stream(QUESTION)
    first = next(stream)
    assert isinstance(first, TextDelta)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert conversation.conversation_id is None
    assert conversation.turns == []
