"""A streamed chat turn (WebSocket ``GET /chat``) against a ChatSync turn on the same question.

Both run against one local endpoint over the same permissioned corpus, as one user,
in alternating phases (ChatSync turn, streamed turn, ChatSync turn, ...) so machine
load hits both alike. The streamed turn is what AWS's sample client does: presign the
URL, open the WebSocket, send the signed configuration, text and end-of-input events,
read text events until the metadata event, then close. Reported per turn:

* time to the first text event, and to the metadata event that ends the answer (the
  client then closes, as AWS's sample does);
* the ChatSync turn's time (boto3, kept-alive HTTP/1.1 connection), the baseline.

    .venv/bin/python -m bench.emulator_chat_stream [--docs 1000] [--turns 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

from botocore.credentials import Credentials
from websockets.asyncio.client import connect

from bench.emulator_chatsync_http import QUESTIONS, seed, user_session
from qbizfed.aws.event_stream import (
    ChatInput,
    EventSigner,
    chat_input_frames,
    decode_output,
    presign_chat_url,
)
from qbizfed.local.stack import LocalAws, LocalAwsSettings

REGION = "us-east-1"


async def streamed_turn(
    url: str, creds: Credentials, app: str, question: str
) -> tuple[float, float]:
    """(ms to the first text event, ms to the metadata event) for one streamed turn."""
    started = time.perf_counter()
    chat = presign_chat_url(url, creds, region=REGION, chat_input=ChatInput(application_id=app))
    signer = EventSigner(creds, region=REGION, seed_signature=chat.signature)
    first: float | None = None
    ended: float | None = None
    async with connect(chat.url, max_size=None) as ws:
        for frame in chat_input_frames(signer, user_message=question):
            await ws.send(frame)
        async for data in ws:
            assert isinstance(data, bytes)
            event = decode_output(data)
            if event.event_type == "textEvent" and first is None:
                first = time.perf_counter()
            if event.event_type == "metadataEvent":
                ended = time.perf_counter()
                break  # as AWS's sample client does: close once the metadata is in
    assert first is not None, "no text event"
    assert ended is not None, "no metadata event"
    return (first - started) * 1000, (ended - started) * 1000


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples), 2)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2)


def run(docs: int, turns: int) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    rng = random.Random(7)
    with LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.05)) as stack:
        app = seed(stack, docs=docs, groups=20, rng=rng)
        session = user_session(stack, app)
        creds = Credentials(session.access_key_id, session.secret_access_key, session.session_token)
        qb = boto3.client(
            "qbusiness", endpoint_url=stack.url, region_name=REGION,
            config=Config(retries={"max_attempts": 1}),
            aws_access_key_id=session.access_key_id,
            aws_secret_access_key=session.secret_access_key,
            aws_session_token=session.session_token,
        )  # fmt: skip
        for _ in range(3):  # the first call subscribes the user; then warm the index
            try:
                qb.chat_sync(applicationId=app, userMessage=QUESTIONS[0])
            except qb.exceptions.AccessDeniedException:
                time.sleep(0.05)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(streamed_turn(stack.url, creds, app, QUESTIONS[0]))  # warm
            sync_ms: list[float] = []
            first_ms: list[float] = []
            total_ms: list[float] = []
            for turn in range(turns):
                question = QUESTIONS[turn % len(QUESTIONS)]
                started = time.perf_counter()
                qb.chat_sync(applicationId=app, userMessage=question)
                sync_ms.append((time.perf_counter() - started) * 1000)
                first, total = loop.run_until_complete(
                    streamed_turn(stack.url, creds, app, question)
                )
                first_ms.append(first)
                total_ms.append(total)
        finally:
            loop.close()
    return {
        "docs": docs, "turns": turns,
        "chatsync_p50_ms": _p50(sync_ms), "chatsync_p95_ms": _p95(sync_ms),
        "first_text_p50_ms": _p50(first_ms), "first_text_p95_ms": _p95(first_ms),
        "stream_total_p50_ms": _p50(total_ms), "stream_total_p95_ms": _p95(total_ms),
        "first_text_ratio_p50": round(_p50(first_ms) / _p50(sync_ms), 2),
        "total_ratio_p50": round(_p50(total_ms) / _p50(sync_ms), 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run(args.docs, args.turns)
    if args.json:
        print(json.dumps(result))
        return
    print(f"Streamed chat vs ChatSync, {result['docs']} documents, {result['turns']} turns each")
    print(f"  ChatSync turn        p50 {result['chatsync_p50_ms']:.2f} ms  "
          f"p95 {result['chatsync_p95_ms']:.2f} ms")  # fmt: skip
    print(
        f"  first text event     p50 {result['first_text_p50_ms']:.2f} ms  "
        f"p95 {result['first_text_p95_ms']:.2f} ms  (ratio {result['first_text_ratio_p50']}x)"
    )
    print(
        f"  whole streamed turn  p50 {result['stream_total_p50_ms']:.2f} ms  "
        f"p95 {result['stream_total_p95_ms']:.2f} ms  (ratio {result['total_ratio_p50']}x)"
    )


if __name__ == "__main__":
    main()
