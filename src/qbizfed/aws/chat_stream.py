"""Streamed Q Business answers over AWS's WebSocket chat endpoint.

boto3 cannot stream Q Business answers (botocore removes the ``Chat`` operation: it
needs HTTP/2 duplex). AWS documents a WebSocket form of it for custom applications,
which this module speaks with the caller's identity-aware credentials:

1. ``GET wss://qbusiness-websocket.<region>.api.aws/chat`` with a SigV4-presigned query
   (``chat-input`` JSON: application, conversation, parent message, client token),
   or the same path on ``AWS_ENDPOINT_URL`` (a loopback ``http://`` endpoint means
   ``ws://`` on its port, which is how ``qbizfed local aws`` is reached);
2. input events (``configurationEvent``, ``textEvent``, ``attachmentEvent``s,
   ``endOfInputEvent``), each an AWS event-stream message wrapped in an envelope
   signed in a chain that starts from the URL's signature
   (:mod:`qbizfed.aws.event_stream` encodes and signs them, through
   :mod:`qbizfed.aws.chat_stream_signing`);
3. output events decoded with botocore's event-stream parser against the service
   model's ``ChatOutputStream``: ``textEvent`` deltas, then ``metadataEvent`` with the
   final text and the citations. An exception message ends the turn with AWS's code.

The protocol lives in :class:`TurnReader` (no I/O), so the blocking
(:class:`ChatStream`) and asyncio (:class:`AsyncChatStream`) transports are thin
loops around it. The answer becomes a :class:`~qbizfed.aws.chat.ChatTurn` through
the same ``turn_from_response`` as ChatSync's.

Retries: the first-call "does not have a subscription" refusal and throttling are
retried while nothing has been shown yet; once text has been shown a failure is a
``ChatError`` carrying the ``partial_text`` (never a silent restart of the answer).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

from botocore.eventstream import EventStreamBuffer, EventStreamMessage
from botocore.exceptions import BotoCoreError
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import EventStreamJSONParser

from qbizfed.aws.chat import (
    SUBSCRIPTION_PENDING,
    ChatClient,
    ChatError,
    ChatTurn,
    TurnRequest,
    error_remedy,
    subscription_notice,
    turn_from_response,
)
from qbizfed.aws.event_stream import ChatInput
from qbizfed.errors import ConfigError
from qbizfed.url_policy import is_loopback_host

SERVICE: Final = "qbusiness"
STREAM_PATH: Final = "/chat"
DEFAULT_IDLE_TIMEOUT: Final = 60.0
"""Seconds without any event before a turn is abandoned as stalled."""
CONNECT_TIMEOUT: Final = 10.0
THROTTLE_RETRIES: Final = 3
THROTTLE_BACKOFF: Final = 0.5
MAX_OUTPUT_FRAME: Final = 16 * 1024 * 1024
THROTTLING_CODES: Final = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException"}
)
"""Codes meaning "try again later": retried only before the first text event."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, as soon as Q Business wrote it."""

    text: str


StreamEvent = TextDelta | ChatTurn


def stream_endpoint(endpoint_url: str | None, region: str) -> str:
    """The WebSocket URL for ``/chat``: AWS's ``qbusiness-websocket`` host, or the same
    host and port as a custom ``AWS_ENDPOINT_URL`` (``http`` only on loopback)."""
    aws_host = f"qbusiness.{region}.api.aws"
    if not endpoint_url or urlsplit(endpoint_url).hostname == aws_host:
        return f"wss://qbusiness-websocket.{region}.api.aws{STREAM_PATH}"
    parts = urlsplit(endpoint_url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        scheme = "wss"
    elif parts.scheme == "http" and is_loopback_host(host):
        scheme = "ws"
    else:
        raise ConfigError(
            f"cannot stream through {endpoint_url}: plain http is only for loopback endpoints",
            remedy="use an https:// AWS_ENDPOINT_URL, or a 127.0.0.1 one for qbizfed local aws",
        )
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return f"{scheme}://{netloc}{STREAM_PATH}"


@dataclass(frozen=True)
class StreamSettings:
    """Where a streamed turn connects and with what: made from the boto3 client the
    chat client already has, so ``AWS_ENDPOINT_URL``, the region and the credential
    chain (refreshing ones included) behave exactly as for ChatSync."""

    url: str
    region: str
    credentials: Any = field(repr=False)
    """botocore credentials (``get_frozen_credentials()`` is called per turn)."""
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    @classmethod
    def from_boto3_client(
        cls, qbusiness: Any, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    ) -> StreamSettings:
        region = str(qbusiness.meta.region_name)
        # botocore keeps a client's credentials on its request signer and offers no
        # public accessor; this is the object it signs every ChatSync call with.
        credentials = getattr(getattr(qbusiness, "_request_signer", None), "_credentials", None)
        if credentials is None:
            raise ConfigError(
                "the Q Business client has no credentials to sign a streamed turn with",
                remedy="sign in (qbizfed login) or set AWS credentials, then try again",
            )
        url = stream_endpoint(qbusiness.meta.endpoint_url, region)
        return cls(url=url, region=region, credentials=credentials, idle_timeout=idle_timeout)


def _chat_output_shape() -> Any:
    model = ServiceModel(Loader().load_service_model(SERVICE, "service-2"), SERVICE)
    return model.shape_for("ChatOutputStream")


_OUTPUT_SHAPE: Any = None


def _output_shape() -> Any:
    global _OUTPUT_SHAPE  # the model takes ~10 ms to load: once per process
    if _OUTPUT_SHAPE is None:
        _OUTPUT_SHAPE = _chat_output_shape()
    return _OUTPUT_SHAPE


class RefusedError(Exception):
    """An exception message (or refused upgrade) from the service: ``code``, ``text``."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def input_events(request: TurnRequest) -> list[tuple[str, dict[str, Any]]]:
    """The input event stream of one turn: (event type, JSON payload) in sending order."""
    configuration: dict[str, Any] = {"chatMode": request.chat_mode or "RETRIEVAL_MODE"}
    if request.chat_mode_configuration:
        configuration["chatModeConfiguration"] = dict(request.chat_mode_configuration)
    if request.attribute_filter:
        configuration["attributeFilter"] = dict(request.attribute_filter)
    events: list[tuple[str, dict[str, Any]]] = [("configurationEvent", configuration)]
    events.append(("textEvent", {"userMessage": request.message}))
    for attachment in request.attachments:
        data = base64.b64encode(attachment.data).decode("ascii")
        events.append(("attachmentEvent", {"attachment": {"name": attachment.name, "data": data}}))
    events.append(("endOfInputEvent", {}))
    return events


def chat_input(request: TurnRequest) -> ChatInput:
    """The ``chat-input`` query parameter. The user is the one of the credentials'
    session (``userID`` stays null for identity-aware credentials); a fresh client
    token per attempt."""
    return ChatInput(
        application_id=request.application_id,
        conversation_id=request.conversation_id,
        parent_message_id=request.parent_message_id if request.conversation_id else None,
    )


@dataclass
class TurnReader:
    """The output side of one connection, without I/O: frames in, events out."""

    request: TurnRequest
    retries: int = 0
    _buffer: EventStreamBuffer = field(default_factory=EventStreamBuffer)
    _parser: EventStreamJSONParser = field(default_factory=EventStreamJSONParser)
    _text: list[str] = field(default_factory=list)
    _extra: dict[str, Any] = field(default_factory=dict)
    turn: ChatTurn | None = None

    @property
    def partial_text(self) -> str:
        return "".join(self._text)

    @property
    def shown(self) -> bool:
        """Whether any text has been handed to the caller (no retry after that)."""
        return bool(self._text)

    def feed(self, frame: bytes | str) -> list[StreamEvent]:
        """One WebSocket message (one event-stream message) in; the events it carries out."""
        if isinstance(frame, str):
            raise self.failure("MalformedStream", "the service sent a text WebSocket message")
        if len(frame) > MAX_OUTPUT_FRAME:
            raise self.failure("MalformedStream", "an output frame exceeds the size limit")
        try:
            self._buffer.add_data(frame)
            messages = list(self._buffer)
        except Exception as exc:  # botocore's prelude/CRC/length errors: one family each
            raise self.failure(
                "MalformedStream",
                f"an output frame is not an event-stream message ({type(exc).__name__})",
            ) from exc
        events: list[StreamEvent] = []
        for message in messages:
            events.extend(self._event(message))
        return events

    def _event(self, message: EventStreamMessage) -> list[StreamEvent]:
        response = message.to_response_dict()
        if response["status_code"] != 200:
            raise RefusedError(*_exception_of(response))
        try:
            parsed = self._parser.parse(response, _output_shape())
        except (ValueError, BotoCoreError) as exc:
            raise self.failure(
                "MalformedStream", f"an output event does not match the service model ({exc})"
            ) from exc
        events: list[StreamEvent] = []
        for kind, body in parsed.items():
            if kind == "textEvent":
                text = str(body.get("systemMessage") or "")
                if text:
                    self._text.append(text)
                    events.append(TextDelta(text))
                self._remember_ids(body)
            elif kind == "metadataEvent":
                events.extend(self._metadata(body))
            elif kind == "failedAttachmentEvent":
                self._remember_ids(body)
                self._extra.setdefault("failedAttachments", []).append(body.get("attachment") or {})
            elif kind == "actionReviewEvent":
                self._remember_ids(body)
                self._extra["actionReview"] = body
            elif kind == "authChallengeRequestEvent":
                self._extra["authChallengeRequest"] = body
        return events

    def _remember_ids(self, body: Mapping[str, Any]) -> None:
        for key in ("conversationId", "userMessageId", "systemMessageId"):
            if body.get(key):
                self._extra[key] = body[key]

    def _metadata(self, body: Mapping[str, Any]) -> list[StreamEvent]:
        self._remember_ids(body)
        streamed = self.partial_text
        final = body.get("finalTextMessage")
        events: list[StreamEvent] = []
        # When the final text extends what was streamed, the rest is delivered as a last
        # delta. When it differs otherwise (AWS may replace a streamed answer, e.g. with
        # a GROUNDED_RESPONSE), the deltas' promise is kept: the turn's text is what was
        # shown (*unconfirmed* how AWS's own web experience resolves this).
        if isinstance(final, str) and final != streamed and final.startswith(streamed):
            rest = final[len(streamed) :]
            self._text.append(rest)
            events.append(TextDelta(rest))
        raw = {**self._extra, "systemMessage": self.partial_text,
               "sourceAttributions": body.get("sourceAttributions") or []}  # fmt: skip
        self.turn = turn_from_response(self.request.message, raw, self.retries)
        events.append(self.turn)
        return events

    def failure(self, code: str, text: str, *, remedy: str | None = None) -> ChatError:
        """The ``ChatError`` for a turn that failed now, keeping what was shown."""
        shown = f" after {len(self.partial_text)} characters of the answer" if self.shown else ""
        return ChatError(
            f"streamed chat failed{shown}: {code}: {text}",
            code=code,
            remedy=remedy or error_remedy(code, text),
            unsent_message=self.request.message,
            partial_text=self.partial_text,
        )

    def refused(self, refusal: RefusedError) -> ChatError:
        return self.failure(refusal.code, refusal.text)

    def lost(self, close_code: int | None, reason: str) -> ChatError:
        """The connection ended before the metadata event."""
        why = f"code {close_code}" + (f", {reason}" if reason else "")
        detail = f"the connection closed ({why}) before the answer was complete"
        return self.failure(
            "StreamInterrupted", detail,
            remedy="send the message again (the conversation is where it was before it)",
        )  # fmt: skip

    def stalled(self, seconds: float) -> ChatError:
        return self.failure(
            "StreamStalled", f"no event for {seconds:g} s",
            remedy="Q Business stopped answering: send the message again",
        )  # fmt: skip


def _exception_of(response: Mapping[str, Any]) -> tuple[str, str]:
    headers = response.get("headers") or {}
    code = str(headers.get(":exception-type") or headers.get(":error-code") or "UnknownError")
    text = str(headers.get(":error-message") or "")
    try:
        body = json.loads(response.get("body") or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict):
        text = str(body.get("message") or body.get("Message") or text)
    return code, text


@dataclass
class RetryPolicy:
    """What is retried, before any text was shown: the first-call subscription refusal
    (as for ChatSync) and throttling (bounded, with backoff)."""

    client: ChatClient
    subscription_retries: int = 0
    throttle_retries: int = 0

    def delay_for(self, refusal: RefusedError, reader: TurnReader) -> float | None:
        if reader.shown:
            return None
        if SUBSCRIPTION_PENDING in refusal.text.lower():
            if self.subscription_retries >= self.client.subscription_retries:
                return None
            self.subscription_retries += 1
            delay = self.client.subscription_delay(self.subscription_retries)
            self.client.notice(
                subscription_notice(
                    delay, self.subscription_retries, self.client.subscription_retries
                )
            )
            return float(delay)
        if refusal.code in THROTTLING_CODES and self.throttle_retries < THROTTLE_RETRIES:
            self.throttle_retries += 1
            return float(THROTTLE_BACKOFF * 2 ** (self.throttle_retries - 1))
        return None


def _refusal_of_handshake(exc: Exception) -> RefusedError | None:
    """A refused WebSocket upgrade (HTTP 4xx/5xx) as AWS's error code and message."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if response is None or status is None:
        return None
    headers = getattr(response, "headers", {}) or {}
    body = bytes(getattr(response, "body", b"") or b"")
    code = str(headers.get("x-amzn-ErrorType", "") or "").split(":", 1)[0]
    text = ""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    if isinstance(parsed, dict):
        code = code or str(parsed.get("__type", "") or "").rsplit("#", 1)[-1]
        text = str(parsed.get("message") or parsed.get("Message") or "")
    return RefusedError(
        code or f"HTTP{status}", text or f"the upgrade was refused with HTTP {status}"
    )


class _Turn:
    """What both transports share: the request, the signed URL and frames, retries."""

    def __init__(
        self, client: ChatClient, request: TurnRequest, on_turn: Callable[[ChatTurn], None] | None
    ) -> None:
        self.client = client
        self.request = request
        self.on_turn = on_turn
        self.policy = RetryPolicy(client)
        self.settings = client.stream_settings()
        self.resynced = False

    def reader(self) -> TurnReader:
        return TurnReader(self.request, retries=self.policy.subscription_retries)

    def continue_after_stored_answer(self, refusal: RefusedError, reader: TurnReader) -> bool:
        """A ``ConflictException`` before any text on a continuation: if the service
        stored an answer this client never completed (a cut stream), continue after it
        (:meth:`ChatClient.newer_parent`), once. Blocking (one ListMessages)."""
        if refusal.code != "ConflictException" or reader.shown or self.resynced:
            return False
        newer = self.client.newer_parent(
            self.request.conversation_id, self.request.parent_message_id
        )
        if newer is None:
            return False
        self.request = dataclasses.replace(self.request, parent_message_id=newer)
        self.resynced = True
        return True

    def opening(self) -> tuple[str, list[bytes]]:
        """A freshly presigned URL and the signed input frames for one attempt."""
        from qbizfed.aws import chat_stream_signing

        settings = self.settings
        return chat_stream_signing.signed_turn(
            url=settings.url, region=settings.region, credentials=settings.credentials,
            chat_input=chat_input(self.request), events=input_events(self.request),
        )  # fmt: skip

    def unreachable(self, exc: BaseException) -> ChatError:
        return ChatError(
            f"cannot open the Q Business streaming endpoint {self.settings.url}: {exc}",
            code="NetworkError",
            remedy="check the network (qbizfed doctor checks the streaming endpoint) and "
            "AWS_ENDPOINT_URL, then send the message again",
            unsent_message=self.request.message,
        )

    def finished(self, turn: ChatTurn) -> None:
        """The turn arrived: the conversation moves on (``Conversation`` passes ``on_turn``)."""
        if self.on_turn is not None:
            self.on_turn(turn)


class ChatStream(Iterator[StreamEvent]):
    """A streamed turn: iterate for ``TextDelta``s then the ``ChatTurn``; ``close()``
    (or leaving a ``with`` block, or Ctrl-C) ends it and closes the connection."""

    def __init__(
        self,
        client: ChatClient,
        request: TurnRequest,
        *,
        on_turn: Callable[[ChatTurn], None] | None = None,
    ) -> None:
        self._turn = _Turn(client, request, on_turn)
        self._events: Generator[StreamEvent, None, None] = self._run()
        self.turn: ChatTurn | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> StreamEvent:
        event = next(self._events)
        if isinstance(event, ChatTurn):
            self._turn.finished(event)  # before the caller sees it: it may stop right there
            self.turn = event
        return event

    def close(self) -> None:
        self._events.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self) -> Generator[StreamEvent, None, None]:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect

        turn = self._turn
        while True:
            reader = turn.reader()
            url, frames = turn.opening()
            try:
                try:
                    socket = connect(
                        url,
                        open_timeout=CONNECT_TIMEOUT,
                        max_size=MAX_OUTPUT_FRAME,
                        compression=None,
                    )
                except InvalidHandshake as exc:
                    refusal = _refusal_of_handshake(exc)
                    if refusal is None:
                        raise turn.unreachable(exc) from exc
                    raise refusal from exc
                except (OSError, TimeoutError) as exc:
                    raise turn.unreachable(exc) from exc
                with socket:
                    try:
                        for frame in frames:
                            socket.send(frame)
                        while reader.turn is None:
                            try:
                                data = socket.recv(timeout=turn.settings.idle_timeout)
                            except TimeoutError:
                                raise reader.stalled(turn.settings.idle_timeout) from None
                            events = reader.feed(data)
                            if any(isinstance(e, ChatTurn) for e in events):
                                socket.close()  # complete: the caller may stop right here
                            yield from events
                    except ConnectionClosed as exc:
                        if reader.turn is None:
                            code = exc.rcvd.code if exc.rcvd else None
                            raise reader.lost(code, exc.rcvd.reason if exc.rcvd else "") from exc
            except RefusedError as refusal:
                if turn.continue_after_stored_answer(refusal, reader):
                    continue
                delay = turn.policy.delay_for(refusal, reader)
                if delay is None:
                    raise reader.refused(refusal) from None
                time.sleep(delay)
                continue
            return


class AsyncChatStream(AsyncIterator[StreamEvent]):
    """``ChatStream`` for asyncio: ``async for``; ``await stream.aclose()`` ends it."""

    def __init__(
        self,
        client: ChatClient,
        request: TurnRequest,
        *,
        on_turn: Callable[[ChatTurn], None] | None = None,
    ) -> None:
        self._turn = _Turn(client, request, on_turn)
        self._events: AsyncGenerator[StreamEvent, None] = self._run()
        self.turn: ChatTurn | None = None

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self._events.__anext__()
        if isinstance(event, ChatTurn):
            self._turn.finished(event)
            self.turn = event
        return event

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        turn = self._turn
        while True:
            reader = turn.reader()
            url, frames = turn.opening()
            try:
                try:
                    socket = await connect(
                        url,
                        open_timeout=CONNECT_TIMEOUT,
                        max_size=MAX_OUTPUT_FRAME,
                        compression=None,
                    )
                except InvalidHandshake as exc:
                    refusal = _refusal_of_handshake(exc)
                    if refusal is None:
                        raise turn.unreachable(exc) from exc
                    raise refusal from exc
                except (OSError, TimeoutError) as exc:
                    raise turn.unreachable(exc) from exc
                try:
                    for frame in frames:
                        await socket.send(frame)
                    while reader.turn is None:
                        try:
                            data = await asyncio.wait_for(socket.recv(), turn.settings.idle_timeout)
                        except TimeoutError:
                            raise reader.stalled(turn.settings.idle_timeout) from None
                        events = reader.feed(data)
                        if any(isinstance(e, ChatTurn) for e in events):
                            await socket.close()  # complete: the caller may stop right here
                        for event in events:
                            yield event
                except ConnectionClosed as exc:
                    if reader.turn is None:
                        code = exc.rcvd.code if exc.rcvd else None
                        raise reader.lost(code, exc.rcvd.reason if exc.rcvd else "") from exc
                finally:
                    await socket.close()
            except RefusedError as refusal:
                if await asyncio.to_thread(turn.continue_after_stored_answer, refusal, reader):
                    continue
                delay = turn.policy.delay_for(refusal, reader)
                if delay is None:
                    raise reader.refused(refusal) from None
                await asyncio.sleep(delay)
                continue
            return


__all__ = [
    "AsyncChatStream",
    "ChatStream",
    "StreamEvent",
    "StreamSettings",
    "TextDelta",
    "TurnReader",
    "input_events",
    "stream_endpoint",
]
