"""``POST /chat/stream``: the chat page's streamed answers, over HTTP, from a WebSocket peer.

The broker runs under uvicorn with a signed-in session; Q Business's streaming
endpoint is a scripted WebSocket peer on loopback (tests/support/scripted_stream.py),
so each test controls where the answer is split and when it stalls. The local
stack's own endpoint behind the real page is exercised by the browser tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import lxml.html
import pytest
from botocore.credentials import Credentials

from qbizfed.web import routes_chat_stream
from tests.support.scripted_stream import (
    CONVERSATION,
    ScriptedStreamPeer,
    StreamScript,
    scripted_stream_peer,
)
from tests.unit.test_web_chat_routes import ChatApp, ScriptedQBusiness, chat_app


class StreamingQBusiness(ScriptedQBusiness):
    """The scripted ChatSync client, plus what streaming reads from a boto3 client:
    its region, endpoint (the peer) and credentials."""

    def __init__(self, peer: ScriptedStreamPeer) -> None:
        super().__init__()
        self.meta = SimpleNamespace(region_name="us-east-1", endpoint_url=peer.url)
        self._request_signer = SimpleNamespace(
            _credentials=Credentials("ASIASTREAM", "stream-secret", "stream-token")
        )


@pytest.fixture
def peer() -> Iterator[ScriptedStreamPeer]:
    with scripted_stream_peer() as running:
        yield running


@pytest.fixture
def alice(peer: ScriptedStreamPeer) -> Iterator[ChatApp]:
    with chat_app(qbusiness=StreamingQBusiness(peer)) as made:
        yield made


def events_of(body: str) -> list[tuple[str, Any]]:
    """The Server-Sent Events of a response body: (name, JSON data); comments as (":", text)."""
    events: list[tuple[str, Any]] = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            events.append((":", block[1:].strip()))
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def ask(app: ChatApp, message: str = "When do we deploy?", **fields: str) -> Any:
    data = {"csrf_token": app.csrf(), "message": message, **fields}
    return app.client.post("/chat/stream", data=data, headers={"Origin": origin(app)})


def origin(app: ChatApp) -> str:
    return str(app.client.base_url).rstrip("/")


def test_answer_events_then_the_final_item_as_the_page_renders_it(
    alice: ChatApp, peer: ScriptedStreamPeer
) -> None:
    response = ask(alice)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-store"
    events = events_of(response.text)
    names = [name for name, _ in events]
    assert names == ["answer", "answer", "done"]
    assert events[0][1]["html"] == "<p>Deploy on</p>\n"
    assert "Tuesdays [1]." in events[1][1]["html"]
    done = events[-1][1]
    assert done["conversationId"] == CONVERSATION
    assert done["path"] == f"/chat/{CONVERSATION}"
    assert '<a href="#source-1" class="citation"' in done["item"]  # linked once sources known
    assert '<li id="source-1" value="1" class="source">' in done["item"]
    assert 'data-latest="true"' in done["item"]
    assert peer.turns[0]["events"] == ["configurationEvent", "textEvent", "endOfInputEvent"]
    # The page's next question continues the conversation from this answer.
    ask(alice, "And on Fridays?", conversation_id=CONVERSATION, parent_message_id=done["messageId"])
    assert peer.turns[1]["chat_input"]["conversationId"] == CONVERSATION
    assert peer.turns[1]["chat_input"]["parentMessageId"] == done["messageId"]


def _answer_parts(html: str) -> tuple[str, str]:
    """The answer body and the source list of the last answer in ``html``."""
    tree = lxml.html.fromstring(html)
    item = tree.xpath('//li[contains(@class, "answer")]')[-1]
    answer = item.xpath('.//div[@class="answer"]')[0]
    sources = item.xpath('.//section[@class="sources"]')[0]
    return lxml.html.tostring(answer, encoding="unicode"), lxml.html.tostring(
        sources, encoding="unicode"
    )


def test_the_final_item_equals_the_server_rendered_page(alice: ChatApp) -> None:
    done = events_of(ask(alice).text)[-1][1]
    # The ChatSync side (history) holds the same answer and the same source.
    alice.qbusiness.answer = "Deploy on Tuesdays [1]."
    page = alice.client.get(done["path"])
    assert page.status_code == 200
    assert _answer_parts(done["item"]) == _answer_parts(page.text)


@pytest.mark.parametrize(
    ("case", "reason"),
    [("missing_token", "security token is missing"), ("foreign_origin", "from another site")],
)
def test_streaming_needs_the_csrf_token_and_our_origin(
    alice: ChatApp, peer: ScriptedStreamPeer, case: str, reason: str
) -> None:
    data = {"message": "When do we deploy?"}
    headers = {"Origin": origin(alice)}
    if case == "foreign_origin":
        data["csrf_token"] = alice.csrf()  # a valid token: only the origin is wrong
        headers["Origin"] = "https://evil.example"
    response = alice.client.post("/chat/stream", data=data, headers=headers)
    assert response.status_code == 400
    assert reason in response.text
    assert not response.headers["content-type"].startswith("text/event-stream")
    assert peer.turns == []  # nothing reached Q Business


def test_signed_out_goes_to_sign_in_as_the_plain_form_does() -> None:
    with chat_app(signed_in=False) as app:
        response = ask(app, conversation_id=CONVERSATION)
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next=/chat/{CONVERSATION}"


def test_a_cut_answer_keeps_its_partial_text_and_the_question() -> None:
    script = StreamScript(pieces=("Deploy ", "on ", "Tuesdays."), close_after=2)
    with scripted_stream_peer(script) as peer, chat_app(qbusiness=StreamingQBusiness(peer)) as app:
        events = events_of(ask(app, "When do we deploy?").text)
    assert [name for name, _ in events] == ["answer", "answer", "failed"]
    failed = events[-1][1]
    assert failed["unsent"] == "When do we deploy?"
    assert failed["html"] == "<p>Deploy on</p>\n"
    assert "send the message again" in failed["remedy"]


def test_heartbeats_while_q_business_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_chat_stream, "HEARTBEAT_SECONDS", 0.05)
    script = StreamScript(pieces=("slow",), delay_seconds=0.4)
    with scripted_stream_peer(script) as peer, chat_app(qbusiness=StreamingQBusiness(peer)) as app:
        events = events_of(ask(app).text)
    assert events[0] == (":", "keep-alive")
    assert [name for name, _ in events if name != ":"] == ["answer", "done"]


def test_a_browser_that_goes_away_closes_the_websocket() -> None:
    script = StreamScript(pieces=tuple(f"word{i} " for i in range(100)), delay_seconds=0.05)
    with scripted_stream_peer(script) as peer, chat_app(qbusiness=StreamingQBusiness(peer)) as app:
        with app.client.stream("POST", "/chat/stream", data={
            "csrf_token": app.csrf(), "message": "Tell me everything"},
            headers={"Origin": origin(app)},
        ) as response:  # fmt: skip
            for line in response.iter_lines():
                if line.startswith("event: answer"):
                    break  # the user pressed Stop: the fetch is aborted
        started = time.monotonic()
        assert peer.closed.wait(5), "the WebSocket to Q Business stayed open"
        assert time.monotonic() - started < 5
