"""``make bench``: every benchmark and the load test, side by side with their baselines.

Writes ``bench/results/latest.md`` (a Markdown table of ratios and goals),
``latest.json`` (every number) and ``latest.png`` (a chart), prints a closing note with
each goal met or missed and why, and refreshes the table in ``bench/README.md``.
``--quick`` runs each benchmark in a tiny configuration (for the smoke test): the
numbers then mean nothing, only that the code works.

Run: ``.venv/bin/python -m bench.run_all [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import (
    chat_overhead,
    chat_stream,
    docs_sync,
    iam_authorization,
    load_test,
    login_throughput,
    mcp_overhead,
    qbusiness_transport,
    reapply,
    saml_validation,
)
from bench.processes import REPO_ROOT, child_environment
from bench.report import Machine, Row, markdown, write_chart, write_json
from bench.stack import BenchStack
from bench.stats import half_range, ratio_over_phases

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"
TABLE_START, TABLE_END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Sizes:
    login_concurrency: int = 50
    logins: int = 200
    """Per app and comparison, split over ``login_phases`` alternating phases."""
    login_phases: int = 4
    token_delay_ms: float = 100.0
    """The slow dependency: the IdP's token endpoint (OIDC), STS (SAML)."""
    load_users: int = 200
    load_chatsync_ms: int = 250
    """The emulator's ChatSync latency fault during the load tests (real answers are slow)."""
    load_concurrency: int = 32
    """Q Business calls at once: serve's allowance and the library side's threads."""
    transport_calls: int = 400
    load_turns: int = 5
    load_deadline_seconds: float = 300.0
    chat_turns: int = 200
    mcp_turns: int = 200
    saml_responses: int = 200
    reapply_repeats: int = 5
    creds_runs: int = 60
    emulator_docs: int = 10_000
    emulator_turns: int = 400
    iam_pairs: int = 3000
    emulator_http_turns: int = 200
    stream_docs: int = 1000
    stream_turns: int = 200
    chat_stream_turns: int = 100
    chat_stream_paced_turns: int = 10
    sync_docs: int = 1000
    sync_phases: int = 2
    fresh_stack_per_load_test: bool = True
    """False reuses one stack for every load test (quicker; the smoke test's choice)."""
    load_workers: int = 1
    """serve's worker processes in the load test (and as many load-generator processes)."""


QUICK = Sizes(
    login_concurrency=4,
    logins=8,
    login_phases=2,
    token_delay_ms=20.0,
    load_users=6,
    transport_calls=8,
    load_turns=2,
    load_deadline_seconds=60.0,
    chat_turns=10,
    mcp_turns=5,
    saml_responses=6,
    reapply_repeats=1,
    creds_runs=3,
    emulator_docs=300,
    emulator_turns=20,
    iam_pairs=40,
    emulator_http_turns=20,
    stream_docs=300,
    stream_turns=10,
    chat_stream_turns=5,
    chat_stream_paced_turns=2,
    fresh_stack_per_load_test=False,
    sync_docs=20,
    sync_phases=1,
)


def creds_benchmark(runs: int) -> dict[str, Any]:
    """``bench/creds_process.py`` (warm ``qbizfed creds`` vs ``python -c pass``), as JSON."""
    out = subprocess.run(
        [sys.executable, "bench/creds_process.py", "--json", "--runs", str(runs)],
        cwd=REPO_ROOT, env=child_environment(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def emulator_benchmark(docs: int, turns: int) -> dict[str, Any]:
    """``bench/emulator_chat.py`` (ChatSync data plane over permissioned documents)."""
    out = subprocess.run(
        [sys.executable, "bench/emulator_chat.py", "--docs", str(docs), "--turns", str(turns)],
        cwd=REPO_ROOT, env=child_environment(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    warm = re.search(r"warm turn, full chat .*?p50 ([0-9.]+) ms", out)
    return {"docs": docs, "warm_full_chat_p50_ms": float(warm.group(1)) if warm else None,
            "output": out}  # fmt: skip


def emulator_http_benchmark(docs: int, turns: int) -> dict[str, Any]:
    """``bench/emulator_chatsync_http.py`` (ChatSync over boto3 and HTTP), as JSON."""
    out = subprocess.run(
        [sys.executable, "bench/emulator_chatsync_http.py", "--json", "--docs", str(docs),
         "--turns", str(turns)],
        cwd=REPO_ROOT, env=child_environment(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def stream_benchmark(docs: int, turns: int) -> dict[str, Any]:
    """``bench/emulator_chat_stream.py`` (a streamed turn vs a ChatSync turn), as JSON."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.emulator_chat_stream", "--json", "--docs", str(docs),
         "--turns", str(turns)],
        cwd=REPO_ROOT, env=child_environment(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _cpu_story(run: login_throughput.LoginRun, load: tuple[float, float, float]) -> str:
    shares = {"broker": run.cpu_ms_per_login, **run.cpu_ms_per_login_elsewhere}
    total = sum(shares.values())
    largest = max(shares, key=lambda k: shares[k])
    parts = ", ".join(f"{k} {v:.1f}" for k, v in run.cpu_ms_per_login_elsewhere.items())
    cores = os.cpu_count() or 1
    return (
        f"Each login costs {total:.1f} ms of CPU across the processes on this machine "
        f"(broker {run.cpu_ms_per_login:.1f}, {parts}), so {cores} cores cap it near "
        f"{cores * 1000 / total:.0f} logins/s even with the machine to itself; it was not "
        f"(load average {load[0]:.1f} at the start). The largest share: {largest}."
    )


def login_rows(results: list[login_throughput.LoginComparison], machine: Machine) -> list[Row]:
    rows = []
    for r in results:
        q, b = r.qbizfed, r.baseline
        label = (f"{r.protocol} login throughput, {q.mode}, {q.concurrency} users, "
                 f"{r.slow_part} +{r.delay_ms:.0f} ms")  # fmt: skip
        errors = (
            f" Errors: qbizfed {q.errors}, baseline {b.errors}." if q.errors or b.errors else ""
        )
        noise = r.noise
        rows.append(Row(
            name=label, ours=q.per_second, baseline=b.per_second, unit="logins/s",
            ratio=r.ratio, goal="≥ 20x", met=r.ratio >= 20 and not q.errors,
            why=("" if r.ratio >= 20 else _cpu_story(q, machine.load_before)) + errors,
            baseline_label=f"sample design, {q.logins} logins each, "
            f"{len(q.phase_rates)} alternating phases",
            noise=f"±{noise.noise:.2f}", within_noise=noise.within_noise,
        ))  # fmt: skip
        rows.append(Row(
            name=f"{label}: share of ideal", ours=q.per_second, baseline=r.ideal_per_second,
            unit="logins/s", ratio=r.fraction_of_ideal, goal="≥ 0.80x",
            met=r.fraction_of_ideal >= 0.8,
            why="" if r.fraction_of_ideal >= 0.8 else _cpu_story(q, machine.load_before),
            baseline_label=f"ideal = users / {r.slow_part} latency",
        ))  # fmt: skip
    for full in (r for r in results if r.qbizfed.mode == login_throughput.FULL):
        q, b = full.qbizfed, full.baseline
        rows.append(Row(
            name=f"broker CPU per {full.protocol} login (relying-party process only)",
            ours=q.cpu_ms_per_login, baseline=b.cpu_ms_per_login, unit="ms",
            ratio=q.cpu_ms_per_login / b.cpu_ms_per_login, goal="< 2 ms",
            met=q.cpu_ms_per_login < 2,
            why="" if q.cpu_ms_per_login < 2 else (
                "Measured as the whole serve process's CPU (/proc, all threads) over the full "
                "logins: uvicorn + FastAPI middleware for the login start and the way back, "
                "the IdP token call (OIDC) or the XML signature checks (SAML), the boto3 STS "
                "call in a worker thread and the session store."
            ),
            baseline_label="sample design",
        ))  # fmt: skip
    return rows


LOAD_ROUNDS = ("library", "serve", "serve", "library")
"""The load test's comparison runs in alternating (ABBA) rounds, each on a fresh stack."""


def load_rows(loads: list[load_test.LoadResult]) -> list[Row]:
    """The load-test goals: serve against the library path, over alternating rounds of the
    same run (turns/s: ratio of the totals; p50: mean of the per-pair ratios; each with the
    spread of the per-pair ratios as its noise)."""
    library = [load for load in loads if load.chat_via == "library"]
    serve = [load for load in loads if load.chat_via == "serve"]
    if not library or len(library) != len(serve):
        return []
    last = serve[-1]
    workers = f", {last.workers} serve workers on Redis" if last.workers > 1 else ""
    setting = (f"{last.users} users, ChatSync +{last.chatsync_latency_ms} ms, "
               f"{last.chat_concurrency} Q Business calls at once on each side{workers}, "
               f"{len(serve)} rounds each, alternating")  # fmt: skip
    pace = ratio_over_phases(
        [(s.turns_per_second * s.seconds, s.seconds) for s in serve],
        [(b.turns_per_second * b.seconds, b.seconds) for b in library],
    )
    phase_pace = [s.chat_phase_turns_per_second / max(b.chat_phase_turns_per_second, 1e-9)
                  for s, b in zip(serve, library, strict=True)]  # fmt: skip
    p50s = [s.chat_turn.p50 / b.chat_turn.p50 for s, b in zip(serve, library, strict=True)]
    p50 = sum(p50s) / len(p50s)
    worst = max(serve, key=lambda s: s.chat_turn.p99 / s.chat_turn.p50)
    tail = worst.chat_turn.p99 / worst.chat_turn.p50
    errors = sum(load.errors for load in serve)
    why = (
        "The machine's CPU, shared by every process of the run (and other work: see the load "
        "average), is what both paths wait on; see bench/results/profile.md for where serve's "
        "time goes."
    )
    rounds = ", ".join(f"{r:.2f}x" for r in pace_per_round(serve, library))
    return [
        Row(name=f"chat turns/s through serve vs the library ({setting})",
            ours=_mean(s.turns_per_second for s in serve),
            baseline=_mean(b.turns_per_second for b in library), unit="turns/s",
            ratio=pace.ratio, goal="≥ 0.7x", met=pace.ratio >= 0.7 and not errors,
            noise=f"±{pace.noise:.2f}",
            why=(f"Per round: {rounds}; over the chat phase alone (logins left out): "
                 + ", ".join(f"{r:.2f}x" for r in phase_pace) + ". "
                 + ("" if pace.ratio >= 0.7 else why)),
            baseline_label="chat library, same run"),
        Row(name=f"chat-turn p50 through serve vs the library's ({setting})",
            ours=_mean(s.chat_turn.p50 for s in serve),
            baseline=_mean(b.chat_turn.p50 for b in library), unit="ms", ratio=p50,
            goal="≤ 2x", met=p50 <= 2, noise=f"±{half_range(p50s):.2f}",
            why=("Per round: " + ", ".join(f"{r:.2f}x" for r in p50s) + ". "
                 + ("" if p50 <= 2 else why)),
            baseline_label="chat library, same run"),
        Row(name=f"chat-turn p99 through serve vs its p50 ({setting})",
            ours=worst.chat_turn.p99, baseline=worst.chat_turn.p50, unit="ms", ratio=tail,
            goal="≤ 5x", met=tail <= 5,
            why="The round with the highest ratio." + ("" if tail <= 5 else " " + why),
            baseline_label="serve's p50"),
    ]  # fmt: skip


def pace_per_round(
    serve: list[load_test.LoadResult], library: list[load_test.LoadResult]
) -> list[float]:
    return [s.turns_per_second / max(b.turns_per_second, 1e-9)
            for s, b in zip(serve, library, strict=True)]  # fmt: skip


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)


def other_rows(details: dict[str, Any]) -> list[Row]:
    creds, saml = details["creds"], details["saml"]
    chat, again = details["chat"], details["reapply"]
    emulator, http = details["emulator"], details["emulator_http"]
    rows = [
        Row(name="warm `qbizfed creds` wall time (median)", ours=creds["creds_median_ms"],
            baseline=creds["baseline_median_ms"], unit="ms", ratio=creds["ratio"],
            goal="< 2x", met=creds["ratio"] < 2, baseline_label="python -c pass"),
        Row(name="SAML response validation (p50)", ours=saml["qbizfed"]["p50"],
            baseline=saml["baseline"]["p50"], unit="ms", ratio=saml["ratio"], goal="< 2 ms",
            met=saml["qbizfed"]["p50"] < 2, baseline_label="sample: decode + escape, no checks",
            why="" if saml["qbizfed"]["p50"] < 2 else (
                "Most of the time is inside python3-saml's is_valid: it re-reads and compiles "
                "its XSD schemas on every call (validate_xml) and runs ~50 XPath queries; the "
                "xmlsec signature checks themselves take ~0.4 ms each.")),
        _overhead_row("chat library overhead over raw boto3 ChatSync (p50)", chat["library"],
                      chat["raw"], chat["ratio"], chat["library_difference"]),
        _serve_chat_row(chat),
        *_serve_cpu_row(chat),
        *_transport_rows(details["transports"]),
        _mcp_row(details["mcp"]),
        Row(name="re-apply of an up-to-date stack: mutating calls",
            ours=again["reapply_mutating_calls"], baseline=again["first_apply_mutating_calls"],
            unit="calls",
            ratio=again["reapply_mutating_calls"] / again["first_apply_mutating_calls"],
            goal="0", met=again["reapply_mutating_calls"] == 0,
            baseline_label="first apply = every run of the sample"),
        Row(name="re-apply of an up-to-date stack: wall time (median)",
            ours=again["reapply_seconds_median"] * 1000,
            baseline=again["first_apply_seconds"] * 1000, unit="ms", ratio=again["time_ratio"],
            goal="—", met=None, baseline_label="first apply"),
        Row(name=f"emulator ChatSync data plane, {emulator['docs']} permissioned docs (warm p50)",
            ours=emulator["warm_full_chat_p50_ms"], baseline=None, unit="ms",
            ratio=None, goal="< 20 ms",
            met=None if emulator["warm_full_chat_p50_ms"] is None
            else emulator["warm_full_chat_p50_ms"] < 20),
        _iam_row(details["iam"]),
        Row(name=f"emulator ChatSync over boto3 + HTTP, {http['docs']} permissioned docs (p50)",
            ours=http["chatsync_p50_ms"], baseline=http["noop_p50_ms"], unit="ms",
            ratio=http["ratio_p50"], goal="own cost < 20 ms", met=http["emulator_p50_ms"] < 20,
            why=f"The emulator's own cost (ChatSync p50 - cheap call p50): "
            f"{http['emulator_p50_ms']:.2f} ms.",
            baseline_label="GetChatControlsConfiguration, same client"),
    ]  # fmt: skip
    return rows + stream_rows(details["stream"])


def stream_rows(stream: dict[str, Any]) -> list[Row]:
    why = (
        "A streamed turn opens a WebSocket per turn (the protocol), signs and checks "
        "three events, and computes the answer before its first delta; ChatSync reuses "
        "a kept-alive connection."
    )
    return [
        Row(name="streamed chat: time to first text event vs a ChatSync turn (p50)",
            ours=stream["first_text_p50_ms"], baseline=stream["chatsync_p50_ms"], unit="ms",
            ratio=stream["first_text_ratio_p50"], goal="—", met=None, why=why,
            baseline_label="ChatSync turn, same question"),
        Row(name="streamed chat: whole answer (until the metadata event) vs a ChatSync turn (p50)",
            ours=stream["stream_total_p50_ms"], baseline=stream["chatsync_p50_ms"], unit="ms",
            ratio=stream["total_ratio_p50"], goal="—", met=None,
            baseline_label="ChatSync turn, same question"),
    ]  # fmt: skip


def _iam_row(iam: dict[str, Any]) -> Row:
    added, alone = iam["added_ms"], iam["evaluation"]["p50"]
    return Row(
        name=f"IAM authorization of a Q Business request, {iam['statements']}-statement role "
        "policy: on vs off (p50)", ours=iam["on"]["p50"], baseline=iam["off"]["p50"],
        unit="ms", ratio=iam["ratio"], goal="< 0.2 ms added", met=added < 0.2,
        why=f"Added {added:+.3f} ms (median of {iam['pairs']} paired differences); the "
        f"evaluation alone takes {alone:.3f} ms in process.",
        baseline_label="same request, authorization off",
    )  # fmt: skip


def _overhead_row(
    name: str, ours: dict[str, Any], raw: dict[str, Any], ratio: float,
    difference: dict[str, Any], why: str = "",
) -> Row:  # fmt: skip
    """An overhead over raw boto3: within the run's noise it is said so, not given a ratio."""
    overhead, noise = difference["value"], difference["noise"]
    within = abs(overhead) <= noise
    return Row(
        name=name, ours=ours["p50"], baseline=raw["p50"], unit="ms", ratio=ratio,
        goal="overhead < 3 ms", met=overhead < 3,
        why=f"Overhead {overhead:+.2f} ms (noise ±{noise:.2f} ms over "
        f"{difference['blocks']} blocks of turns){', within noise' if within else ''}.{why}",
        baseline_label="raw boto3", noise=f"±{noise:.2f} ms", within_noise=within,
    )  # fmt: skip


def _serve_chat_row(chat: dict[str, Any]) -> Row:
    name = "chat overhead of `serve` (POST /chat + answer page) over raw boto3 ChatSync (p50)"
    if chat["serve"] is None:
        return Row(name=name, ours=None, baseline=None, unit="ms", ratio=None,
                   goal="overhead < 3 ms", met=None, why=chat["serve_note"] + ".")  # fmt: skip
    return _overhead_row(
        name, chat["serve"], chat["raw"], chat["serve_ratio"], chat["serve_difference"],
        " It is two HTTP requests from a browser-like client (httpx), the broker's own CPU "
        "per turn (row below: form, session and CSRF checks, the turn in a worker thread, "
        "the page cache and the rendered page) and the hops between threads.",
    )


def _serve_cpu_row(chat: dict[str, Any]) -> list[Row]:
    cpu = chat.get("serve_cpu_ms_per_turn")
    if cpu is None:
        return []
    return [Row(
        name="broker CPU per chat turn (POST + answer page, serve's process, full-speed emulator)",
        ours=cpu, baseline=chat["raw"]["p50"], unit="ms", ratio=cpu / chat["raw"]["p50"],
        goal="< 5 ms", met=cpu < 5,
        why="" if cpu < 5 else "See bench/results/profile.md: boto3's ChatSync call, two "
        "requests through uvicorn/FastAPI and the page render; under a high load average "
        "the same work costs more CPU time (shared caches, contention).",
        baseline_label="raw boto3 ChatSync wall time",
    )]  # fmt: skip


def _transport_rows(transports: dict[str, Any]) -> list[Row]:
    threads, direct = transports["threads"], transports["asyncio"]
    name = (f"ChatSync transport, {threads['concurrency']} at once, "
            f"+{transports['chatsync_latency_ms']} ms: asyncio (botocore signer + httpx) "
            "vs boto3 in threads")  # fmt: skip
    return [
        Row(name=f"{name}: calls/s", ours=direct["calls_per_second"],
            baseline=threads["calls_per_second"], unit="calls/s",
            ratio=direct["calls_per_second"] / threads["calls_per_second"], goal="—",
            met=None, baseline_label="boto3 threads (serve's choice)"),
        Row(name=f"{name}: CPU per call", ours=direct["cpu_ms_per_call"],
            baseline=threads["cpu_ms_per_call"], unit="ms",
            ratio=direct["cpu_ms_per_call"] / threads["cpu_ms_per_call"], goal="—",
            met=None, baseline_label="boto3 threads (serve's choice)"),
    ]  # fmt: skip


def _mcp_row(mcp: dict[str, Any]) -> Row:
    return Row(
        name="MCP `ask` tool call (qbizfed mcp over stdio) over the library's ask (p50)",
        ours=mcp["mcp"]["p50"], baseline=mcp["library"]["p50"], unit="ms", ratio=mcp["ratio"],
        goal="—", met=None,
        why=f"Overhead {mcp['overhead_ms']:+.2f} ms: the MCP SDK's JSON-RPC round trip over "
        "stdio to a second process, argument validation, the SDK's hop of the (blocking) "
        "tool onto a worker thread, the credential-cache check and rendering the citations.",
        baseline_label="library ask",
    )  # fmt: skip


def streamed_answer_rows(
    first: chat_stream.FirstText, paced: chat_stream.Paced, loads: list[load_test.LoadResult]
) -> list[Row]:
    """Streamed answers through the library and serve: first visible text, pacing, load."""
    over = first.serve_over_library_ms
    rows = [
        Row(name="time to first text, library `Conversation.stream` vs the emulator's first "
            "event (p50)", ours=first.library.p50, baseline=first.emulator.p50, unit="ms",
            ratio=first.library_ratio, goal="≤ 1.1x", met=first.library_ratio <= 1.1,
            baseline_label="bare WebSocket client"),
        Row(name="time to first SSE event through serve (`POST /chat/stream`) vs the library "
            "(p50)", ours=first.serve.p50, baseline=first.library.p50, unit="ms",
            ratio=first.serve.p50 / first.library.p50, goal="≤ library + 5 ms", met=over <= 5,
            why=f"{over:+.2f} ms: an HTTP request, form and session, the CSRF check, the "
            "WebSocket from serve, a Markdown render.", baseline_label="library"),
        Row(name=f"paced answers (10 ms between {paced.events_per_answer:.0f} text events): "
            "first text vs the whole answer (p50)", ours=paced.first_text.p50,
            baseline=paced.stream_total.p50, unit="ms", ratio=paced.ratio, goal="≤ 0.1x",
            met=paced.ratio <= 0.1,
            why="The baseline is the whole answer's time, what ChatSync waits for; the "
            f"emulator paces streams only (its ChatSync took {paced.chat_sync_total.p50:.1f} "
            "ms).", baseline_label="whole answer (= a ChatSync wait)"),
    ]  # fmt: skip
    by_via = {load.chat_via: load for load in loads}
    streamed, synced = by_via.get("serve-stream"), by_via.get("serve")
    if streamed is not None and synced is not None:
        ratio = streamed.turns_per_second / synced.turns_per_second
        rows.append(Row(
            name=f"{streamed.users} users streaming through serve: chat turns/s vs ChatSync "
            "pages", ours=streamed.turns_per_second, baseline=synced.turns_per_second,
            unit="turns/s", ratio=ratio, goal="≥ 0.8x, 0 errors",
            met=ratio >= 0.8 and streamed.errors == 0,
            why=f"Errors: {streamed.errors} streaming, {synced.errors} ChatSync.",
            baseline_label="ChatSync pages",
        ))  # fmt: skip
    return rows


def load_lines(loads: list[load_test.LoadResult]) -> list[str]:
    lines = [
        "Load test (`python -m bench.load_test --via library|serve`): all users start at once; "
        "each does a full "
        "OIDC login through `qbizfed serve`, then chat turns in one conversation, either "
        "through the chat library with the credentials serve exports (`library`) or through "
        "serve's chat pages, POST + conversation page per turn (`serve`), or through serve's "
        "streamed answers, POST /chat/stream read to its last event (`serve-stream`):",
        "",
        "| chat via | users (peak in flight) | completed | errors | seconds | journeys/s | chat turns/s | login p50 / p95 / p99 | chat turn p50 / p95 / p99 |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for load in loads:
        lines.append(
            f"| {load.chat_via} | {load.users} ({load.peak_concurrent_users}) | "
            f"{load.completed} | {load.errors} | "
            f"{load.seconds:.1f} | {load.journeys_per_second:.1f} | {load.turns_per_second:.1f} | "
            f"{load.login.p50:.0f} / {load.login.p95:.0f} / {load.login.p99:.0f} ms | "
            f"{load.chat_turn.p50:.1f} / {load.chat_turn.p95:.1f} / {load.chat_turn.p99:.1f} ms |"
        )
    lines.append("")
    for load in loads:
        verdict = "met" if load.errors == 0 else "**missed**"
        if load.users < 200:
            verdict = "not shown by this run (fewer than 200 users)"
        lines.append(f"- Zero errors at 200 concurrent users, chat via {load.chat_via}: {verdict}.")
        for kind, count in load.error_kinds.items():
            lines.append(f"  - {count} × {kind}")
    return lines


def docs_sync_rows(sync: dict[str, Any]) -> list[Row]:
    """``admin docs sync``: first-sync throughput and the calls of an unchanged re-sync."""
    return [
        Row(name=f"admin docs sync, {sync['docs']} documents: first sync throughput",
            ours=sync["sync_docs_per_second"], baseline=sync["baseline_docs_per_second"],
            unit="docs/s", ratio=sync["throughput_ratio"], goal=">= 0.5x",
            met=sync["throughput_ratio"] >= 0.5,
            why="The sync also reads and hashes the folder, plans against ListDocuments, "
            "writes the record after every batch and polls until every document is INDEXED.",
            baseline_label="bare BatchPutDocument x10"),
        Row(name=f"admin docs sync, {sync['docs']} documents: re-sync mutating calls",
            ours=sync["resync_mutating_calls"], baseline=sync["baseline_calls_per_run"],
            unit="calls", ratio=sync["resync_mutating_calls"] / sync["baseline_calls_per_run"],
            goal="0", met=sync["resync_mutating_calls"] == 0,
            why=f"{sync['resync_calls']} read calls (ListDocuments pages, ListGroups).",
            baseline_label="bare script: re-sends everything"),
    ]  # fmt: skip


def run_everything(sizes: Sizes, out: Path) -> dict[str, Any]:
    machine = Machine.here()
    print("login throughput (OIDC: slow IdP, SAML: slow STS), qbizfed vs the samples' "
          "designs ...", flush=True)  # fmt: skip
    with BenchStack(token_delay_ms=sizes.token_delay_ms, with_baseline=True) as stack:
        logins = login_throughput.compare(stack, concurrency=sizes.login_concurrency,
                                          logins=sizes.logins,
                                          phases=sizes.login_phases)  # fmt: skip
    print("load tests (chat via the library, via serve's pages) and chat overhead ...")
    loads = []

    def load_stack() -> BenchStack:
        return BenchStack(chat_concurrency=sizes.load_concurrency,
                          workers=sizes.load_workers).start()  # fmt: skip

    stack = load_stack()
    try:
        for number, via in enumerate((*LOAD_ROUNDS, "serve-stream")):
            if number and sizes.fresh_stack_per_load_test:
                stack.stop()
                stack = load_stack()
            loads.append(
                load_test.run_load(
                    stack,
                    users=sizes.load_users,
                    turns=sizes.load_turns,
                    deadline=sizes.load_deadline_seconds,
                    via=via,
                    chatsync_latency_ms=sizes.load_chatsync_ms,
                )
            )
            if number == 0:
                chat = chat_overhead.measure(stack, turns=sizes.chat_turns)
                mcp = mcp_overhead.measure(stack, turns=sizes.mcp_turns)
                transports = qbusiness_transport.compare(
                    stack, calls=sizes.transport_calls, concurrency=sizes.load_concurrency,
                    latency_ms=sizes.load_chatsync_ms,
                )  # fmt: skip
    finally:
        stack.stop()
    print("streamed answers: first text via the library and serve, paced answers ...")
    with BenchStack() as stack:
        first_text = chat_stream.measure_first_text(stack, turns=sizes.chat_stream_turns)
    with BenchStack(stream_delay_ms=chat_stream.PACED_DELAY_MS) as stack:
        paced = chat_stream.measure_paced(stack, turns=sizes.chat_stream_paced_turns)
    print("SAML validation, re-apply, credential_process, emulator (in process and over "
          "HTTP), IAM ...", flush=True)  # fmt: skip
    details: dict[str, Any] = {
        "login": [r.as_dict() for r in logins],
        "load": [load.as_dict() for load in loads],
        "chat": chat.as_dict(),
        "mcp": mcp.as_dict(),
        "transports": transports.as_dict(),
        "stream_first_text": first_text.as_dict(),
        "stream_paced": paced.as_dict(),
        "saml": saml_validation.run(responses=sizes.saml_responses).as_dict(),
        "reapply": reapply.run(repeats=sizes.reapply_repeats).as_dict(),
        "creds": creds_benchmark(sizes.creds_runs),
        "emulator": emulator_benchmark(sizes.emulator_docs, sizes.emulator_turns),
        "iam": iam_authorization.run(pairs=sizes.iam_pairs).as_dict(),
        "emulator_http": emulator_http_benchmark(sizes.emulator_docs, sizes.emulator_http_turns),
        "stream": stream_benchmark(sizes.stream_docs, sizes.stream_turns),
        "docs_sync": docs_sync.run(docs=sizes.sync_docs, phases=sizes.sync_phases).as_dict(),
        "sizes": asdict(sizes),
    }
    machine = replace(machine, load_after=os.getloadavg())
    rows = login_rows(logins, machine) + load_rows(loads) + other_rows(details)
    rows += streamed_answer_rows(first_text, paced, loads)
    rows += docs_sync_rows(details["docs_sync"])
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, machine, load_lines(loads))
    (out / "latest.md").write_text(table)
    write_json(out / "latest.json", rows, machine, details)
    write_chart(out / "latest.png", rows)
    print()
    for comparison in logins:
        print("\n".join(login_throughput.describe(comparison)))
    for load in loads:
        print("\n".join(load_test.describe(load)))
    print()
    print(table)
    print("Closing note:")
    for row in rows:
        verdict = "no goal" if row.met is None else ("met" if row.met else "MISSED")
        ratio = "" if row.ratio is None else f" (ratio {row.ratio_text()})"
        print(f"- {row.name}: {verdict}{ratio}, goal {row.goal}. {row.why}".rstrip())
    return {"rows": [asdict(r) for r in rows], "details": details}


def refresh_readme(table: str) -> None:
    """Put the latest table between the markers of ``bench/README.md``."""
    text = README.read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END)
    README.write_text(text[: start + len(TABLE_START)] + "\n" + table + text[end:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves the code runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--load-users", type=int, help="fewer users on a shared machine")
    parser.add_argument("--load-workers", type=int, default=1,
                        help="serve's worker processes in the load test (Redis sessions when "
                        "> 1), and as many load-generator processes")  # fmt: skip
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.load_users:
        sizes = replace(sizes, load_users=args.load_users)
    sizes = replace(sizes, load_workers=args.load_workers)
    run_everything(sizes, args.out)
    if not args.quick and args.out == RESULTS:
        refresh_readme((args.out / "latest.md").read_text())


if __name__ == "__main__":
    main()
