"""Streaming chat over WebSocket: ``GET /chat``, the protocol AWS documents for custom apps.

A turn, as AWS's endpoint (``wss://qbusiness-websocket.<region>.api.aws/chat``) runs it:

1. The upgrade request is presigned with SigV4 (service ``qbusiness``, ``X-Amz-*`` in the
   query, session token inside it, ``SignedHeaders=host``) and carries ``chat-input``
   (JSON: ``applicationId``, ``userID``, ``userGroups``, ``conversationId``,
   ``parentMessageId``, ``clientToken``). It is verified by the same
   :class:`~qbizfed.local.sigv4.SigV4Verifier` as every other request. A request that
   cannot be attributed (missing, malformed or wrong signature, unknown token) is
   refused before the upgrade, with AWS's error code in ``x-amzn-ErrorType``. An
   *expired* URL or session token is accepted and answered with an exception frame
   (``InvalidSignatureException`` / ``ExpiredTokenException``) then close 1011, so a
   browser client (which cannot read a refused upgrade) learns to refresh.
2. Each WebSocket message is one binary event-stream message: a signed envelope
   (``:date``, ``:chunk-signature`` chained from the URL's signature) around an input
   event (``configurationEvent`` first, ``textEvent``, ``attachmentEvent``...,
   ``endOfInputEvent``). See :mod:`qbizfed.aws.event_stream`.
3. The turn runs in :func:`qbizfed.local.qbusiness.data_plane.chat_turn`, ChatSync's own
   code, with the same identity, subscription, ACL and conversation rules; a streamed
   turn and a ChatSync turn are interchangeable in one conversation.
4. Output: ``textEvent`` messages carrying ``systemMessage`` deltas (``--stream-delay-ms``
   apart), then a ``metadataEvent`` (``finalTextMessage``, ``sourceAttributions``,
   ``conversationId``, ``userMessageId``, ``systemMessageId``), then close 1000.
   Errors are ``:message-type: exception`` messages (JSON ``{"message": ...}``) then
   close 1011; nothing a client sends crashes the handler.

Stream faults (``FaultInjector.decide_stream``) close the connection (1001), send an
exception frame, or stall, after N output events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from qbizfed.aws.event_stream import (
    INPUT_CONTENT_TYPE,
    OUTPUT_CONTENT_TYPE,
    EventMessage,
    EventStreamError,
    decode_message,
    encode_exception,
    encode_message,
    envelope_signature,
    open_envelope,
)
from qbizfed.local.faults import FaultInjector, FaultKind, FaultRule
from qbizfed.local.qbusiness import data_plane
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError
from qbizfed.local.qbusiness.operations import OperationContext
from qbizfed.local.qbusiness.protocol import decode_json_value, encode_json_value, validate_input
from qbizfed.local.qbusiness.routing import service_model
from qbizfed.local.qbusiness.service import QBusinessEmulator
from qbizfed.local.sigv4 import MAX_SKEW, SIGNATURE_MISMATCH, SignatureError
from qbizfed.local.transports import Receive, Scope, Send, refuse_upgrade

logger = logging.getLogger(__name__)

CHAT_PATH = "/chat"
OPERATION = "Chat"
MAX_FRAME_BYTES = 16 * 1024 * 1024
"""Largest WebSocket message accepted: an attachment event carries up to 10 MB,
base64-encoded. Larger frames get a ValidationException."""
INPUT_IDLE_SECONDS = 60.0
"""How long the stream waits for the next input event before giving up."""
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_ERROR = 1011
CLOSE_WAIT_SECONDS = 2.0
"""How long the server waits for the client's answer to its close frame."""
DELTA_WORDS = 3
"""Words per text event: small enough that clients see progressive rendering."""
MAX_ATTACHMENTS = data_plane.MAX_ATTACHMENTS


@dataclass(frozen=True)
class StreamSettings:
    delay_seconds: float = 0.0
    """Pause between text events (``--stream-delay-ms``)."""


class StreamRefusalError(Exception):
    """Ends the stream with an exception frame and close 1011."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message


class _DisconnectedError(Exception):
    """The client went away: nothing more to send."""


def _validation(message: str) -> StreamRefusalError:
    return StreamRefusalError("ValidationException", message)


def upgrade_request(scope: Scope) -> Request:
    """The upgrade as a werkzeug request, raw path and query kept for SigV4."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    environ = EnvironBuilder(
        path=scope["path"], query_string=query, headers=headers, method="GET"
    ).get_environ()
    raw_path = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    environ["RAW_URI"] = raw_path + (f"?{query}" if query else "")
    return Request(environ)


def _deferred(error: SignatureError) -> bool:
    """Time-based refusals are reported in-stream (the client must refresh), the rest
    refuse the upgrade."""
    return error.code == "ExpiredTokenException" or error.message.startswith("Signature expired")


def _labels(request: Request) -> dict[str, str]:
    """The URI labels of ``Chat`` (its application), named by the ``chat-input``."""
    return {"applicationId": chat_params(request.args.get("chat-input", ""))["applicationId"]}


def chat_params(chat_input: str) -> dict[str, Any]:
    """``chat-input`` JSON -> the ChatSync input members it stands for."""
    try:
        value = json.loads(chat_input)
    except (ValueError, RecursionError) as exc:
        raise _validation("The chat-input query parameter is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise _validation("The chat-input query parameter must be a JSON object.")
    names = {
        "applicationId": "applicationId",
        "userID": "userId",
        "userId": "userId",
        "userGroups": "userGroups",
        "conversationId": "conversationId",
        "parentMessageId": "parentMessageId",
        "clientToken": "clientToken",
    }
    params = {names[k]: v for k, v in value.items() if k in names and v is not None}
    if not isinstance(params.get("applicationId"), str):
        raise _validation("chat-input must name the applicationId (a string).")
    return params


def _text_deltas(message: str) -> list[str]:
    """``message`` in pieces of a few words; the pieces concatenate to it exactly."""
    pieces: list[str] = []
    words = message.split(" ")
    for start in range(0, len(words), DELTA_WORDS):
        chunk = " ".join(words[start : start + DELTA_WORDS])
        pieces.append(chunk if start + DELTA_WORDS >= len(words) else chunk + " ")
    return [p for p in pieces if p] or [message]


def _output_event(event_type: str, body: Mapping[str, Any]) -> bytes:
    return encode_message(
        {":message-type": "event", ":event-type": event_type, ":content-type": OUTPUT_CONTENT_TYPE},
        json.dumps(body).encode(),
    )


class _InputChain:
    """Verifies the signed envelopes and the order of input events."""

    def __init__(
        self, *, secret: str, region: str, seed: str, clock: Callable[[], datetime]
    ) -> None:
        self._secret = secret
        self._region = region
        self._prior = seed
        self._clock = clock
        self.configuration: dict[str, Any] | None = None
        self.user_message: str | None = None
        self.attachments: list[Any] = []
        self.ended = False

    def accept(self, frame: bytes) -> None:
        """One WebSocket message of input; raises StreamRefusalError when it is refused."""
        if len(frame) > MAX_FRAME_BYTES:
            raise _validation(
                f"The frame is {len(frame)} bytes; frames are limited to {MAX_FRAME_BYTES} bytes."
            )
        try:
            envelope = open_envelope(decode_message(frame))
        except EventStreamError as exc:
            raise _validation(f"Malformed input frame: {exc.message}") from exc
        now = self._clock()
        if abs(now - envelope.signed_at) > MAX_SKEW:
            raise StreamRefusalError(
                "InvalidSignatureException",
                "Signature expired: the event's :date is more than 15 minutes from now.",
            )
        expected = envelope_signature(
            secret_access_key=self._secret,
            region=self._region,
            signed_at=envelope.signed_at,
            prior_signature=self._prior,
            payload=envelope.payload,
        )
        if not hmac.compare_digest(expected, envelope.signature):
            raise StreamRefusalError("InvalidSignatureException", SIGNATURE_MISMATCH)
        self._prior = envelope.signature
        if not envelope.payload:  # the SDKs' signed empty frame: end of the stream
            if not self.ended:
                raise _validation("The input stream ended before an endOfInputEvent.")
            return
        if self.ended:
            raise _validation("No input event may follow the endOfInputEvent.")
        try:
            event = decode_message(envelope.payload)
            body = event.json()
        except EventStreamError as exc:
            raise _validation(f"Malformed input event: {exc.message}") from exc
        self._event(event, body)

    def _event(self, event: EventMessage, body: dict[str, Any]) -> None:
        if event.message_type != "event":
            raise _validation(f"Input messages must be events, not {event.message_type!r}.")
        if event.headers.get(":content-type") != INPUT_CONTENT_TYPE:
            raise _validation(f"Input events must have :content-type {INPUT_CONTENT_TYPE}.")
        kind = event.event_type
        if kind == "configurationEvent":
            if self.configuration is not None:
                raise _validation("Only one configurationEvent may be sent.")
            self.configuration = body
            return
        if self.configuration is None:
            raise _validation(f"The configurationEvent must come before the {kind or 'event'}.")
        if kind == "textEvent":
            if self.user_message is not None:
                raise _validation("Only one textEvent may be sent in a turn.")
            message = body.get("userMessage")
            if not isinstance(message, str):
                raise _validation("The textEvent needs a userMessage string.")
            self.user_message = message
        elif kind == "attachmentEvent":
            if len(self.attachments) >= MAX_ATTACHMENTS:
                raise _validation(f"At most {MAX_ATTACHMENTS} attachments can be sent in a turn.")
            self.attachments.append(body.get("attachment"))
        elif kind == "endOfInputEvent":
            if self.user_message is None:
                raise _validation("The endOfInputEvent came before any textEvent.")
            self.ended = True
        elif kind in ("actionExecutionEvent", "authChallengeResponseEvent"):
            raise _validation("Plugins are not available in qbizfed local.")
        else:
            raise _validation(f"Unknown input event type {kind!r}.")


class ChatStreamEndpoint:
    """The ASGI WebSocket handler for ``GET /chat``."""

    def __init__(
        self,
        *,
        emulator: QBusinessEmulator,
        faults: FaultInjector,
        settings: StreamSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._emulator = emulator
        self._faults = faults
        self._settings = settings
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connect = await receive()
        if connect.get("type") != "websocket.connect":
            return
        decision = self._faults.decide("qbusiness", OPERATION)
        if decision.delay_seconds:
            await asyncio.sleep(decision.delay_seconds)
        if decision.outcome is FaultKind.THROTTLE:
            await refuse_upgrade(
                send, 429, "ThrottlingException", "Rate exceeded (injected by qbizfed local)"
            )
            return
        if decision.outcome is FaultKind.ERROR:
            await refuse_upgrade(
                send, 500, "InternalServerException", "Internal error (injected by qbizfed local)"
            )
            return
        request = upgrade_request(scope)
        deferred: StreamRefusalError | None = None
        ctx: OperationContext | None = None
        try:
            ctx = await asyncio.to_thread(
                self._emulator.open_stream, request, OPERATION, lambda: _labels(request)
            )
        except SignatureError as exc:
            if not _deferred(exc):
                await refuse_upgrade(send, exc.status, exc.code, exc.message)
                return
            deferred = StreamRefusalError(exc.code, exc.message)
        except DataPlaneError as exc:
            deferred = StreamRefusalError(exc.code, exc.message)
        except Exception:
            logger.exception("streaming chat upgrade failed")
            await refuse_upgrade(
                send, 500, "InternalServerException", "An internal error occurred."
            )
            return
        await send({"type": "websocket.accept"})
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        reader = asyncio.create_task(self._read(receive, inbox))
        try:
            if deferred is not None:
                raise deferred
            assert ctx is not None
            await self._turn(ctx, request, inbox, send)
        except StreamRefusalError as refusal:
            await self._fail(send, refusal)
        except _DisconnectedError:
            pass
        except Exception:
            logger.exception("streaming chat failed")
            await self._fail(
                send,
                StreamRefusalError(
                    "InternalServerException",
                    "An internal error occurred in the qbizfed local Q Business emulator.",
                ),
            )
        finally:
            await self._await_disconnect(inbox)
            reader.cancel()

    @staticmethod
    async def _await_disconnect(inbox: asyncio.Queue[dict[str, Any]]) -> None:
        """Finish the closing handshake: leaving before the client's close frame would
        drop the connection with unread input, and the client would lose the frames
        (the exception message) sent just before the close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT_SECONDS):
                while (await inbox.get()).get("type") != "websocket.disconnect":
                    pass

    @staticmethod
    async def _read(receive: Receive, inbox: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await receive()
            await inbox.put(message)
            if message.get("type") == "websocket.disconnect":
                return

    @staticmethod
    async def _send(send: Send, message: dict[str, Any]) -> None:
        try:
            await send(message)
        except Exception as exc:  # the client has gone; stop quietly
            raise _DisconnectedError() from exc

    async def _fail(self, send: Send, refusal: StreamRefusalError) -> None:
        try:
            await send(
                {
                    "type": "websocket.send",
                    "bytes": encode_exception(refusal.exception_type, refusal.message),
                }
            )
            await send({"type": "websocket.close", "code": CLOSE_ERROR})
        except Exception:  # the client has gone
            return

    @staticmethod
    def _frame(message: dict[str, Any]) -> bytes:
        if message.get("type") == "websocket.disconnect":
            raise _DisconnectedError()
        data = message.get("bytes")
        if data is None:
            raise _validation("Input frames must be binary WebSocket messages (event-stream).")
        return bytes(data)

    async def _turn(
        self,
        ctx: OperationContext,
        request: Request,
        inbox: asyncio.Queue[dict[str, Any]],
        send: Send,
    ) -> None:
        params = chat_params(request.args.get("chat-input", ""))
        session = ctx.caller.session
        assert session is not None  # Access.USER: a federated session
        email = session.email or ""
        # AWS's sample sends the user's email as userID; it may only name the caller.
        if str(params.get("userId", email)).lower() == email.lower():
            params.pop("userId", None)
        chain = _InputChain(
            secret=session.secret_access_key,
            region=ctx.caller.region,
            seed=request.args.get("X-Amz-Signature", ""),
            clock=self._clock,
        )
        while not chain.ended:
            try:
                message = await asyncio.wait_for(inbox.get(), INPUT_IDLE_SECONDS)
            except TimeoutError as exc:
                raise _validation(f"No input event for {INPUT_IDLE_SECONDS:.0f} seconds.") from exc
            chain.accept(self._frame(message))
        params.update(self._turn_input(chain))
        model = service_model().operation_model("ChatSync")
        try:
            params = decode_json_value(params, model.input_shape, "")
            validate_input(model, params)
            result = await asyncio.to_thread(
                data_plane.chat_turn, dataclasses.replace(ctx, now=self._clock()), params
            )
        except DataPlaneError as exc:
            raise StreamRefusalError(exc.code, exc.message) from exc
        await self._stream(result, chain, inbox, send)

    @staticmethod
    def _turn_input(chain: _InputChain) -> dict[str, Any]:
        config = chain.configuration or {}
        turn: dict[str, Any] = {"userMessage": chain.user_message}
        for key in ("chatMode", "attributeFilter"):
            if config.get(key) is not None:
                turn[key] = config[key]
        if chain.attachments:
            turn["attachments"] = chain.attachments
        return turn

    async def _stream(
        self,
        result: Mapping[str, Any],
        chain: _InputChain,
        inbox: asyncio.Queue[dict[str, Any]],
        send: Send,
    ) -> None:
        faults = self._faults.decide_stream("qbusiness", OPERATION)
        ids = {
            "conversationId": result["conversationId"],
            "userMessageId": result["userMessageId"],
            "systemMessageId": result["systemMessageId"],
        }
        metadata_shape = service_model().shape_for("MetadataEvent")
        events = [
            _output_event(
                "textEvent", {"systemMessageType": "RESPONSE", **ids, "systemMessage": delta}
            )
            for delta in _text_deltas(str(result["systemMessage"]))
        ]
        # Attachments the turn could not use (turn_rules), as the model's
        # FailedAttachmentEvent, before the metadata that ends the turn.
        events.extend(
            _output_event("failedAttachmentEvent", {**ids, "attachment": failed})
            for failed in result.get("failedAttachments") or []
        )
        events.append(
            _output_event(
                "metadataEvent",
                encode_json_value(
                    {
                        **ids,
                        "sourceAttributions": result["sourceAttributions"],
                        "finalTextMessage": result["systemMessage"],
                    },
                    metadata_shape,
                ),
            )
        )
        for sent, frame in enumerate(events):
            await self._apply_faults(faults, sent, send)
            self._check_inbox(chain, inbox)
            if sent and self._settings.delay_seconds:
                await asyncio.sleep(self._settings.delay_seconds)
            await self._send(send, {"type": "websocket.send", "bytes": frame})
        await self._send(send, {"type": "websocket.close", "code": CLOSE_NORMAL})

    async def _apply_faults(self, faults: list[FaultRule], sent: int, send: Send) -> None:
        for rule in faults:
            if rule.after_events != sent:
                continue
            if rule.kind is FaultKind.STREAM_STALL:
                await asyncio.sleep(rule.stall_seconds)
            elif rule.kind is FaultKind.STREAM_EXCEPTION:
                raise StreamRefusalError(
                    rule.exception_type, f"{rule.exception_type} (injected by qbizfed local)"
                )
            elif rule.kind is FaultKind.STREAM_CLOSE:
                await self._send(send, {"type": "websocket.close", "code": CLOSE_GOING_AWAY})
                raise _DisconnectedError()

    def _check_inbox(self, chain: _InputChain, inbox: asyncio.Queue[dict[str, Any]]) -> None:
        """Input that arrives while the answer streams is still checked."""
        while not inbox.empty():
            message = inbox.get_nowait()
            if message.get("type") == "websocket.disconnect":
                raise _DisconnectedError()
            chain.accept(self._frame(message))
