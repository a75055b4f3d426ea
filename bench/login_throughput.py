"""Login throughput with a slow IdP, and the broker's CPU per login: qbizfed vs the sample.

Both relying parties run side by side under uvicorn (own processes), against the same
dev IdP whose token endpoint is slowed to ``--token-delay-ms`` and the same local AWS.
N concurrent users each run the full OIDC login (relying party -> IdP login form ->
callback: code exchange, ID-token validation, AssumeRoleWithWebIdentity). Printed:

* throughput ratio qbizfed / baseline (goal >= 20x) and qbizfed / ideal, where ideal =
  concurrency / token latency (goal >= 80%);
* broker CPU per login: the relying-party process's user+system CPU over the run,
  divided by the logins. The IdP and STS run in other processes, so their work and the
  waits are excluded (goal < 2 ms).

Equal work, alternating phases: each side makes the same number of logins, split into
``--phases`` phases run in ABBA order (baseline, qbizfed, qbizfed, baseline).

Run: ``.venv/bin/python -m bench.login_throughput [--concurrency 50] [--logins 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass

import httpx

from bench.browser import authorize, finish, new_browser, sign_in
from bench.processes import ChildServer
from bench.stack import DEMO_PASSWORD as PW
from bench.stack import DEMO_USERS, BenchStack
from bench.stats import Latency

FULL = "full login"
CALLBACK = "callback leg"
PHASES = 2


@dataclass(frozen=True)
class LoginRun:
    app: str
    mode: str
    concurrency: int
    logins: int
    errors: int
    seconds: float
    per_second: float
    latency: Latency
    cpu_ms_per_login: float
    cpu_ms_per_login_elsewhere: dict[str, float]
    """The same for the other processes (IdP, local AWS, this load generator)."""
    first_error: str | None = None


async def _bounded(
    jobs: list[Callable[[], Awaitable[None]]], concurrency: int
) -> tuple[list[float], list[str], float]:
    """Run ``jobs`` at most ``concurrency`` at a time: latencies, errors, wall seconds."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                await job()
            except Exception as exc:  # every failure is counted and reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return latencies, errors, time.perf_counter() - started


async def drive_logins(
    url: str,
    *,
    concurrency: int,
    logins: int,
    mode: str = FULL,
    on_timed_start: Callable[[], None] = lambda: None,
) -> tuple[list[float], list[str], float]:
    """``logins`` logins at most ``concurrency`` at a time; only the ``mode`` part is timed.

    ``FULL``: the whole login, relying party -> IdP form -> callback. ``CALLBACK``: users
    first reach the IdP's redirect back (untimed), then the callbacks are timed: the
    part where the relying party calls the slow token endpoint and STS.
    ``on_timed_start`` is called just before the timed part begins.
    """
    users = itertools.cycle(DEMO_USERS)
    browsers = [new_browser() for _ in range(logins)]
    try:
        if mode == FULL:
            jobs = [_full_login(b, url, next(users)) for b in browsers]
            on_timed_start()
            return await _bounded(jobs, concurrency)
        # Each callback must go back through the browser that started its login.
        callbacks: dict[int, str] = {}

        def collect(i: int, user: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                start = url + "/login/oidc"
                callbacks[i] = await authorize(browsers[i], start, username=user, password=PW)

            return job

        _, errors, _ = await _bounded([collect(i, next(users)) for i in range(logins)], concurrency)
        if errors:
            return [], errors, 1.0
        # Back from the IdP, a browser reaches the relying party on a new connection (its
        # old one idled past the server's keep-alive while the others logged in).
        for i, old in enumerate(browsers):
            browsers[i] = new_browser()
            browsers[i].cookies = old.cookies
            await old.aclose()
        on_timed_start()
        return await _bounded(
            [_callback(browsers[i], callbacks[i]) for i in range(logins)], concurrency
        )
    finally:
        await asyncio.gather(*(b.aclose() for b in browsers))


def _full_login(browser: httpx.AsyncClient, url: str, user: str) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await sign_in(browser, url + "/login/oidc", username=user, password=PW)

    return job


def _callback(browser: httpx.AsyncClient, callback: str) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await finish(browser, callback)

    return job


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    app: str,
    server: ChildServer,
    *,
    concurrency: int,
    logins: int,
    mode: str = FULL,
    others: Sequence[ChildServer] = (),
) -> LoginRun:
    """One run; CPU is counted over the timed part only (the callbacks in ``CALLBACK``)."""
    asyncio.run(drive_logins(server.url, concurrency=min(4, concurrency), logins=4))  # warm-up
    before: dict[str, float] = {}

    def snapshot() -> dict[str, float]:
        cpu = {o.kind: o.cpu_seconds() for o in others}
        cpu["load generator"] = _own_cpu_seconds()
        cpu["broker"] = server.cpu_seconds()
        return cpu

    latencies, errors, seconds = asyncio.run(
        drive_logins(
            server.url,
            concurrency=concurrency,
            logins=logins,
            mode=mode,
            on_timed_start=lambda: before.update(snapshot()),
        )
    )
    after = snapshot()
    per_login = {k: (after[k] - before[k]) * 1000 / logins for k in after}
    cpu_ms = per_login.pop("broker")
    return LoginRun(
        app=app,
        mode=mode,
        concurrency=concurrency,
        logins=logins,
        errors=len(errors),
        seconds=seconds,
        per_second=len(latencies) / seconds,
        latency=Latency.of_seconds(latencies),
        cpu_ms_per_login=cpu_ms,
        cpu_ms_per_login_elsewhere=per_login,
        first_error=errors[0] if errors else None,
    )


@dataclass(frozen=True)
class LoginComparison:
    token_delay_ms: float
    qbizfed: LoginRun
    baseline: LoginRun

    @property
    def ratio(self) -> float:
        return self.qbizfed.per_second / max(self.baseline.per_second, 1e-9)

    @property
    def ideal_per_second(self) -> float:
        """concurrency / token latency; unbounded (inf) when the IdP is not slowed."""
        if self.token_delay_ms <= 0:
            return math.inf
        return self.qbizfed.concurrency / (self.token_delay_ms / 1000)

    @property
    def fraction_of_ideal(self) -> float:
        return self.qbizfed.per_second / self.ideal_per_second

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "ideal_per_second": self.ideal_per_second,
            "fraction_of_ideal": self.fraction_of_ideal,
        }


def run(
    *, concurrency: int, logins: int, token_delay_ms: float, phases: int = PHASES
) -> list[LoginComparison]:
    """Both modes (full login, callback leg), alternating phases, on one stack."""
    with BenchStack(token_delay_ms=token_delay_ms, with_baseline=True) as stack:
        return compare(stack, concurrency=concurrency, logins=logins, phases=phases)


def _merged(runs: Sequence[LoginRun]) -> LoginRun:
    """Phases of one side as one run: totals summed; latency percentiles are the median
    of the phases' (p50) and the worst phase's (p95, p99, max)."""
    first, logins = runs[0], sum(r.logins for r in runs)
    seconds = sum(r.seconds for r in runs)
    p50s = sorted(r.latency.p50 for r in runs)
    elsewhere = {
        k: sum(r.cpu_ms_per_login_elsewhere[k] * r.logins for r in runs) / logins
        for k in first.cpu_ms_per_login_elsewhere
    }
    return LoginRun(
        app=first.app, mode=first.mode, concurrency=first.concurrency, logins=logins,
        errors=sum(r.errors for r in runs), seconds=seconds,
        per_second=sum(r.per_second * r.seconds for r in runs) / seconds,
        latency=Latency(count=sum(r.latency.count for r in runs), p50=p50s[len(p50s) // 2],
                        p95=max(r.latency.p95 for r in runs),
                        p99=max(r.latency.p99 for r in runs),
                        max=max(r.latency.max for r in runs)),
        cpu_ms_per_login=sum(r.cpu_ms_per_login * r.logins for r in runs) / logins,
        cpu_ms_per_login_elsewhere=elsewhere,
        first_error=next((r.first_error for r in runs if r.first_error), None),
    )  # fmt: skip


def compare(
    stack: BenchStack, *, concurrency: int, logins: int, phases: int = PHASES
) -> list[LoginComparison]:
    """Both modes (full login, callback leg) on a running stack: ``logins`` on each side,
    in ``phases`` phases per side, run in ABBA order (baseline, qbizfed, qbizfed,
    baseline, ...) so that a drift of the shared machine's load hits both alike."""
    assert stack.serve is not None
    assert stack.baseline is not None
    others = [c for c in stack.children if c.kind in ("idp", "aws")]
    sides = {"baseline": stack.baseline, "qbizfed serve": stack.serve}
    per_phase = max(1, logins // phases)
    results = []
    for mode in (FULL, CALLBACK):
        runs: dict[str, list[LoginRun]] = {app: [] for app in sides}
        for phase in range(phases):
            order = list(sides) if phase % 2 == 0 else list(reversed(sides))
            for app in order:
                runs[app].append(measure(app, sides[app], concurrency=concurrency,
                                         logins=per_phase, mode=mode, others=others))  # fmt: skip
        results.append(LoginComparison(stack.token_delay_ms, _merged(runs["qbizfed serve"]),
                                       _merged(runs["baseline"])))  # fmt: skip
    return results


def describe(result: LoginComparison) -> list[str]:
    lines = [f"{result.qbizfed.mode}: token endpoint delay {result.token_delay_ms:.0f} ms, "
             f"{result.qbizfed.concurrency} concurrent users"]  # fmt: skip
    for r in (result.baseline, result.qbizfed):
        lines.append(
            f"  {r.app:14s} {r.per_second:7.1f} logins/s  {r.latency.brief()}  "
            f"errors {r.errors}/{r.logins}  broker CPU {r.cpu_ms_per_login:.2f} ms/login"
        )
        elsewhere = ", ".join(f"{k} {v:.2f}" for k, v in r.cpu_ms_per_login_elsewhere.items())
        lines.append(f"    CPU ms/login elsewhere: {elsewhere}")
        if r.first_error:
            lines.append(f"    first error: {r.first_error}")
    lines.append(f"  throughput ratio qbizfed/baseline: {result.ratio:.1f}x (goal >= 20x)")
    lines.append(
        f"  qbizfed / ideal ({result.ideal_per_second:.0f}/s): "
        f"{result.fraction_of_ideal:.0%} (goal >= 80%)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--logins", type=int, default=200, help="per side, over all phases")
    parser.add_argument("--phases", type=int, default=PHASES, help="per side (ABBA order)")
    parser.add_argument("--token-delay-ms", type=float, default=100.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(
        concurrency=args.concurrency,
        logins=args.logins,
        token_delay_ms=args.token_delay_ms,
        phases=args.phases,
    )
    if args.json:
        print(json.dumps([r.as_dict() for r in results], default=str))
    else:
        for result in results:
            print("\n".join(describe(result)))


if __name__ == "__main__":
    main()
