"""A streaming-chat test client: ``websockets`` + botocore's signer (via qbizfed.aws.event_stream).

It speaks the protocol as AWS's sample client does (presigned ``GET /chat``, signed
input envelopes, binary output events), and can also send raw frames so that
adversarial tests reach one defence at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.credentials import Credentials
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from qbizfed.aws.event_stream import (
    ChatInput,
    EventSigner,
    chat_input_frames,
    decode_message,
    presign_chat_url,
)
from qbizfed.local.sessions import IssuedSession
from qbizfed.local.stack import LocalAws
from tests.conftest import ACCOUNT_ID, REGION
from tests.support.chat_permissions import chat_role


def user_session(stack: LocalAws, email: str) -> IssuedSession:
    """Federated credentials with ``email`` as the Email session tag."""
    return stack.registry.issue(
        account_id=ACCOUNT_ID, role_arn=chat_role(stack),
        role_id="AROATESTROLE", session_name=email, duration_seconds=3600,
        tags={"Email": email},
    )  # fmt: skip


def credentials_of(session: IssuedSession) -> Credentials:
    return Credentials(session.access_key_id, session.secret_access_key, session.session_token)


@dataclass
class StreamResult:
    """What a client saw: events in order, then how the server closed."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(message type, event or exception type, JSON body)."""
    arrival: list[float] = field(default_factory=list)
    """Seconds from connecting to each message."""
    close_code: int | None = None
    refused_status: int | None = None
    refused_code: str | None = None
    refused_body: str = ""

    @property
    def text(self) -> str:
        return "".join(b["systemMessage"] for m, t, b in self.events if t == "textEvent")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [body for _m, t, body in self.events if t == kind]

    @property
    def exceptions(self) -> list[tuple[str, dict[str, Any]]]:
        return [(t, body) for m, t, body in self.events if m == "exception"]


def presigned(
    stack: LocalAws,
    creds: Credentials,
    app: str,
    *,
    conversation_id: str | None = None,
    parent_message_id: str | None = None,
    user_id: str | None = None,
    expires_seconds: int = 900,
    signed_at: datetime | None = None,
) -> tuple[str, str]:
    chat = presign_chat_url(
        stack.url, creds, region=REGION, expires_seconds=expires_seconds, signed_at=signed_at,
        chat_input=ChatInput(
            application_id=app, user_id=user_id, conversation_id=conversation_id,
            parent_message_id=parent_message_id,
        ),
    )  # fmt: skip
    return chat.url, chat.signature


async def exchange(url: str, frames: Sequence[bytes | str], *, timeout: float = 30) -> StreamResult:
    """Send ``frames`` and read until the server closes (or refuses the upgrade)."""
    from websockets.exceptions import InvalidStatus

    result = StreamResult()
    started = time.perf_counter()
    try:
        async with connect(url, max_size=None, open_timeout=timeout) as ws:
            try:
                for frame in frames:
                    await ws.send(frame)
            except ConnectionClosed:
                pass  # refused early: what was received before the close is still read
            try:
                async with asyncio.timeout(timeout):
                    async for data in ws:
                        assert isinstance(data, bytes), "output frames are binary"
                        result.arrival.append(time.perf_counter() - started)
                        message = decode_message(data)
                        kind = message.event_type or message.exception_type
                        result.events.append((message.message_type, kind, message.json()))
            except ConnectionClosed:
                pass
            result.close_code = ws.close_code
    except InvalidStatus as refused:
        response = refused.response
        result.refused_status = response.status_code
        result.refused_code = response.headers.get("x-amzn-ErrorType")
        result.refused_body = response.body.decode() if response.body else ""
    return result


def stream_turn(
    stack: LocalAws,
    creds: Credentials,
    app: str,
    message: str,
    *,
    conversation_id: str | None = None,
    parent_message_id: str | None = None,
    attribute_filter: dict[str, Any] | None = None,
) -> StreamResult:
    """One complete, well-formed streamed turn."""
    url, seed = presigned(
        stack, creds, app, conversation_id=conversation_id, parent_message_id=parent_message_id
    )
    signer = EventSigner(creds, region=REGION, seed_signature=seed)
    frames = chat_input_frames(signer, user_message=message, attribute_filter=attribute_filter)
    return asyncio.run(exchange(url, frames))
