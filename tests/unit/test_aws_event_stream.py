"""The event-stream codec and input-event signing of streaming chat."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.credentials import Credentials

from qbizfed.aws.event_stream import (
    ChatInput,
    EventSigner,
    EventStreamError,
    StreamExceptionError,
    chat_input_frames,
    decode_message,
    decode_output,
    encode_event,
    encode_exception,
    encode_message,
    envelope_signature,
    open_envelope,
    presign_chat_url,
)

CREDS = Credentials("ASIAEXAMPLE", "secret-example", "token-example")
WHEN = datetime(2026, 12, 3, 9, 30, 15, tzinfo=UTC)


def test_messages_round_trip_through_botocores_parser() -> None:
    frame = encode_message(
        {
            ":string": "v",
            ":bytes": b"\x00\x01",
            ":true": True,
            ":false": False,
            ":int": 7,
            ":date": WHEN,
        },
        b"payload",
    )
    message = decode_message(frame)
    assert message.headers == {
        ":string": "v",
        ":bytes": b"\x00\x01",
        ":true": True,
        ":false": False,
        ":int": 7,
        ":date": int(WHEN.timestamp() * 1000),
    }
    assert message.payload == b"payload"


def test_a_flipped_byte_is_refused_by_the_crc() -> None:
    frame = bytearray(encode_event("textEvent", {"userMessage": "hi"}))
    frame[-6] ^= 0xFF
    with pytest.raises(EventStreamError, match="malformed"):
        decode_message(bytes(frame))


def test_a_frame_with_trailing_bytes_is_refused() -> None:
    with pytest.raises(EventStreamError, match="prelude says"):
        decode_message(encode_event("textEvent", {}) + b"x")


def test_exception_messages_raise_with_the_exception_type() -> None:
    with pytest.raises(StreamExceptionError) as caught:
        decode_output(encode_exception("ThrottlingException", "slow down"))
    assert caught.value.code == "ThrottlingException"
    assert caught.value.service_message == "slow down"


def test_the_signature_chain_follows_the_documented_string_to_sign() -> None:
    """Recomputed by hand from the documented algorithm, with the SigV4 key derivation."""
    payload = encode_event("textEvent", {"userMessage": "hi"})
    prior = "a" * 64
    date_header = b"\x05:date\x08" + int(WHEN.timestamp() * 1000).to_bytes(8, "big")

    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = sign(b"AWS4secret-example", "20261203")
    for part in ("us-east-1", "qbusiness", "aws4_request"):
        key = sign(key, part)
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            "20261203T093015Z",
            "20261203/us-east-1/qbusiness/aws4_request",
            prior,
            hashlib.sha256(date_header).hexdigest(),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert (
        envelope_signature(
            secret_access_key="secret-example",
            region="us-east-1",
            signed_at=WHEN,
            prior_signature=prior,
            payload=payload,
        )
        == expected
    )


def test_signed_frames_chain_from_the_url_signature() -> None:
    signer = EventSigner(CREDS, region="us-east-1", seed_signature="b" * 64)
    frames = chat_input_frames(signer, user_message="hello", signed_at=WHEN)
    prior = "b" * 64
    kinds = []
    for frame in frames:
        envelope = open_envelope(decode_message(frame))
        assert envelope.signature == envelope_signature(
            secret_access_key="secret-example",
            region="us-east-1",
            signed_at=envelope.signed_at,
            prior_signature=prior,
            payload=envelope.payload,
        )
        prior = envelope.signature
        inner = decode_message(envelope.payload)
        assert inner.headers[":content-type"] == "application/x-amz-json-1.0"
        kinds.append(inner.event_type)
    assert kinds == ["configurationEvent", "textEvent", "endOfInputEvent"]
    assert signer.prior_signature == prior


def test_the_presigned_url_signs_host_and_the_session_token() -> None:
    chat = presign_chat_url(
        "http://127.0.0.1:4566",
        CREDS,
        region="us-east-1",
        chat_input=ChatInput(application_id="app-1", client_token="t"),
        signed_at=WHEN,
    )
    parts = urlsplit(chat.url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.path) == ("ws", "/chat")
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Security-Token"] == ["token-example"]
    assert query["X-Amz-Signature"] == [chat.signature]
    assert query["X-Amz-Credential"] == ["ASIAEXAMPLE/20261203/us-east-1/qbusiness/aws4_request"]
    assert '"conversationId": null' in query["chat-input"][0]
    assert "token-example" not in repr(chat)
