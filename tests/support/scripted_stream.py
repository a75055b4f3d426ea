"""A scripted Q Business streaming peer: a real WebSocket server on 127.0.0.1 at the I/O seam.

It reads a turn's signed input frames (recorded, not verified: the local stack's
endpoint verifies them; see tests/integration/test_chat_stream.py) and answers with the
text pieces it was given, exactly split where a test wants them split, then the
metadata event; or a fault: close after N pieces, an exception message after N pieces.
Used where a test needs control over the split points or the timing that the
emulator's own answers do not give (markup split mid-tag, a silent peer).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.eventstream import EventStreamBuffer
from websockets.asyncio.server import ServerConnection, serve

from qbizfed.aws.event_stream import encode_event, encode_exception

CONVERSATION = "c" * 35 + "9"


@dataclass
class StreamScript:
    pieces: Sequence[str] = ("Deploy on ", "Tuesdays [1].")
    sources: Sequence[dict[str, Any]] = (
        {"title": "Deployment runbook", "snippet": "Deploy on Tuesdays.",
         "url": "https://wiki.example/deploy", "citationNumber": 1,
         "textMessageSegments": [{"beginOffset": 0, "endOffset": 18}]},
    )  # fmt: skip
    delay_seconds: float = 0.05
    """Before each piece (the broker merges pieces that arrive while it is busy: apart
    by this much, each piece is an update of its own)."""
    close_after: int | None = None
    exception_after: tuple[int, str, str] | None = None
    """(pieces, exception type, message)."""


@dataclass
class ScriptedStreamPeer:
    url: str
    script: StreamScript
    turns: list[dict[str, Any]] = field(default_factory=list)
    """Per connection: the ``chat-input`` JSON and the input events received."""
    closed: threading.Event = field(default_factory=threading.Event)
    """Set when a connection ended (by either side)."""


async def _answer(peer: ScriptedStreamPeer, socket: ServerConnection) -> None:
    request = socket.request
    query = parse_qs(urlsplit(request.path if request else "").query)
    turn: dict[str, Any] = {"chat_input": json.loads(query.get("chat-input", ["{}"])[0]),
                            "events": []}  # fmt: skip
    peer.turns.append(turn)
    try:
        async for frame in socket:
            outer = EventStreamBuffer()
            outer.add_data(frame if isinstance(frame, bytes) else frame.encode())
            for envelope in outer:
                inner = EventStreamBuffer()
                inner.add_data(envelope.payload)
                for message in inner:
                    turn["events"].append(message.headers[":event-type"])
            if turn["events"] and turn["events"][-1] == "endOfInputEvent":
                break
        script = peer.script
        conversation = turn["chat_input"].get("conversationId") or CONVERSATION
        for index, piece in enumerate(script.pieces):
            if script.close_after == index:
                await socket.close(1011, "scripted fault")
                return
            if script.exception_after and script.exception_after[0] == index:
                await socket.send(encode_exception(*script.exception_after[1:]))
                await socket.close(1011)
                return
            await asyncio.sleep(script.delay_seconds)
            await socket.send(encode_event("textEvent", {"systemMessage": piece,
                                                         "conversationId": conversation},
                                           content_type="application/json"))  # fmt: skip
        await socket.send(encode_event("metadataEvent", {
            "conversationId": conversation, "userMessageId": str(uuid.uuid4()),
            "systemMessageId": str(uuid.uuid4()), "finalTextMessage": "".join(script.pieces),
            "sourceAttributions": list(script.sources),
        }, content_type="application/json"))  # fmt: skip
        await socket.close(1000)
    finally:
        peer.closed.set()


@contextmanager
def scripted_stream_peer(script: StreamScript | None = None) -> Iterator[ScriptedStreamPeer]:
    """The peer, serving in a thread of its own until the block ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    holder: dict[str, ScriptedStreamPeer] = {}

    async def main() -> None:
        peer = ScriptedStreamPeer(url="", script=script or StreamScript())
        async with serve(lambda ws: _answer(peer, ws), "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            peer.url = f"http://127.0.0.1:{port}"
            holder["peer"] = peer
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the scripted stream peer did not start"
    try:
        yield holder["peer"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
