"""The streamed turn's protocol without I/O: endpoint, signing, output frames to events.

Output frames are built with the same event-stream writer the client sends with and
read back with botocore's parser; the end-to-end behaviour against the emulator's
WebSocket endpoint is in tests/integration/test_chat_stream.py.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer

from qbizfed.aws.chat import ChatError, ChatTurn, TurnRequest
from qbizfed.aws.chat_stream import (
    RefusedError,
    TextDelta,
    TurnReader,
    chat_input,
    input_events,
    stream_endpoint,
)
from qbizfed.aws.chat_stream_signing import signed_turn
from qbizfed.aws.event_stream import encode_event, encode_exception, envelope_signature
from qbizfed.errors import ConfigError

CREDS = Credentials("ASIAEXAMPLE", "secret-key", "session-token")
REQUEST = TurnRequest(application_id="a" * 36, message="How do I roll back?")


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return encode_event(kind, body, content_type="application/json")


def _exception(code: str, message: str) -> bytes:
    return encode_exception(code, message)


METADATA = {
    "conversationId": "c" * 36, "userMessageId": "u" * 36, "systemMessageId": "s" * 36,
    "finalTextMessage": "Run fleetctl rollback [1].",
    "sourceAttributions": [{"title": "Rollback runbook", "citationNumber": 1, "snippet": "…",
                            "updatedAt": 1767225600,
                            "textMessageSegments": [{"beginOffset": 0, "endOffset": 21}]}],
}  # fmt: skip


def test_endpoint_is_aws_websocket_host_or_the_custom_endpoint() -> None:
    assert stream_endpoint(None, "eu-west-1") == "wss://qbusiness-websocket.eu-west-1.api.aws/chat"
    assert stream_endpoint("https://qbusiness.us-east-1.api.aws", "us-east-1") == (
        "wss://qbusiness-websocket.us-east-1.api.aws/chat"
    )
    assert stream_endpoint("http://127.0.0.1:4566", "us-east-1") == "ws://127.0.0.1:4566/chat"
    assert stream_endpoint("http://localhost:9", "us-east-1") == "ws://localhost:9/chat"
    assert stream_endpoint("https://vpce.example.com", "us-east-1") == "wss://vpce.example.com/chat"


def test_plain_http_beyond_loopback_is_refused() -> None:
    with pytest.raises(ConfigError, match="only for loopback"):
        stream_endpoint("http://proxy.example.com:8080", "us-east-1")


def test_presigned_url_and_chained_input_frames() -> None:
    plugin = {"pluginConfiguration": {"pluginId": "p"}}
    request = TurnRequest(application_id="a" * 36, message="hi", chat_mode="CREATOR_MODE",
                          chat_mode_configuration=plugin)  # fmt: skip
    url, frames = signed_turn(
        url="wss://qbusiness-websocket.us-east-1.api.aws/chat", region="us-east-1",
        credentials=CREDS, chat_input=chat_input(request), events=input_events(request),
    )  # fmt: skip
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "wss"
    assert parts.path == "/chat"
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Security-Token"] == ["session-token"]
    sent = json.loads(query["chat-input"][0])
    assert sent["applicationId"] == "a" * 36
    assert sent["conversationId"] is None
    assert sent["clientToken"]
    prior = query["X-Amz-Signature"][0]
    kinds = []
    for frame in frames:
        buffer = EventStreamBuffer()
        buffer.add_data(frame)
        (envelope,) = list(buffer)
        inner_buffer = EventStreamBuffer()
        inner_buffer.add_data(envelope.payload)
        (inner,) = list(inner_buffer)
        kinds.append(inner.headers[":event-type"])
        if kinds[-1] == "configurationEvent":
            assert json.loads(inner.payload)["chatModeConfiguration"] == plugin
        expected = envelope_signature(
            secret_access_key="secret-key", region="us-east-1",
            signed_at=dt.datetime.fromtimestamp(envelope.headers[":date"] / 1000, dt.UTC),
            prior_signature=prior, payload=envelope.payload,
        )  # fmt: skip
        assert envelope.headers[":chunk-signature"].hex() == expected  # chained from the URL
        prior = expected
    assert kinds == ["configurationEvent", "textEvent", "endOfInputEvent"]


def test_text_events_then_metadata_make_the_turn() -> None:
    reader = TurnReader(REQUEST)
    events: list[Any] = []
    for piece in ("Run fleetctl", " rollback", " [1]."):
        events += reader.feed(_event("textEvent", {"systemMessage": piece}))
    events += reader.feed(_event("metadataEvent", METADATA))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    turn = events[-1]
    assert isinstance(turn, ChatTurn)
    assert "".join(d.text for d in deltas) == turn.text == "Run fleetctl rollback [1]."
    assert turn.conversation_id == "c" * 36
    assert turn.system_message_id == "s" * 36
    assert turn.citations[0].title == "Rollback runbook"
    assert turn.citations[0].segments[0].end == 21
    assert isinstance(turn.citations[0].updated_at, dt.datetime)  # parsed by botocore's model


def test_final_text_not_streamed_is_delivered_as_a_last_delta() -> None:
    reader = TurnReader(REQUEST)
    events = reader.feed(_event("textEvent", {"systemMessage": "Run fleetctl"}))
    events += reader.feed(_event("metadataEvent", METADATA))
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "Run fleetctl",
        " rollback [1].",
    ]


def test_an_exception_frame_is_refused_with_aws_code() -> None:
    reader = TurnReader(REQUEST)
    reader.feed(_event("textEvent", {"systemMessage": "Run"}))
    with pytest.raises(RefusedError) as refused:
        reader.feed(_exception("ThrottlingException", "Slow down"))
    assert refused.value.code == "ThrottlingException"
    error = reader.refused(refused.value)
    assert error.code == "ThrottlingException"
    assert error.partial_text == "Run"
    assert error.unsent_message == REQUEST.message


@pytest.mark.parametrize(
    "frame",
    [b"\x00\x00\x00\x10garbage-garbage!", "a text message"],
    ids=["bad-prelude", "text-message"],
)
def test_malformed_output_is_a_chat_error_never_a_crash(frame: bytes | str) -> None:
    reader = TurnReader(REQUEST)
    reader.feed(_event("textEvent", {"systemMessage": "partial"}))
    with pytest.raises(ChatError) as failed:
        reader.feed(frame)
    assert failed.value.code == "MalformedStream"
    assert failed.value.partial_text == "partial"


def test_a_truncated_message_waits_for_the_rest() -> None:
    frame = _event("textEvent", {"systemMessage": "partial"})
    reader = TurnReader(REQUEST)
    assert reader.feed(frame[:7]) == []
    assert reader.feed(frame[7:]) == [TextDelta("partial")]


def test_lost_connection_keeps_partial_text() -> None:
    reader = TurnReader(REQUEST)
    reader.feed(_event("textEvent", {"systemMessage": "Run fleetctl"}))
    error = reader.lost(1006, "")
    assert error.code == "StreamInterrupted"
    assert error.partial_text == "Run fleetctl"
    assert "send the message again" in error.remedy
