"""AWS event-stream messages and the signed input stream of Q Business streaming chat.

Streaming ``Chat`` (AWS's ``wss://qbusiness-websocket.<region>.api.aws/chat``, and
``qbizfed local aws``'s ``ws://127.0.0.1:<port>/chat``) carries one binary AWS
event-stream message per WebSocket message in both directions. This module is the one
place that knows that wire format; the local stack's server side
(``qbizfed.local.qbusiness.streaming``) and the chat library's streaming client use it.

Wire format (``application/vnd.amazon.eventstream``): a 12-byte prelude (total length,
headers length, CRC32 of those 8 bytes), typed headers, the payload, CRC32 of all that
precedes. Parsing is botocore's (``botocore.eventstream``: lengths, CRCs, header
types); encoding is the mirror image, checked against botocore's parser in the tests.

Signing (what every AWS SDK does for input event streams, the "AWS4-HMAC-SHA256-PAYLOAD"
algorithm): each input event (an encoded message with ``:message-type: event``,
``:event-type`` and ``:content-type: application/x-amz-json-1.0``) travels as the
*payload* of an envelope message whose headers are ``:date`` (timestamp, the signing
time) and ``:chunk-signature`` (32 bytes)::

    string_to_sign = "AWS4-HMAC-SHA256-PAYLOAD" \\n <yyyymmddThhmmssZ> \\n <credential scope> \\n
                     <prior signature, hex> \\n hex(sha256(<encoded :date header>)) \\n
                     hex(sha256(<payload>))
    signature      = HMAC(SigV4 signing key of that date/region/service, string_to_sign)

The first prior signature is the ``X-Amz-Signature`` of the presigned URL; each next
one is the previous event's. The HMAC and key derivation are botocore's
(``SigV4Auth.signature``); nothing here re-implements SigV4.

Public API (stable; the chat library builds on it):

* :class:`ChatInput` - the ``chat-input`` query parameter (``applicationId``, ``userID``,
  ``userGroups``, ``conversationId``, ``parentMessageId``, ``clientToken``).
* :func:`presign_chat_url` -> :class:`PresignedChat` (``url``, ``signature``): the
  ``GET /chat`` URL presigned with SigV4 query auth (service ``qbusiness``,
  ``SignedHeaders=host``, session token inside the signed query); ``endpoint_url`` may
  be ``https``/``wss`` (AWS) or ``http``/``ws`` (local), the URL returned is ``wss``/``ws``.
* :class:`EventSigner` - ``sign(inner_message) -> envelope bytes``; keeps the chain.
  :func:`chat_input_frames` encodes and signs a whole turn (configuration, text,
  attachments, end of input).
* :func:`encode_message`, :func:`encode_event`, :func:`encode_exception` - messages.
* :func:`decode_message` -> :class:`EventMessage` (raises :class:`EventStreamError`).
* :func:`envelope_signature` / :func:`open_envelope` - what a server needs to verify
  the chain (:class:`SignedEnvelope`).
* :func:`decode_output` -> :class:`OutputEvent` (``textEvent``, ``metadataEvent``, ...)
  or raises :class:`StreamExceptionError` (``code`` = ``:exception-type``) for an
  exception message; :func:`iter_outputs` decodes a sequence of frames.
* :func:`websocket_endpoint` - AWS's ``wss://qbusiness-websocket.<region>.api.aws``.

A turn, client side::

    chat = presign_chat_url(endpoint, creds, region=region, chat_input=ChatInput(app_id))
    signer = EventSigner(creds, region=region, seed_signature=chat.signature)
    for frame in chat_input_frames(signer, user_message="..."):
        ...  # send as a binary WebSocket message to chat.url
    ...  # decode_output(each message received): textEvent deltas, then metadataEvent
"""

from __future__ import annotations

import binascii
import hashlib
import json
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError

from qbizfed.errors import AwsError

SERVICE = "qbusiness"
CHAT_PATH = "/chat"
INPUT_CONTENT_TYPE = "application/x-amz-json-1.0"
OUTPUT_CONTENT_TYPE = "application/json"
PAYLOAD_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
DEFAULT_EXPIRES_SECONDS = 900
"""What AWS's sample client asks for: 15 minutes."""

HeaderValue = str | bytes | bool | int | datetime
"""str -> string (7), bytes -> byte array (6), bool -> true/false (0/1), int -> int32
(4), datetime -> timestamp (8, milliseconds since the epoch)."""

_PRELUDE = struct.Struct("!II")
_CRC = struct.Struct("!I")
_PRELUDE_LENGTH = 12
_CRC_LENGTH = 4


class EventStreamError(AwsError):
    """Bytes that are not one well-formed event-stream message, or a bad envelope."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            remedy="send one complete AWS event-stream message per WebSocket message "
            "(prelude, headers, payload, CRCs), signed as AWS SDKs sign input events",
        )


class StreamExceptionError(AwsError):
    """An exception message from the service (``:message-type: exception``)."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(
            f"{exception_type}: {message}", code=exception_type, remedy="see the service's message"
        )
        self.exception_type = exception_type
        self.service_message = message


# ------------------------------------------------------------------------------ messages


def _header_bytes(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    if not 0 < len(raw_name) < 256:
        raise EventStreamError(f"header name {name!r} must be 1..255 bytes")
    head = struct.pack("!B", len(raw_name)) + raw_name
    if isinstance(value, bool):  # before int: bool is an int
        return head + struct.pack("!B", 0 if value else 1)
    if isinstance(value, int):
        return head + struct.pack("!Bi", 4, value)
    if isinstance(value, datetime):
        millis = int(value.timestamp() * 1000)
        return head + struct.pack("!Bq", 8, millis)
    data, kind = (value, 6) if isinstance(value, bytes) else (value.encode("utf-8"), 7)
    if len(data) > 0xFFFF:
        raise EventStreamError(f"header {name!r} is longer than 65535 bytes")
    return head + struct.pack("!BH", kind, len(data)) + data


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    """The headers section of a message, in the mapping's order."""
    return b"".join(_header_bytes(name, value) for name, value in headers.items())


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One complete event-stream message."""
    header_bytes = encode_headers(headers)
    total = _PRELUDE_LENGTH + len(header_bytes) + len(payload) + _CRC_LENGTH
    prelude = _PRELUDE.pack(total, len(header_bytes))
    prelude += _CRC.pack(binascii.crc32(prelude))
    body = prelude + header_bytes + payload
    return body + _CRC.pack(binascii.crc32(body))


@dataclass(frozen=True)
class EventMessage:
    """A parsed message. Timestamp headers come back as int milliseconds (botocore)."""

    headers: Mapping[str, Any]
    payload: bytes = field(repr=False)

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", ""))

    @property
    def event_type(self) -> str:
        return str(self.headers.get(":event-type", ""))

    @property
    def exception_type(self) -> str:
        return str(self.headers.get(":exception-type", ""))

    def json(self) -> dict[str, Any]:
        """The payload as a JSON object (empty payload: ``{}``)."""
        if not self.payload:
            return {}
        try:
            value = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventStreamError(
                f"the {self.event_type or 'message'} payload is not JSON"
            ) from exc
        if not isinstance(value, dict):
            raise EventStreamError(f"the {self.event_type or 'message'} payload is not an object")
        return value


def decode_message(data: bytes) -> EventMessage:
    """Exactly one message from ``data`` (botocore checks lengths, CRCs and headers)."""
    if len(data) < _PRELUDE_LENGTH + _CRC_LENGTH:
        raise EventStreamError(f"{len(data)} bytes is shorter than an event-stream message")
    total = _PRELUDE.unpack_from(data)[0]
    if total != len(data):
        raise EventStreamError(
            f"the message prelude says {total} bytes but the frame holds {len(data)}"
        )
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    try:
        messages = list(buffer)
    except ParserError as exc:
        raise EventStreamError(f"malformed event-stream message: {exc}") from exc
    except (struct.error, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise EventStreamError(f"malformed event-stream headers: {exc!r}") from exc
    if len(messages) != 1:
        raise EventStreamError("the frame does not hold exactly one event-stream message")
    message = messages[0]
    return EventMessage(headers=dict(message.headers), payload=bytes(message.payload))


def encode_event(
    event_type: str, body: Mapping[str, Any], *, content_type: str = INPUT_CONTENT_TYPE
) -> bytes:
    """An event message with a JSON body (input events use ``INPUT_CONTENT_TYPE``)."""
    return encode_message(
        {":message-type": "event", ":event-type": event_type, ":content-type": content_type},
        json.dumps(body, separators=(",", ":")).encode(),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    """An exception message as AWS sends it before closing the stream."""
    return encode_message(
        {
            ":message-type": "exception",
            ":exception-type": exception_type,
            ":content-type": OUTPUT_CONTENT_TYPE,
        },
        json.dumps({"message": message}).encode(),
    )


# ------------------------------------------------------------------------------ signing


def _scope_request(signed_at: datetime) -> AWSRequest:
    """botocore's signer reads the signing date from the request context."""
    request = AWSRequest(method="GET", url="https://localhost/")
    request.context["timestamp"] = signed_at.astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    return request


def envelope_signature(
    *,
    secret_access_key: str,
    region: str,
    signed_at: datetime,
    prior_signature: str,
    payload: bytes,
    service: str = SERVICE,
) -> str:
    """The hex ``:chunk-signature`` of an envelope carrying ``payload`` signed at
    ``signed_at`` (whole seconds), chained from ``prior_signature``."""
    request = _scope_request(signed_at)
    signer = SigV4Auth(Credentials("event-signer", secret_access_key), service, region)
    date_header = encode_headers({":date": signed_at})
    string_to_sign = "\n".join(
        [
            PAYLOAD_ALGORITHM,
            request.context["timestamp"],
            signer.credential_scope(request),
            prior_signature,
            hashlib.sha256(date_header).hexdigest(),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    return str(signer.signature(string_to_sign, request))


@dataclass(frozen=True)
class SignedEnvelope:
    """A received envelope, parsed but not yet verified."""

    signed_at: datetime
    signature: str
    payload: bytes = field(repr=False)


def open_envelope(message: EventMessage) -> SignedEnvelope:
    """The ``:date``, ``:chunk-signature`` and payload of an envelope message."""
    date = message.headers.get(":date")
    signature = message.headers.get(":chunk-signature")
    if not isinstance(date, int) or isinstance(date, bool):
        raise EventStreamError("the envelope has no ':date' timestamp header")
    if not isinstance(signature, bytes) or len(signature) != 32:
        raise EventStreamError("the envelope has no 32-byte ':chunk-signature' header")
    try:
        signed_at = datetime.fromtimestamp(date / 1000, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise EventStreamError("the envelope's ':date' is not a valid time") from exc
    return SignedEnvelope(signed_at=signed_at, signature=signature.hex(), payload=message.payload)


class EventSigner:
    """Signs input events into envelopes, chaining each signature from the last."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        region: str,
        seed_signature: str,
        service: str = SERVICE,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        self.prior_signature = seed_signature

    def sign(self, inner_message: bytes, *, signed_at: datetime | None = None) -> bytes:
        """The envelope for ``inner_message`` (an encoded event, or b"" to end the stream)."""
        when = (signed_at or datetime.now(UTC)).replace(microsecond=0)
        frozen = self._credentials.get_frozen_credentials()
        signature = envelope_signature(
            secret_access_key=frozen.secret_key,
            region=self._region,
            signed_at=when,
            prior_signature=self.prior_signature,
            payload=inner_message,
            service=self._service,
        )
        self.prior_signature = signature
        return encode_message(
            {":date": when, ":chunk-signature": bytes.fromhex(signature)}, inner_message
        )


# ------------------------------------------------------------------------------ the chat URL


@dataclass(frozen=True)
class ChatInput:
    """The ``chat-input`` query parameter, as AWS's sample client sends it."""

    application_id: str
    user_id: str | None = None
    user_groups: tuple[str, ...] | None = None
    conversation_id: str | None = None
    parent_message_id: str | None = None
    client_token: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> str:
        return json.dumps(
            {
                "applicationId": self.application_id,
                "userID": self.user_id,
                "userGroups": list(self.user_groups) if self.user_groups is not None else None,
                "conversationId": self.conversation_id,
                "parentMessageId": self.parent_message_id,
                "clientToken": self.client_token,
            }
        )


@dataclass(frozen=True)
class PresignedChat:
    url: str = field(repr=False)
    """Carries the session token: never log it."""
    signature: str = field(repr=False)
    """The seed of the input events' signature chain."""


def websocket_endpoint(region: str) -> str:
    """AWS's streaming chat endpoint for a region."""
    return f"wss://qbusiness-websocket.{region}.api.aws"


def presign_chat_url(
    endpoint_url: str,
    credentials: Credentials,
    *,
    region: str,
    chat_input: ChatInput,
    expires_seconds: int = DEFAULT_EXPIRES_SECONDS,
    signed_at: datetime | None = None,
) -> PresignedChat:
    """``GET /chat?chat-input=...`` presigned with SigV4 query auth (botocore's signer)."""
    parts = urlsplit(endpoint_url)
    secure = parts.scheme in ("https", "wss")
    http_url = (
        urlunsplit(("https" if secure else "http", parts.netloc, CHAT_PATH, "", ""))
        + "?"
        + urlencode({"chat-input": chat_input.to_json()})
    )
    request = AWSRequest(method="GET", url=http_url)
    signer = SigV4QueryAuth(credentials, SERVICE, region, expires=expires_seconds)
    # SigV4QueryAuth.add_auth with an injectable signing time (for expiry tests).
    when = (signed_at or datetime.now(UTC)).astimezone(UTC)
    request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = str(signer.signature(signer.string_to_sign(request, canonical), request))
    signer._inject_signature_to_request(request, signature)
    signed = urlsplit(request.url)
    url = urlunsplit(("wss" if secure else "ws", signed.netloc, signed.path, signed.query, ""))
    return PresignedChat(url=url, signature=signature)


# ------------------------------------------------------------------------------ a turn


def chat_input_frames(
    signer: EventSigner,
    *,
    user_message: str,
    chat_mode: str = "RETRIEVAL_MODE",
    attribute_filter: Mapping[str, Any] | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    signed_at: datetime | None = None,
) -> list[bytes]:
    """The signed frames of one turn: configuration, text, attachments, end of input."""
    configuration: dict[str, Any] = {"chatMode": chat_mode}
    if attribute_filter:
        configuration["attributeFilter"] = dict(attribute_filter)
    events: list[tuple[str, Mapping[str, Any]]] = [
        ("configurationEvent", configuration),
        ("textEvent", {"userMessage": user_message}),
    ]
    events += [("attachmentEvent", {"attachment": dict(a)}) for a in attachments]
    events.append(("endOfInputEvent", {}))
    return [signer.sign(encode_event(name, body), signed_at=signed_at) for name, body in events]


@dataclass(frozen=True)
class OutputEvent:
    """One output event: ``textEvent`` (``systemMessage`` delta), ``metadataEvent``..."""

    event_type: str
    body: Mapping[str, Any]


def decode_output(data: bytes) -> OutputEvent:
    """An output frame; an exception message raises :class:`StreamExceptionError`."""
    message = decode_message(data)
    if message.message_type == "exception":
        body = message.json()
        raise StreamExceptionError(message.exception_type, str(body.get("message", "")))
    if message.message_type != "event":
        raise EventStreamError(f"unexpected :message-type {message.message_type!r}")
    return OutputEvent(event_type=message.event_type, body=message.json())


def iter_outputs(frames: Iterable[bytes]) -> Iterable[OutputEvent]:
    """Decode frames in order (stops by raising at the first exception message)."""
    for frame in frames:
        yield decode_output(frame)
