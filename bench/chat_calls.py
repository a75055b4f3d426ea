"""Q Business calls per chat turn through serve, counted by the local stack itself.

A user signs in through serve, opens the chat page, and has ``--conversations``
conversations of ``--turns`` turns each, every one started from the chat home as a
browser does (POST the ask form, follow the redirect to the answer page). The local
stack counts every call it serves: each operation gets a latency fault rule of 0 ms
with a large count (the control endpoint's own rules, which change nothing but count
down), read back at the end. Deterministic, unlike CPU figures on a shared machine.

Run: ``.venv/bin/python -m bench.chat_calls [--conversations 4] [--turns 5]``.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx

from bench.browser import ask_serve, new_browser, open_chat, sign_in
from bench.stack import DEMO_PASSWORD, BenchStack

OPERATIONS = (
    "ChatSync",
    "ListConversations",
    "ListMessages",
    "ListAttachments",
    "GetChatControlsConfiguration",
)
COUNTER = 1_000_000
QUESTION = "How many vacation days do I get?"


async def _count(stack: BenchStack, conversations: int, turns: int) -> dict[str, int]:
    async with new_browser() as browser:
        await sign_in(browser, stack.serve_url + "/login/oidc", username="alice",
                      password=DEMO_PASSWORD)  # fmt: skip
        home = await open_chat(browser, stack.serve_url)
        if home is None:
            raise SystemExit("this serve has no chat pages")
        rules = [{"kind": "latency", "service": "qbusiness", "operation": op,
                  "latency_ms": 0, "count": COUNTER} for op in OPERATIONS]  # fmt: skip
        faults = stack.aws_url + "/_qbizfed/faults"
        httpx.post(faults, json={"rules": rules}).raise_for_status()
        for _ in range(conversations):
            fields = home
            for _ in range(turns):
                fields = await ask_serve(browser, stack.serve_url, fields, QUESTION)
        left = [rule["count"] for rule in httpx.get(faults).json()["rules"]]
        httpx.post(faults, json={"rules": []}).raise_for_status()
    return {op: COUNTER - count for op, count in zip(OPERATIONS, left, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    with BenchStack() as stack:
        counts = asyncio.run(_count(stack, args.conversations, args.turns))
    total_turns = args.conversations * args.turns
    shape = f"{args.conversations} conversations of {args.turns}, each from the chat home"
    print(f"Q Business calls for {total_turns} turns through serve ({shape}):")
    for operation, count in counts.items():
        print(f"  {operation}: {count}")
    print(f"  calls per turn: {sum(counts.values()) / total_turns:.2f}")


if __name__ == "__main__":
    main()
