"""Streamed answers: how soon the first text is visible, through the library and through serve.

Signs in through ``qbizfed serve`` (real OIDC login against the dev IdP), takes the
session's exported credentials, then interleaves, turn by turn and each in a new
conversation, against the Q Business emulator's WebSocket chat endpoint:

* **emulator** (the baseline): a bare ``websockets`` client sends the presigned upgrade
  and the signed input frames and times the emulator's first output frame, nothing else;
* **library**: ``ChatClient.conversation().stream(...)`` until its first ``TextDelta``;
* **serve**: ``POST /chat/stream`` until the first ``answer`` Server-Sent Event arrives
  at the HTTP client (what the page's script reads).

Goals (p50): library ≤ 1.1 × emulator; serve ≤ library + 5 ms. With pacing (the
emulator waits 10 ms between text events), the first text of a streamed turn against
the time the whole answer takes, which is what a ChatSync caller waits for: ≤ 0.1.
(The emulator paces streams only, so its own ChatSync time is printed beside it; its
answers are a few passages, so they come as fewer than 100 events.)

Run: ``.venv/bin/python -m bench.chat_stream [--turns 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from botocore.credentials import Credentials
from websockets.sync.client import connect

from bench.browser import ask_serve_streaming, exported_credentials, new_browser, open_chat, sign_in
from bench.stack import DEMO_PASSWORD, REGION, BenchStack
from bench.stats import Latency
from qbizfed.aws.chat import RETRY_CONFIG, ChatClient, TurnRequest
from qbizfed.aws.chat_stream import TextDelta, chat_input, input_events, stream_endpoint
from qbizfed.aws.chat_stream_signing import signed_turn

QUESTION = "How many vacation days do I get?"
PACED_EVENTS = 100
PACED_DELAY_MS = 10
WARM_UP = 5


@dataclass(frozen=True)
class FirstText:
    turns: int
    emulator: Latency
    library: Latency
    serve: Latency

    @property
    def library_ratio(self) -> float:
        return self.library.p50 / self.emulator.p50

    @property
    def serve_over_library_ms(self) -> float:
        return self.serve.p50 - self.library.p50

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "library_ratio": self.library_ratio,
                "serve_over_library_ms": self.serve_over_library_ms}  # fmt: skip


@dataclass(frozen=True)
class Paced:
    turns: int
    events_per_answer: float
    first_text: Latency
    stream_total: Latency
    chat_sync_total: Latency

    @property
    def ratio(self) -> float:
        """First text against the whole answer's time: what a ChatSync caller waits for
        on AWS (ChatSync returns once the answer is complete). The emulator paces only
        streams, so its own ChatSync time (``chat_sync_total``) is shown beside it."""
        return self.first_text.p50 / self.stream_total.p50

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _qbusiness(stack: BenchStack, creds: dict[str, str]) -> Any:
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    ).client("qbusiness", endpoint_url=stack.aws_url, config=RETRY_CONFIG)


def _bare_first_event(stack: BenchStack, creds: dict[str, str]) -> float:
    """The baseline: presign, upgrade, send the signed input, time the first frame."""
    credentials = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    request = TurnRequest(application_id=stack.application_id, message=QUESTION)
    started = time.perf_counter()
    url, frames = signed_turn(
        url=stream_endpoint(stack.aws_url, REGION), region=REGION, credentials=credentials,
        chat_input=chat_input(request), events=input_events(request),
    )  # fmt: skip
    with connect(url, compression=None) as socket:
        for frame in frames:
            socket.send(frame)
        socket.recv()
        first = time.perf_counter() - started
        for _ in socket:  # the rest of the answer, until the server closes
            pass
    return first


def _library_first_text(chat: ChatClient) -> tuple[float, float, int]:
    """Seconds to the first TextDelta, to the ChatTurn, and the number of deltas."""
    started = time.perf_counter()
    first = 0.0
    deltas = 0
    for event in chat.conversation().stream(QUESTION):
        if isinstance(event, TextDelta):
            deltas += 1
            first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, deltas


async def _first_text(stack: BenchStack, turns: int) -> FirstText:
    async with new_browser() as browser:
        await sign_in(browser, stack.serve_url + "/login/oidc", username="alice",
                      password=DEMO_PASSWORD)  # fmt: skip
        creds = await exported_credentials(browser, stack.serve_url)
        fields = await open_chat(browser, stack.serve_url)
        if fields is None:
            raise RuntimeError("this qbizfed serve has no chat pages")
        chat = ChatClient(
            qbusiness=_qbusiness(stack, creds),
            application_id=stack.application_id,
            subscription_backoff=0.2,
        )
        loop = asyncio.get_running_loop()
        for _ in range(WARM_UP):  # subscription on the first call, model loading, caches
            await loop.run_in_executor(None, _library_first_text, chat)
            await loop.run_in_executor(None, _bare_first_event, stack, creds)
            await ask_serve_streaming(browser, stack.serve_url, fields, QUESTION)
        times: dict[str, list[float]] = {"emulator": [], "library": [], "serve": []}
        for _ in range(turns):  # interleaved, each turn in a new conversation
            bare = await loop.run_in_executor(None, _bare_first_event, stack, creds)
            times["emulator"].append(bare)
            first, _, _ = await loop.run_in_executor(None, _library_first_text, chat)
            times["library"].append(first)
            answer = await ask_serve_streaming(browser, stack.serve_url, fields, QUESTION)
            times["serve"].append(answer.first_event_seconds)
    return FirstText(turns=turns, **{k: Latency.of_seconds(v) for k, v in times.items()})


def measure_first_text(stack: BenchStack, *, turns: int) -> FirstText:
    return asyncio.run(_first_text(stack, turns))


async def _paced(stack: BenchStack, turns: int) -> Paced:
    async with new_browser() as browser:
        await sign_in(browser, stack.serve_url + "/login/oidc", username="bob",
                      password=DEMO_PASSWORD)  # fmt: skip
        creds = await exported_credentials(browser, stack.serve_url)
    qbusiness = _qbusiness(stack, creds)
    chat = ChatClient(qbusiness=qbusiness, application_id=stack.application_id,
                      subscription_backoff=0.2)  # fmt: skip
    chat.conversation().ask(QUESTION)  # subscribes; warms the clients
    first_texts, totals, sync_totals, deltas = [], [], [], []
    for _ in range(turns):  # interleaved
        first, total, count = _library_first_text(chat)
        first_texts.append(first)
        totals.append(total)
        deltas.append(count)
        started = time.perf_counter()
        qbusiness.chat_sync(applicationId=stack.application_id, userMessage=QUESTION)
        sync_totals.append(time.perf_counter() - started)
    return Paced(
        turns=turns, events_per_answer=sum(deltas) / len(deltas),
        first_text=Latency.of_seconds(first_texts), stream_total=Latency.of_seconds(totals),
        chat_sync_total=Latency.of_seconds(sync_totals),
    )  # fmt: skip


def measure_paced(stack: BenchStack, *, turns: int) -> Paced:
    """``stack`` must pace its answers (``BenchStack(stream_delay_ms=...)``)."""
    return asyncio.run(_paced(stack, turns))


def describe(first: FirstText, paced: Paced | None) -> list[str]:
    lines = [
        f"time to first visible text, {first.turns} turns each, interleaved",
        f"  emulator (bare WebSocket client): {first.emulator.brief()}",
        f"  library Conversation.stream:      {first.library.brief()}",
        f"  serve POST /chat/stream (SSE):    {first.serve.brief()}",
        f"  library / emulator at p50: {first.library_ratio:.2f}x (goal ≤ 1.1x); "
        f"serve - library at p50: {first.serve_over_library_ms:+.2f} ms (goal ≤ 5 ms)",
    ]
    if paced is not None:
        lines += [
            f"paced answers ({paced.events_per_answer:.0f} text events per answer), "
            f"{paced.turns} turns each",
            f"  first text (stream): {paced.first_text.brief()}",
            f"  whole streamed turn: {paced.stream_total.brief()}",
            f"  emulator ChatSync (not paced): {paced.chat_sync_total.brief()}",
            f"  first text / whole answer at p50: {paced.ratio:.3f}x (goal ≤ 0.1x)",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--paced-turns", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with BenchStack() as stack:
        first = measure_first_text(stack, turns=args.turns)
    with BenchStack(stream_delay_ms=PACED_DELAY_MS) as stack:
        paced = measure_paced(stack, turns=args.paced_turns)
    if args.json:
        print(json.dumps({"first_text": first.as_dict(), "paced": paced.as_dict()}))
    else:
        print("\n".join(describe(first, paced)))


if __name__ == "__main__":
    main()
