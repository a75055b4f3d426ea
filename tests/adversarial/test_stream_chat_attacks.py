"""Hostile input on the streaming chat WebSocket (``GET /chat``), one defence per test.

Every stream is built to pass every other check: presigned with the session's own
credentials, frames signed in an intact chain, a subscribed user on an existing
application. Only the named attack differs, and the server must answer with the
exception frame AWS would send (code and message fragment asserted), then close the
connection cleanly (1011), and go on serving.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import Credentials

from qbizfed.aws.event_stream import (
    EventSigner,
    chat_input_frames,
    encode_event,
    encode_message,
    envelope_signature,
)
from qbizfed.local.qbusiness.streaming import MAX_FRAME_BYTES
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from tests.conftest import REGION
from tests.support.chat_stream import (
    StreamResult,
    credentials_of,
    exchange,
    presigned,
    stream_turn,
    user_session,
)
from tests.support.qbusiness_app import ready_application

QUESTION = "How many vacation days do I get?"
DOCS = [{"id": "leave", "title": "Leave policy", "text": "Employees get 25 vacation days."}]
SIGNATURE_MISMATCH = "The request signature we calculated does not match"


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws) -> LocalAws:
    return local_aws


@pytest.fixture(scope="module")
def app(stack: LocalAws) -> str:
    return ready_application(stack, DOCS)


@pytest.fixture(scope="module")
def creds(stack: LocalAws, app: str) -> Credentials:
    creds = credentials_of(user_session(stack, "mallory@example.com"))
    stream_turn(stack, creds, app, "hello")  # the first call subscribes
    return creds


def _stream(stack: LocalAws, creds: Credentials, app: str) -> tuple[str, EventSigner]:
    url, seed = presigned(stack, creds, app)
    return url, EventSigner(creds, region=REGION, seed_signature=seed)


def _refused(result: StreamResult, code: str, fragment: str) -> None:
    assert result.refused_status is None, "the upgrade itself was accepted"
    assert result.exceptions, f"no exception frame; events: {result.events}"
    kind, body = result.exceptions[-1]
    assert kind == code, body
    assert fragment in body["message"]
    assert not result.of_type("metadataEvent"), "no answer for a refused stream"
    assert result.close_code == 1011


def _still_serving(stack: LocalAws, creds: Credentials, app: str) -> None:
    assert stream_turn(stack, creds, app, QUESTION).close_code == 1000


def test_genuine_stream_is_accepted(stack: LocalAws, creds: Credentials, app: str) -> None:
    url, signer = _stream(stack, creds, app)
    result = asyncio.run(exchange(url, chat_input_frames(signer, user_message=QUESTION)))
    assert result.of_type("metadataEvent")
    assert result.close_code == 1000


def test_malformed_frame_is_refused(stack: LocalAws, creds: Credentials, app: str) -> None:
    url, signer = _stream(stack, creds, app)
    frames = chat_input_frames(signer, user_message=QUESTION)
    broken = bytearray(frames[0])
    broken[-1] ^= 0xFF  # message CRC no longer matches
    result = asyncio.run(exchange(url, [bytes(broken), *frames[1:]]))
    _refused(result, "ValidationException", "Malformed input frame")
    _still_serving(stack, creds, app)


def test_frame_over_the_size_limit_is_refused(
    stack: LocalAws, creds: Credentials, app: str
) -> None:
    """A correctly signed attachment event, just too big: only the size limit refuses it."""
    url, signer = _stream(stack, creds, app)
    frames = chat_input_frames(signer, user_message=QUESTION)[:2]  # configuration, text
    data = base64.b64encode(b"x" * (MAX_FRAME_BYTES * 3 // 4)).decode()
    attachment = {"attachment": {"name": "big.txt", "data": data}}
    frames.append(signer.sign(encode_event("attachmentEvent", attachment)))
    assert len(frames[-1]) > MAX_FRAME_BYTES
    result = asyncio.run(exchange(url, frames))
    _refused(result, "ValidationException", f"limited to {MAX_FRAME_BYTES} bytes")
    _still_serving(stack, creds, app)


def test_text_event_before_configuration_is_refused(
    stack: LocalAws, creds: Credentials, app: str
) -> None:
    url, signer = _stream(stack, creds, app)
    frames = [
        signer.sign(encode_event("textEvent", {"userMessage": QUESTION})),
        signer.sign(encode_event("configurationEvent", {"chatMode": "RETRIEVAL_MODE"})),
        signer.sign(encode_event("endOfInputEvent", {})),
    ]
    result = asyncio.run(exchange(url, frames))
    _refused(result, "ValidationException", "configurationEvent must come before the textEvent")


@pytest.fixture
def paced() -> Iterator[LocalAws]:
    """Text events 100 ms apart, so input sent after the end surely arrives mid-answer."""
    with LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0, stream_delay_ms=100)) as s:
        yield s


def test_input_after_end_of_input_is_refused(paced: LocalAws) -> None:
    app = ready_application(paced, DOCS)
    creds = credentials_of(user_session(paced, "late-input@example.com"))
    stream_turn(paced, creds, app, "hello")  # subscribe
    url, signer = _stream(paced, creds, app)
    frames = chat_input_frames(signer, user_message=QUESTION)
    frames.append(signer.sign(encode_event("textEvent", {"userMessage": "one more"})))
    result = asyncio.run(exchange(url, frames))
    _refused(result, "ValidationException", "No input event may follow the endOfInputEvent")


def test_broken_signature_chain_is_refused(stack: LocalAws, creds: Credentials, app: str) -> None:
    """The text event is signed with the right key and time but chained from the URL's
    signature instead of the configuration event's."""
    url, seed = presigned(stack, creds, app)
    signer = EventSigner(creds, region=REGION, seed_signature=seed)
    config = signer.sign(encode_event("configurationEvent", {"chatMode": "RETRIEVAL_MODE"}))
    rechained = EventSigner(creds, region=REGION, seed_signature=seed)
    text = rechained.sign(encode_event("textEvent", {"userMessage": QUESTION}))
    end = rechained.sign(encode_event("endOfInputEvent", {}))
    result = asyncio.run(exchange(url, [config, text, end]))
    _refused(result, "InvalidSignatureException", SIGNATURE_MISMATCH)
    _still_serving(stack, creds, app)


def test_replayed_frame_is_refused(stack: LocalAws, creds: Credentials, app: str) -> None:
    url, signer = _stream(stack, creds, app)
    frames = chat_input_frames(signer, user_message=QUESTION)
    result = asyncio.run(exchange(url, [frames[0], frames[0], *frames[1:]]))
    _refused(result, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_frame_signed_with_another_secret_is_refused(
    stack: LocalAws, creds: Credentials, app: str
) -> None:
    url, seed = presigned(stack, creds, app)
    now = datetime.now(UTC).replace(microsecond=0)
    inner = encode_event("configurationEvent", {"chatMode": "RETRIEVAL_MODE"})
    signature = envelope_signature(
        secret_access_key="attacker-secret", region=REGION, signed_at=now,
        prior_signature=seed, payload=inner,
    )  # fmt: skip
    frame = encode_message({":date": now, ":chunk-signature": bytes.fromhex(signature)}, inner)
    result = asyncio.run(exchange(url, [frame]))
    _refused(result, "InvalidSignatureException", SIGNATURE_MISMATCH)


def test_expired_presigned_url_is_refused(stack: LocalAws, creds: Credentials, app: str) -> None:
    signed_at = datetime.now(UTC) - timedelta(minutes=16)
    url, seed = presigned(stack, creds, app, expires_seconds=900, signed_at=signed_at)
    signer = EventSigner(creds, region=REGION, seed_signature=seed)
    result = asyncio.run(exchange(url, chat_input_frames(signer, user_message=QUESTION)))
    _refused(result, "InvalidSignatureException", "Signature expired")
    _still_serving(stack, creds, app)


def test_non_binary_message_is_refused(stack: LocalAws, creds: Credentials, app: str) -> None:
    url, _signer = _stream(stack, creds, app)
    result = asyncio.run(exchange(url, ['{"userMessage": "hi"}']))
    _refused(result, "ValidationException", "must be binary")
    _still_serving(stack, creds, app)


def test_event_with_the_wrong_content_type_is_refused(
    stack: LocalAws, creds: Credentials, app: str
) -> None:
    url, signer = _stream(stack, creds, app)
    config = encode_event(
        "configurationEvent", {"chatMode": "RETRIEVAL_MODE"}, content_type="text/plain"
    )
    result = asyncio.run(exchange(url, [signer.sign(config)]))
    _refused(result, "ValidationException", "application/x-amz-json-1.0")
