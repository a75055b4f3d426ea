"""Chat overhead over a raw boto3 ChatSync to the same emulator: the library, and serve.

Signs in through ``qbizfed serve`` (real OIDC login against the dev IdP), takes the
session's exported credentials, then interleaves, turn by turn, a raw
``qbusiness.chat_sync`` (the baseline) and the same question through the chat library
(``ChatClient.conversation().ask``), each in a new conversation, against the Q Business
emulator of ``qbizfed local aws``, and the same question through serve's chat page
(``POST /chat`` with the session cookie and CSRF token, timed until its 303: the turn
is answered and stored; rendering the conversation page is a separate page view).
Printed: p50s, overheads (p50 - raw p50) with the run's own noise (the spread of the
overhead over consecutive blocks of turns: an overhead within it is reported as such,
not as a ratio) and ratios; goal: overhead under 3 ms.

Run: ``.venv/bin/python -m bench.chat_overhead [--turns 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import boto3

from bench.browser import ask_serve, exported_credentials, new_browser, open_chat, sign_in
from bench.stack import DEMO_PASSWORD, REGION, BenchStack
from bench.stats import Difference, Latency, median_difference
from qbizfed.aws.chat import RETRY_CONFIG, ChatClient

QUESTION = "How many vacation days do I get?"
NO_SERVE_CHAT = "not measured: this qbizfed serve has no chat route"


@dataclass(frozen=True)
class ChatOverhead:
    turns: int
    raw: Latency
    library: Latency
    serve: Latency | None
    """POST /chat until its 303 (the turn is answered and stored), or None without chat."""
    library_difference: Difference
    serve_difference: Difference | None
    serve_note: str = ""

    @property
    def library_overhead_ms(self) -> float:
        return self.library.p50 - self.raw.p50

    @property
    def ratio(self) -> float:
        return self.library.p50 / self.raw.p50

    @property
    def serve_overhead_ms(self) -> float | None:
        return None if self.serve is None else self.serve.p50 - self.raw.p50

    @property
    def serve_ratio(self) -> float | None:
        return None if self.serve is None else self.serve.p50 / self.raw.p50

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "library_overhead_ms": self.library_overhead_ms,
                "ratio": self.ratio, "serve_overhead_ms": self.serve_overhead_ms,
                "serve_ratio": self.serve_ratio}  # fmt: skip


def _client(stack: BenchStack, creds: dict[str, str]) -> Any:
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    ).client("qbusiness", endpoint_url=stack.aws_url, config=RETRY_CONFIG)


async def _measure(stack: BenchStack, turns: int) -> ChatOverhead:
    async with new_browser() as browser:
        await sign_in(browser, stack.serve_url + "/login/oidc", username="alice",
                      password=DEMO_PASSWORD)  # fmt: skip
        creds = await exported_credentials(browser, stack.serve_url)
        fields = await open_chat(browser, stack.serve_url)
        raw = _client(stack, creds)
        library = ChatClient(
            qbusiness=_client(stack, creds),
            application_id=stack.application_id,
            subscription_backoff=0.2,
        )
        app = stack.application_id
        for _ in range(5):  # warm-up: subscription on the first call, connections, caches
            library.conversation().ask(QUESTION)
            raw.chat_sync(applicationId=app, userMessage=QUESTION)
            if fields is not None:
                await ask_serve(browser, stack.serve_url, fields, QUESTION, read_answer=False)
        times: dict[str, list[float]] = {"raw": [], "library": [], "serve": []}
        for _ in range(turns):  # interleaved, each turn in a new conversation
            started = time.perf_counter()
            answer = raw.chat_sync(applicationId=app, userMessage=QUESTION)
            times["raw"].append(time.perf_counter() - started)
            started = time.perf_counter()
            turn = library.conversation().ask(QUESTION)
            times["library"].append(time.perf_counter() - started)
            if turn.text != answer["systemMessage"]:
                raise RuntimeError("the library and boto3 got different answers")
            if fields is not None:
                started = time.perf_counter()
                await ask_serve(browser, stack.serve_url, fields, QUESTION, read_answer=False)
                times["serve"].append(time.perf_counter() - started)  # fmt: skip
    ms = {k: [t * 1000 for t in v] for k, v in times.items()}
    return ChatOverhead(
        turns=turns, raw=Latency.of_seconds(times["raw"]),
        library=Latency.of_seconds(times["library"]),
        serve=Latency.of_seconds(times["serve"]) if fields is not None else None,
        library_difference=median_difference(ms["library"], ms["raw"]),
        serve_difference=median_difference(ms["serve"], ms["raw"]) if fields is not None
        else None,
        serve_note="" if fields is not None else NO_SERVE_CHAT,
    )  # fmt: skip


def measure(stack: BenchStack, *, turns: int) -> ChatOverhead:
    return asyncio.run(_measure(stack, turns))


def _overhead(difference: Difference, ratio: float) -> str:
    """The overhead at p50; a ratio only when the overhead is outside the run's noise."""
    if difference.within_noise:
        return difference.brief()
    return f"{difference.brief()} (ratio {ratio:.2f}x)"


def describe(result: ChatOverhead) -> list[str]:
    lines = [
        f"chat overhead over raw boto3 ChatSync, {result.turns} turns each, interleaved",
        f"  raw boto3 chat_sync: {result.raw.brief()}",
        f"  library ChatClient:  {result.library.brief()}",
        f"  library overhead at p50: {_overhead(result.library_difference, result.ratio)}; "
        f"goal < 3 ms: {'met' if result.library_overhead_ms < 3 else 'missed'}",
    ]
    if result.serve is None or result.serve_difference is None or result.serve_ratio is None:
        return [*lines, f"  serve POST /chat (until its 303): {result.serve_note}"]
    return [*lines, f"  serve POST /chat (until its 303): {result.serve.brief()}; overhead at "
                    f"p50 {_overhead(result.serve_difference, result.serve_ratio)}"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with BenchStack() as stack:
        result = measure(stack, turns=args.turns)
    print(json.dumps(result.as_dict()) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
