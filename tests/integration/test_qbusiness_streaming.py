"""Streaming chat over the local WebSocket endpoint, as AWS's sample client speaks it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials

from qbizfed.local.stack import LocalAws, LocalAwsSettings
from tests.conftest import REGION
from tests.support.chat_stream import (
    credentials_of,
    exchange,
    presigned,
    stream_turn,
    user_session,
)
from tests.support.qbusiness_app import ready_application, user_qbusiness

DOCS = [
    {"id": "leave", "title": "Leave policy",
     "text": "Employees get 25 days of paid vacation per year. Requests go to your manager."},
    {"id": "secret", "title": "Merger plan", "allow_user": "boss@example.com",
     "text": "The vacation merger plan is confidential and names the acquired company."},
]  # fmt: skip
QUESTION = "How many vacation days do I get?"
NO_SUBSCRIPTION = "User does not have a subscription for the given application."


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws) -> LocalAws:
    return local_aws


@pytest.fixture(scope="module")
def app(stack: LocalAws) -> str:
    return ready_application(stack, DOCS)


def subscribed(stack: LocalAws, app: str, email: str) -> Credentials:
    """Credentials for ``email``, already through the first-call subscription."""
    session = user_session(stack, email)
    creds = credentials_of(session)
    first = stream_turn(stack, creds, app, "hello")
    if first.exceptions:
        assert first.exceptions == [("AccessDeniedException", {"message": NO_SUBSCRIPTION})]
        assert first.close_code == 1011
    return creds


def test_a_streamed_turn_sends_text_deltas_then_metadata_then_closes(
    stack: LocalAws, app: str
) -> None:
    creds = subscribed(stack, app, "ann@example.com")
    result = stream_turn(stack, creds, app, QUESTION)
    kinds = [kind for _message, kind, _body in result.events]
    assert kinds[-1] == "metadataEvent"
    assert set(kinds[:-1]) == {"textEvent"}
    assert len(kinds) > 2, "the answer arrives in several deltas"
    metadata = result.of_type("metadataEvent")[0]
    assert result.text == metadata["finalTextMessage"]
    assert "25 days" in result.text
    assert set(metadata) >= {"conversationId", "userMessageId", "systemMessageId"}
    assert metadata["sourceAttributions"], "the answer cites the leave policy"
    for source in metadata["sourceAttributions"]:
        assert source["textMessageSegments"]
    for delta in result.of_type("textEvent"):
        assert delta["conversationId"] == metadata["conversationId"]
        assert delta["systemMessageType"] == "RESPONSE"
    assert result.close_code == 1000


def test_streamed_and_chatsync_turns_share_one_conversation(stack: LocalAws, app: str) -> None:
    creds = subscribed(stack, app, "bob@example.com")
    qb = user_qbusiness(stack, "bob@example.com")
    first = qb.chat_sync(applicationId=app, userMessage="Who approves vacation requests?")
    streamed = stream_turn(
        stack, creds, app, QUESTION,
        conversation_id=first["conversationId"], parent_message_id=first["systemMessageId"],
    )  # fmt: skip
    metadata = streamed.of_type("metadataEvent")[0]
    assert metadata["conversationId"] == first["conversationId"]
    third = qb.chat_sync(
        applicationId=app, userMessage="Thanks", conversationId=first["conversationId"],
        parentMessageId=metadata["systemMessageId"],
    )  # fmt: skip
    assert third["conversationId"] == first["conversationId"]
    messages = qb.list_messages(applicationId=app, conversationId=first["conversationId"])
    bodies = [m["body"] for m in messages["messages"]]
    assert QUESTION in bodies
    assert metadata["finalTextMessage"] in bodies
    assert len(bodies) == 6


def test_a_stale_parent_message_is_refused_as_chatsync_refuses_it(
    stack: LocalAws, app: str
) -> None:
    creds = subscribed(stack, app, "cat@example.com")
    qb = user_qbusiness(stack, "cat@example.com")
    first = qb.chat_sync(applicationId=app, userMessage="hi")
    result = stream_turn(
        stack, creds, app, QUESTION, conversation_id=first["conversationId"],
        parent_message_id=str(uuid.uuid4()),
    )  # fmt: skip
    assert [kind for kind, _body in result.exceptions] in (
        ["ResourceNotFoundException"], ["ConflictException"], ["ValidationException"])
    assert result.close_code == 1011


def test_document_permissions_apply_to_streamed_answers(stack: LocalAws, app: str) -> None:
    reader = stream_turn(stack, subscribed(stack, app, "dan@example.com"), app, "merger plan")
    boss = stream_turn(stack, subscribed(stack, app, "boss@example.com"), app, "merger plan")
    cited = [s["documentId"] for s in reader.of_type("metadataEvent")[0]["sourceAttributions"]]
    boss_cited = [s["documentId"] for s in boss.of_type("metadataEvent")[0]["sourceAttributions"]]
    assert "secret" not in cited
    assert "secret" in boss_cited


def test_an_unknown_application_is_an_exception_frame(stack: LocalAws) -> None:
    creds = credentials_of(user_session(stack, "eve@example.com"))
    result = stream_turn(stack, creds, "a" * 36, QUESTION)
    assert [kind for kind, _body in result.exceptions] == ["ResourceNotFoundException"]
    assert result.close_code == 1011


def test_credentials_without_an_email_tag_are_not_identity_aware(
    stack: LocalAws, app: str
) -> None:
    session = stack.registry.issue(
        account_id="123456789012", role_arn="arn:aws:iam::123456789012:role/web",
        role_id="AROATESTROLE", session_name="no-email", duration_seconds=900, tags={},
    )  # fmt: skip
    result = stream_turn(stack, credentials_of(session), app, QUESTION)
    assert result.exceptions == [
        ("AccessDeniedException", {"message": "User is not authorized for this service call."})
    ]


def test_a_user_id_other_than_the_caller_is_refused(stack: LocalAws, app: str) -> None:
    creds = subscribed(stack, app, "fay@example.com")
    url, seed = presigned(stack, creds, app, user_id="someone-else@example.com")
    from qbizfed.aws.event_stream import EventSigner, chat_input_frames

    frames = chat_input_frames(EventSigner(creds, region=REGION, seed_signature=seed),
                               user_message=QUESTION)  # fmt: skip
    result = asyncio.run(exchange(url, frames))
    assert [kind for kind, _body in result.exceptions] == ["ValidationException"]
    # The sample client sends the caller's own email: accepted.
    url, seed = presigned(stack, creds, app, user_id="FAY@example.com")
    frames = chat_input_frames(EventSigner(creds, region=REGION, seed_signature=seed),
                               user_message=QUESTION)  # fmt: skip
    assert asyncio.run(exchange(url, frames)).of_type("metadataEvent")


def test_an_unsigned_upgrade_is_refused_with_aws_code(stack: LocalAws) -> None:
    url = stack.url.replace("http", "ws") + "/chat?chat-input=%7B%7D"
    result = asyncio.run(exchange(url, []))
    assert result.refused_status == 403
    assert result.refused_code == "MissingAuthenticationTokenException"


def test_a_wrong_secret_is_refused_before_the_upgrade(stack: LocalAws, app: str) -> None:
    session = user_session(stack, "gus@example.com")
    forged = Credentials(session.access_key_id, "not-the-secret", session.session_token)
    url, _seed = presigned(stack, forged, app)
    result = asyncio.run(exchange(url, []))
    assert (result.refused_status, result.refused_code) == (403, "InvalidSignatureException")
    assert "signature we calculated does not match" in result.refused_body


def test_an_expired_session_is_an_expired_token_frame(stack: LocalAws, app: str) -> None:
    session = stack.registry.issue(
        account_id="123456789012", role_arn="arn:aws:iam::123456789012:role/web",
        role_id="AROATESTROLE", session_name="late", duration_seconds=1,
        tags={"Email": "late@example.com"},
    )  # fmt: skip
    time.sleep(1.2)
    result = stream_turn(stack, credentials_of(session), app, QUESTION)
    assert [kind for kind, _body in result.exceptions] == ["ExpiredTokenException"]
    assert result.close_code == 1011


# ---------------------------------------------------------------------------- pacing, faults


@pytest.fixture
def paced_stack() -> Iterator[LocalAws]:
    with LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0, stream_delay_ms=80)) as s:
        yield s


def test_stream_delay_paces_the_text_events(paced_stack: LocalAws) -> None:
    app = ready_application(paced_stack, DOCS)
    result = stream_turn(paced_stack, subscribed(paced_stack, app, "hal@example.com"), app,
                         QUESTION)  # fmt: skip
    gaps = [b - a for a, b in zip(result.arrival, result.arrival[1:], strict=False)]
    assert len(gaps) >= 2
    assert min(gaps) >= 0.07, gaps


def _faults(stack: LocalAws, rules: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{stack.url}/_qbizfed/faults", json={"rules": rules})
    assert response.status_code == 200, response.text


@pytest.fixture
def faulty(stack: LocalAws) -> Iterator[LocalAws]:
    yield stack
    _faults(stack, [])


def test_fault_closes_the_stream_after_n_events(faulty: LocalAws, app: str) -> None:
    creds = subscribed(faulty, app, "ian@example.com")
    _faults(faulty, [{"kind": "stream-close", "after_events": 2}])
    result = stream_turn(faulty, creds, app, QUESTION)
    assert len(result.events) == 2
    assert not result.of_type("metadataEvent")
    assert result.close_code == 1001


def test_fault_sends_an_exception_frame_after_n_events(faulty: LocalAws, app: str) -> None:
    creds = subscribed(faulty, app, "jo@example.com")
    _faults(faulty, [{"kind": "stream-exception", "after_events": 1,
                      "exception_type": "ThrottlingException", "count": 1}])  # fmt: skip
    result = stream_turn(faulty, creds, app, QUESTION)
    assert result.events[0][1] == "textEvent"
    assert [kind for kind, _b in result.exceptions] == ["ThrottlingException"]
    assert len(result.events) == 2
    assert result.close_code == 1011
    assert stream_turn(faulty, creds, app, QUESTION).close_code == 1000, "count 1: once"


def test_fault_stalls_the_stream(faulty: LocalAws, app: str) -> None:
    creds = subscribed(faulty, app, "kim@example.com")
    _faults(faulty, [{"kind": "stream-stall", "after_events": 1, "stall_seconds": 0.6}])
    result = stream_turn(faulty, creds, app, QUESTION)
    assert result.close_code == 1000
    assert result.arrival[1] - result.arrival[0] >= 0.55


def test_throttle_fault_refuses_the_upgrade(faulty: LocalAws, app: str) -> None:
    creds = subscribed(faulty, app, "lea@example.com")
    _faults(faulty, [{"kind": "throttle", "service": "qbusiness", "operation": "Chat"}])
    result = stream_turn(faulty, creds, app, QUESTION)
    assert (result.refused_status, result.refused_code) == (429, "ThrottlingException")


def test_stream_flags_of_the_cli_become_stream_fault_rules() -> None:
    """``qbizfed local aws`` as a user starts it, with the streaming flags."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    qbizfed = str(Path(sys.executable).with_name("qbizfed"))
    process = subprocess.Popen(
        [qbizfed, "local", "aws", "--port", "0", "--stream-delay-ms", "20",
         "--stream-close-after", "3", "--stream-exception-after", "2",
         "--stream-stall-seconds", "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", lines[0])
        assert url, lines
        assert f"streaming chat: ws{url.group(1).removeprefix('http')}/chat" in lines[2]
        rules = httpx.get(f"{url.group(1)}/_qbizfed/faults").json()["rules"]
        assert {(r["kind"], r["after_events"], r["stall_seconds"]) for r in rules} == {
            ("stream-close", 3, 0.0), ("stream-exception", 2, 0.0), ("stream-stall", 1, 1.5)}
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert process.returncode == 0
