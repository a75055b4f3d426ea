"""Load test: N concurrent users, each a full OIDC login through ``qbizfed serve`` and 5 chat turns.

Against ``qbizfed local idp`` + ``qbizfed local aws`` on loopback (own processes). Each
user signs in through serve (relying party -> dev IdP login form -> callback), then has
5 chat turns in one conversation, ``--via``:

* ``serve`` (default): through serve's chat pages as a browser does: POST the ask form
  (303), then GET the conversation page and take the next form's fields; a turn is
  timed from the POST to the rendered answer. Falls back to ``library`` when this serve
  has no chat route.
* ``serve-stream``: through serve's streamed answers as the page's script does: POST
  ``/chat/stream`` and read the Server-Sent Events until ``done`` (Q Business's
  WebSocket chat behind it); a turn is timed from the POST to the ``done`` event.
* ``library``: export the session's credentials from serve's
  ``/credentials/credential-process`` and ask through the chat library
  (:class:`qbizfed.aws.chat.ChatClient`), directly against the Q Business emulator.

Equal allowance: both sides make their Q Business calls from ``--workers`` processes
(serve's workers, or as many load-generator processes, each with its share of the
users) with at most ``--concurrency`` calls at once in each process (a serve worker's
chat slots, a generator's threads), and a turn's time includes waiting for a slot on
both sides (each library turn is handed to the pool on its own, as each serve turn
waits for a slot); serve also parses, renders and answers two HTTP requests per turn.
With ``--workers N`` > 1 serve runs as ``qbizfed serve --workers N`` (its own Redis as
the session store) and the load generator runs in N processes on both paths.

Bounded: ``--users`` journeys, started evenly over ``--ramp-up`` seconds (0: all at
once; the peak number in flight is reported), and a ``--deadline`` after which
unfinished journeys are cancelled and counted as errors. Prints throughput, p50/p95/p99
of logins and chat turns, and errors (goal: 0 at 200 users).

Run: ``.venv/bin/python -m bench.load_test [--users 200] [--turns 5] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
import httpx

from bench.browser import (
    ask_serve,
    ask_serve_streaming,
    exported_credentials,
    new_browser,
    open_chat,
    sign_in,
)
from bench.stack import CHAT_CONCURRENCY, DEMO_PASSWORD, DEMO_USERS, REGION, BenchStack
from bench.stats import Latency
from qbizfed.aws.chat import RETRY_CONFIG, ChatClient

QUESTIONS = (
    "How many vacation days do I get?",
    "How do I roll back a deployment?",
    "What were the Q3 results?",
    "Can I work remotely?",
    "When is the office closed for holidays?",
)
RAMP_UP_SECONDS = 0.0
"""Users start evenly over this time (locust's spawn rate = users / ramp-up); the default,
0, starts them all at once, so all of them are in flight together."""


@dataclass(frozen=True)
class LoadResult:
    users: int
    turns_per_user: int
    completed: int
    errors: int
    error_kinds: dict[str, int]
    seconds: float
    journeys_per_second: float
    logins_per_second: float
    turns_per_second: float
    login: Latency
    chat_turn: Latency
    first_event: Latency | None
    """``serve-stream`` only: from the POST to the first answer event."""
    answered_with_sources: int
    """Library turns only (serve's pages are not parsed for citations)."""
    chat_via: str
    ramp_up_seconds: float
    peak_concurrent_users: int
    """Most journeys in flight at once (started and not finished)."""
    chat_concurrency: int = CHAT_CONCURRENCY
    """Q Business calls in flight at once: the library side's threads, serve's allowance."""
    chatsync_latency_ms: int = 0
    """The emulator's ChatSync latency fault during the run."""
    chat_phase_turns_per_second: float = 0.0
    """Turns over the time from the first turn's start to the last turn's end (the
    logins before are left out: they cost both paths the same)."""
    workers: int = 1
    """serve's processes, and the load generator's: each has ``chat_concurrency``."""
    session_store: str = "memory"
    """serve's session store: ``redis`` (a local ``redis-server``) or ``memory``."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


GENERATOR_START_SECONDS = 10.0
"""Load-generator processes start their users together, this long after being asked
(spawning a process and importing boto3 takes seconds on a loaded machine)."""


@dataclass(frozen=True)
class Target:
    """Where a load-generator process sends its users (picklable, unlike the stack)."""

    serve_url: str
    aws_url: str
    application_id: str

    @classmethod
    def of(cls, stack: BenchStack) -> Target:
        return cls(stack.serve_url, stack.aws_url, stack.application_id)


@dataclass
class _Measured:
    """What one load-generator process measured (merged over the processes)."""

    via: str
    started: float
    ended: float
    login_times: list[float] = field(default_factory=list)
    turn_times: list[float] = field(default_factory=list)
    first_event_times: list[float] = field(default_factory=list)
    first_turn: float = float("inf")
    last_turn: float = 0.0
    sourced: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    peak_in_flight: int = 0


class _Journeys:
    def __init__(self, stack: Target, turns: int, via: str, concurrency: int) -> None:
        self.stack = stack
        self.turns = turns
        self.via = via
        self.session = boto3.session.Session(region_name=REGION)  # models loaded once
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="bench-chat")
        self.login_times: list[float] = []
        self.turn_times: list[float] = []
        self.first_turn = float("inf")
        self.last_turn = 0.0
        self.first_event_times: list[float] = []
        self.sourced = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.peak_in_flight = 0

    def chat_client(self, creds: dict[str, str]) -> ChatClient:
        client = self.session.client(
            "qbusiness",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            endpoint_url=self.stack.aws_url,
            config=RETRY_CONFIG,
        )
        return ChatClient(qbusiness=client, application_id=self.stack.application_id,
                          subscription_backoff=0.5)  # fmt: skip

    def timed(self, started: float) -> None:
        ended = time.perf_counter()
        self.turn_times.append(ended - started)
        self.first_turn = min(self.first_turn, started)
        self.last_turn = max(self.last_turn, ended)

    async def converse(self, chat: ChatClient) -> None:
        """Each turn waits for one of the pool's threads inside its timed part, as a turn
        through serve waits for one of serve's chat slots (``QBIZFED_CHAT_CONCURRENCY``):
        the same allowance, and the same queueing counted, on both sides."""
        conversation = chat.conversation()
        loop = asyncio.get_running_loop()
        for question in itertools.islice(itertools.cycle(QUESTIONS), self.turns):
            started = time.perf_counter()
            turn = await loop.run_in_executor(self.pool, conversation.ask, question)
            self.timed(started)
            self.sourced += bool(turn.citations)

    async def converse_via_serve(self, browser: httpx.AsyncClient, fields: dict[str, str]) -> None:
        for question in itertools.islice(itertools.cycle(QUESTIONS), self.turns):
            started = time.perf_counter()
            if self.via == "serve-stream":
                answer = await ask_serve_streaming(browser, self.stack.serve_url, fields, question)
                fields = answer.fields
                self.first_event_times.append(answer.first_event_seconds)
            else:
                fields = await ask_serve(browser, self.stack.serve_url, fields, question)
            self.timed(started)

    async def journey(self, username: str, start_after: float) -> None:
        await asyncio.sleep(start_after)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            async with new_browser() as browser:
                started = time.perf_counter()
                await sign_in(browser, self.stack.serve_url + "/login/oidc",
                              username=username, password=DEMO_PASSWORD)  # fmt: skip
                self.login_times.append(time.perf_counter() - started)
                if self.via in ("serve", "serve-stream"):
                    fields = await open_chat(browser, self.stack.serve_url)
                    if fields is not None:
                        await self.converse_via_serve(browser, fields)
                        return
                    self.via = "library"  # this serve has no chat pages
                creds = await exported_credentials(browser, self.stack.serve_url)
            await self.converse(self.chat_client(creds))
        except Exception as exc:  # counted by kind, reported; never hidden
            self.errors[f"{type(exc).__name__}: {str(exc)[:200]}"] += 1
        finally:
            self.in_flight -= 1


async def _drive(journeys: _Journeys, users: int, deadline: float, ramp_up: float) -> float:
    """Runs the users' journeys; returns when they started (``perf_counter``)."""
    names = itertools.cycle(DEMO_USERS)
    tasks = [
        asyncio.create_task(journeys.journey(next(names), ramp_up * i / users))
        for i in range(users)
    ]
    started = time.perf_counter()
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    if pending:
        journeys.errors["DeadlineExceeded"] += len(pending)
        await asyncio.wait(pending)
    return started


def _generate(
    target: Target, *, users: int, turns: int, deadline: float, via: str, ramp_up: float,
    concurrency: int, start_at: float | None = None,
) -> _Measured:  # fmt: skip
    """One load-generator process's share: ``users`` journeys, ``concurrency`` threads.
    ``start_at`` (``perf_counter``, the same clock in every process on Linux) lines the
    processes up."""
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.perf_counter()))
    journeys = _Journeys(target, turns, via, concurrency)
    try:
        started = asyncio.run(_drive(journeys, users, deadline, ramp_up))
    finally:
        journeys.pool.shutdown(wait=True, cancel_futures=True)
    return _Measured(
        via=journeys.via, started=started, ended=time.perf_counter(),
        login_times=journeys.login_times, turn_times=journeys.turn_times,
        first_event_times=journeys.first_event_times, first_turn=journeys.first_turn,
        last_turn=journeys.last_turn, sourced=journeys.sourced, errors=dict(journeys.errors),
        peak_in_flight=journeys.peak_in_flight,
    )  # fmt: skip


def _generate_in_processes(target: Target, processes: int, users: int, **work: Any) -> _Measured:
    """:func:`_generate` in ``processes`` processes, the users shared out; merged."""
    shares = [users // processes + (i < users % processes) for i in range(processes)]
    start_at = time.perf_counter() + GENERATOR_START_SECONDS
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        parts = list(pool.map(_generate_share, [(target, share, start_at, work)
                                                for share in shares]))  # fmt: skip
    errors: collections.Counter[str] = collections.Counter()
    for part in parts:
        errors.update(part.errors)
    return _Measured(
        via=parts[0].via, started=min(p.started for p in parts),
        ended=max(p.ended for p in parts),
        login_times=[t for p in parts for t in p.login_times],
        turn_times=[t for p in parts for t in p.turn_times],
        first_event_times=[t for p in parts for t in p.first_event_times],
        first_turn=min(p.first_turn for p in parts), last_turn=max(p.last_turn for p in parts),
        sourced=sum(p.sourced for p in parts), errors=dict(errors),
        peak_in_flight=sum(p.peak_in_flight for p in parts),
    )  # fmt: skip


def _generate_share(job: tuple[Target, int, float, dict[str, Any]]) -> _Measured:
    target, users, start_at, work = job
    return _generate(target, users=users, start_at=start_at, **work)


def run_load(
    stack: BenchStack,
    *,
    users: int,
    turns: int,
    deadline: float,
    via: str = "serve",
    ramp_up: float = RAMP_UP_SECONDS,
    chatsync_latency_ms: int = 0,
) -> LoadResult:
    """The load generator runs in as many processes as serve has workers, each with
    ``stack.chat_concurrency`` threads: a serve worker's own allowance."""
    work: dict[str, Any] = {"turns": turns, "deadline": deadline, "via": via,
                            "ramp_up": ramp_up, "concurrency": stack.chat_concurrency}  # fmt: skip
    stack.slow_chatsync(chatsync_latency_ms)
    try:
        if stack.workers > 1:
            measured = _generate_in_processes(Target.of(stack), stack.workers, users, **work)
        else:
            measured = _generate(Target.of(stack), users=users, **work)
    finally:
        stack.slow_chatsync(0)
    errors = sum(measured.errors.values())
    seconds = measured.ended - measured.started
    return LoadResult(
        users=users,
        turns_per_user=turns,
        completed=users - errors,
        errors=errors,
        error_kinds=measured.errors,
        seconds=seconds,
        journeys_per_second=(users - errors) / seconds,
        logins_per_second=len(measured.login_times) / seconds,
        turns_per_second=len(measured.turn_times) / seconds,
        login=Latency.of_seconds(measured.login_times),
        chat_turn=Latency.of_seconds(measured.turn_times),
        first_event=Latency.of_seconds(measured.first_event_times)
        if measured.first_event_times
        else None,
        answered_with_sources=measured.sourced,
        chat_via=measured.via,
        ramp_up_seconds=ramp_up,
        peak_concurrent_users=measured.peak_in_flight,
        chat_concurrency=stack.chat_concurrency,
        chatsync_latency_ms=chatsync_latency_ms,
        chat_phase_turns_per_second=len(measured.turn_times)
        / max(measured.last_turn - measured.first_turn, 1e-9),
        workers=stack.workers,
        session_store="redis" if stack.redis_sessions else "memory",
    )


def run(
    *, users: int, turns: int, deadline: float, via: str, ramp_up: float,
    chatsync_latency_ms: int, concurrency: int, workers: int = 1, redis_sessions: bool = False,
) -> LoadResult:  # fmt: skip
    with BenchStack(chat_concurrency=concurrency, workers=workers,
                    redis_sessions=redis_sessions) as stack:  # fmt: skip
        return run_load(
            stack, users=users, turns=turns, deadline=deadline, via=via, ramp_up=ramp_up,
            chatsync_latency_ms=chatsync_latency_ms,
        )  # fmt: skip


def describe(result: LoadResult) -> list[str]:
    return [
        f"load test: {result.users} concurrent users, full OIDC login + {result.turns_per_user} "
        f"chat turns each (via {result.chat_via}), started over {result.ramp_up_seconds:g} s, "
        f"at most {result.peak_concurrent_users} in flight, in {result.seconds:.1f} s; "
        f"ChatSync +{result.chatsync_latency_ms} ms; {result.workers} serve worker(s) "
        f"({result.session_store} sessions) and "
        f"{result.workers} load-generator process(es), each with {result.chat_concurrency} "
        "Q Business calls at once",
        f"  completed {result.completed}/{result.users}, errors {result.errors} "
        f"{result.error_kinds or ''}",
        f"  throughput: {result.journeys_per_second:.1f} journeys/s, "
        f"{result.logins_per_second:.1f} logins/s, {result.turns_per_second:.1f} chat turns/s "
        f"({result.chat_phase_turns_per_second:.1f}/s over the chat phase)",
        f"  login: {result.login.brief()}",
        f"  chat turn: {result.chat_turn.brief()}",
    ] + (
        [f"  first answer event: {result.first_event.brief()}"]
        if result.first_event is not None else []
    ) + (
        [f"  answers with sources: {result.answered_with_sources}/"
         f"{result.users * result.turns_per_user}"]
        if result.chat_via == "library" else []
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds, then cancel")
    parser.add_argument("--via", choices=("serve", "serve-stream", "library"), default="serve")
    parser.add_argument("--ramp-up", type=float, default=RAMP_UP_SECONDS, help="seconds")
    parser.add_argument("--chatsync-ms", type=int, default=0, help="emulator ChatSync latency")
    parser.add_argument("--concurrency", type=int, default=CHAT_CONCURRENCY,
                        help="Q Business calls at once, per process on each side")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1,
                        help="serve's worker processes (> 1: Redis sessions) and as many "
                        "load-generator processes")  # fmt: skip
    parser.add_argument("--redis-sessions", action="store_true",
                        help="serve's sessions in Redis even with one worker (the control "
                        "for --workers)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(
        users=args.users, turns=args.turns, deadline=args.deadline, via=args.via,
        ramp_up=args.ramp_up, chatsync_latency_ms=args.chatsync_ms,
        concurrency=args.concurrency, workers=args.workers,
        redis_sessions=args.redis_sessions,
    )  # fmt: skip
    print(json.dumps(result.as_dict()) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
