"""The chat page's streamed answers: ``POST /chat/stream`` answers ``text/event-stream``.

``chat.js`` sends the ask form here with ``fetch`` (same fields, CSRF token and Origin
checked as for ``POST /chat``) and reads the response with a stream reader. The
server streams the turn from Q Business (``Conversation.astream``, WebSocket chat,
with the session's identity-aware credentials, which never leave the server) and
sends Server-Sent Events:

- ``answer``: ``{"html": ...}``, the answer so far rendered by the same
  markdown-it-py + nh3 pipeline as every answer (:func:`render_answer`). The *whole*
  answer is re-rendered each time, so markup split across text events is never
  seen half-parsed, and nothing but sanitised HTML reaches the page;
- ``done``: the final message item, rendered by the same template macro as the
  server-rendered page (so it is the ChatSync rendering of the answer), plus the
  conversation and message ids for the next question;
- ``failed``: the error and its remedy (the partial answer stays on the page and the
  question goes back in the box);
- comments (``: keep-alive``) every :data:`HEARTBEAT_SECONDS` while Q Business is
  silent, so idle proxies keep the connection open.

The response holds no state beyond the request: any instance behind a load
balancer can serve it (sessions live in the shared store). Stop in the page aborts
the fetch; the disconnect cancels the turn and closes the WebSocket to Q Business.
Without JavaScript the form posts to ``/chat`` (ChatSync), as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from qbizfed.aws.chat import ChatClient, ChatError, ChatTurn
from qbizfed.aws.chat_stream import AsyncChatStream, TextDelta
from qbizfed.errors import QbizfedError
from qbizfed.web.chat_rendering import render_answer, source_views
from qbizfed.web.routes_chat import (
    REASON_LABELS,
    ChatRuntime,
    MessageView,
    SignedIn,
    _blocking,
    _client,
    _forget_page,
    _remember_turn,
    _runtime,
    _status_for,
    openable,
    posted_question,
)

log = logging.getLogger("qbizfed.web")
router = APIRouter()

STREAM_PATH = "/chat/stream"
HEARTBEAT_SECONDS = 15.0
SSE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once (see docs/deployment.md)
}


def install_chat_stream(app: FastAPI) -> None:
    """Add ``POST /chat/stream`` to a broker that has the chat pages (``install_chat``)."""
    if not getattr(app.state, "chat_stream", False):
        app.include_router(router)
        app.state.chat_stream = True


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event; JSON keeps the data on one line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"


def _refusal(error: QbizfedError) -> Response:
    status = _status_for(error)
    return JSONResponse({"message": error.message, "remedy": error.remedy}, status_code=status)


@router.post(STREAM_PATH)
async def ask_streaming(request: Request) -> Response:
    # Signed out, the sign-in page: the script sees no event stream and posts the form
    # the plain way, which keeps the question across the sign-in.
    posted = await posted_question(request)
    if isinstance(posted, Response):
        return posted
    who, question = posted
    conversation_id, message = question.conversation_id, question.message
    parent, chat_mode = question.parent_message_id, question.chat_mode
    try:
        attachments = await question.attachments()
        runtime = _runtime(request)
        client: ChatClient = await _client(runtime, who)
        if conversation_id and parent is None:  # resumed without the page's parent id
            allowance = runtime.settings.max_concurrent_calls
            conversation = await _blocking(client.conversation, conversation_id,
                                           allowance=allowance)  # fmt: skip
        else:
            conversation = client.conversation()
            conversation.conversation_id = conversation_id
            conversation.parent_message_id = parent if conversation_id else None
        stream = conversation.astream(message, attachments=attachments, chat_mode=chat_mode)
    except QbizfedError as exc:
        return _refusal(exc)
    finally:
        await question.close()
    return StreamingResponse(
        _events(
            request,
            who,
            stream,
            message,
            runtime,
            attached=bool(attachments),
            started=conversation_id is None,
        ),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


async def _events(
    request: Request, who: SignedIn, stream: AsyncChatStream, message: str,
    runtime: ChatRuntime, *, attached: bool, started: bool,
) -> AsyncIterator[bytes]:  # fmt: skip
    """The SSE body: Q Business's events pumped through a queue so that heartbeats can
    be sent while it is silent (a timeout on the stream itself would cancel it)."""
    queue: asyncio.Queue[TextDelta | ChatTurn | QbizfedError | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in stream:
                await queue.put(event)
        except QbizfedError as exc:
            await queue.put(exc)
        finally:
            await queue.put(None)

    task = asyncio.create_task(pump())
    text = ""
    held: list[TextDelta | ChatTurn | QbizfedError | None] = []
    try:
        while True:
            if held:
                event = held.pop()
            else:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield HEARTBEAT
                    continue
            if event is None:
                return
            if isinstance(event, TextDelta):
                text += event.text
                # Pieces that arrived while the last update was being sent go out as one
                # update: under load the page gets fewer, larger steps, never stale ones.
                while not held and not queue.empty():
                    waiting = queue.get_nowait()
                    if isinstance(waiting, TextDelta):
                        text += waiting.text
                    else:
                        held.append(waiting)
                yield sse("answer", {"html": str(render_answer(text))})
            elif isinstance(event, ChatTurn):
                log.info("chat turn (streamed): email=%s citations=%d",
                         who.user.email, len(event.citations))  # fmt: skip
                # not fresh: the page is in the browser already; the next turn's base
                await _remember_turn(runtime, who, event, attached=attached, started=started,
                                     fresh=False)  # fmt: skip
                yield sse("done", _done(request, who, event))
            else:
                log.info("chat stream error: email=%s code=%s",
                         who.user.email, getattr(event, "code", type(event).__name__))  # fmt: skip
                await _forget_page(runtime, who)  # a partial turn may have been stored
                partial = event.partial_text if isinstance(event, ChatError) else text
                yield sse("failed", {
                    "message": event.message, "remedy": event.remedy,
                    "unsent": event.unsent_message if isinstance(event, ChatError) else message,
                    "html": str(render_answer(partial)) if partial else "",
                })  # fmt: skip
    finally:
        # The browser went away (Stop) or the turn ended: close the WebSocket either way.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, QbizfedError):
            await task
        with contextlib.suppress(QbizfedError, RuntimeError):
            await stream.aclose()


def _done(request: Request, who: SignedIn, turn: ChatTurn) -> dict[str, Any]:
    """The finished answer as the page renders it after a reload (same macro)."""
    numbers = [c.number for c in turn.citations]
    view = MessageView(
        "answer",
        turn.system_message_id,
        turn.text,
        html=render_answer(turn.text, numbers),
        sources=openable(
            source_views(turn.citations), turn.citations, turn.system_message_id,
            turn.conversation_id,
        ),
    )
    template = who.ctx.templates.get_template("chat_message.html")
    item = template.module.message_item(  # type: ignore[attr-defined]
        view,
        conversation_id=turn.conversation_id,
        csrf_token=who.session.csrf_token,
        reasons=REASON_LABELS,
        latest=True,
    )
    return {
        "item": str(item),
        "conversationId": turn.conversation_id,
        "messageId": turn.system_message_id,
        "path": f"/chat/{turn.conversation_id}",
    }
