"""Login throughput with a slow dependency, and the broker's CPU per login: qbizfed vs the samples.

OIDC: ``qbizfed serve`` and the sample's ``oidcapp.py`` design, against the dev IdP whose
token endpoint is slowed to ``--delay-ms``. SAML: ``serve`` and the sample's
``samlapp.py`` (FastAPI, a blocking ``assume_role_with_saml`` inside ``async def``, no
validation), against the same IdP, with every call of the local STS slowed to
``--delay-ms`` (a remote STS; the ACS's one outgoing call). Each relying party runs under
uvicorn in its own process, against the same local AWS. N concurrent users each run the
login: the full one (relying party -> IdP login form -> back), or only the leg back
(callback / ACS: code exchange or assertion, validation, STS), the IdP part done first.

Equal work, alternating phases: each side makes the same number of logins, split into
``--phases`` phases run in ABBA order (baseline, qbizfed, qbizfed, baseline, ...), so a
drift of the shared machine's load hits both. Printed per comparison:

* throughput ratio qbizfed / baseline (goal >= 20x), with the spread of the per-phase
  ratios as its noise (a ratio within noise of 1 is reported as such), and qbizfed /
  ideal, where ideal = concurrency / delay (goal >= 80%);
* broker CPU per login: the relying-party process's user+system CPU over the timed
  parts, divided by the logins. The IdP and STS run in other processes, so their work
  and the waits are excluded (goal < 2 ms).

Run: ``.venv/bin/python -m bench.login_throughput [--protocol oidc|saml|both]
[--concurrency 50] [--logins 200] [--phases 4]``.
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

from bench.browser import (
    SamlPost,
    authorize,
    authorize_saml,
    finish,
    finish_saml,
    new_browser,
    sign_in,
    sign_in_saml,
)
from bench.processes import ChildServer
from bench.stack import DEMO_PASSWORD as PW
from bench.stack import DEMO_USERS, BenchStack
from bench.stats import Latency, RatioWithNoise, ratio_over_phases

FULL = "full login"
CALLBACK = "callback leg"
ACS = "ACS leg"
OIDC = "OIDC"
SAML = "SAML"
SLOW_PART = {OIDC: "token endpoint", SAML: "STS"}
LEG = {OIDC: CALLBACK, SAML: ACS}


@dataclass(frozen=True)
class Phase:
    """One app's share of one phase: how many logins succeeded in how long, and CPU."""

    logins: int
    latencies: tuple[float, ...]
    errors: tuple[str, ...]
    seconds: float
    cpu_seconds: dict[str, float]
    """Per process kind ("broker", "idp", "aws", "load generator") over the timed part."""


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
    phase_rates: tuple[float, ...] = ()
    """Logins/s of each phase, in the order run."""
    first_error: str | None = None

    @classmethod
    def of_phases(cls, app: str, mode: str, concurrency: int, phases: Sequence[Phase]) -> LoginRun:
        logins = sum(p.logins for p in phases)
        latencies = [t for p in phases for t in p.latencies]
        errors = [e for p in phases for e in p.errors]
        seconds = sum(p.seconds for p in phases)
        cpu: dict[str, float] = {}
        for phase in phases:
            for kind, used in phase.cpu_seconds.items():
                cpu[kind] = cpu.get(kind, 0.0) + used
        per_login = {k: v * 1000 / max(logins, 1) for k, v in cpu.items()}
        return cls(
            app=app, mode=mode, concurrency=concurrency, logins=logins, errors=len(errors),
            seconds=seconds, per_second=len(latencies) / max(seconds, 1e-9),
            latency=Latency.of_seconds(latencies), cpu_ms_per_login=per_login.pop("broker"),
            cpu_ms_per_login_elsewhere=per_login,
            phase_rates=tuple(len(p.latencies) / max(p.seconds, 1e-9) for p in phases),
            first_error=errors[0] if errors else None,
        )  # fmt: skip


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
    start_url: str,
    *,
    concurrency: int,
    logins: int,
    mode: str = FULL,
    protocol: str = OIDC,
    on_timed_start: Callable[[], None] = lambda: None,
) -> tuple[list[float], list[str], float]:
    """``logins`` logins at most ``concurrency`` at a time; only the ``mode`` part is timed.

    ``FULL``: the whole login, relying party -> IdP form -> back. Otherwise users first
    get through the IdP (untimed), then the legs back are timed (the OIDC callback: the
    slow token endpoint and STS; the SAML ACS: validation and the slow STS).
    ``on_timed_start`` is called just before the timed part begins.
    """
    users = itertools.cycle(DEMO_USERS)
    browsers = [new_browser() for _ in range(logins)]
    try:
        if mode == FULL:
            whole = sign_in if protocol == OIDC else sign_in_saml
            jobs = [_job(whole, b, start_url, next(users)) for b in browsers]
            on_timed_start()
            return await _bounded(jobs, concurrency)
        # Each leg back must go through the browser that started its login.
        backs: dict[int, str | SamlPost] = {}

        def collect(i: int, user: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                through = authorize if protocol == OIDC else authorize_saml
                backs[i] = await through(browsers[i], start_url, username=user, password=PW)

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
        return await _bounded([_back(browsers[i], backs[i]) for i in range(logins)], concurrency)
    finally:
        await asyncio.gather(*(b.aclose() for b in browsers))


def _job(
    whole: Callable[..., Awaitable[httpx.Response]],
    browser: httpx.AsyncClient,
    start_url: str,
    user: str,
) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await whole(browser, start_url, username=user, password=PW)

    return job


def _back(browser: httpx.AsyncClient, back: str | SamlPost) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        if isinstance(back, SamlPost):
            await finish_saml(browser, back)
        else:
            await finish(browser, back)

    return job


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_phase(
    server: ChildServer,
    start_url: str,
    *,
    concurrency: int,
    logins: int,
    mode: str,
    protocol: str,
    others: Sequence[ChildServer] = (),
) -> Phase:
    """One app's logins of one phase; CPU is counted over the timed part only."""
    before: dict[str, float] = {}

    def snapshot() -> dict[str, float]:
        cpu = {o.kind: o.cpu_seconds() for o in others}
        cpu["load generator"] = _own_cpu_seconds()
        cpu["broker"] = server.cpu_seconds()
        return cpu

    latencies, errors, seconds = asyncio.run(drive_logins(
        start_url, concurrency=concurrency, logins=logins, mode=mode, protocol=protocol,
        on_timed_start=lambda: before.update(snapshot()),
    ))  # fmt: skip
    after = snapshot()
    return Phase(
        logins=logins, latencies=tuple(latencies), errors=tuple(errors), seconds=seconds,
        cpu_seconds={k: after[k] - before.get(k, after[k]) for k in after},
    )  # fmt: skip


@dataclass(frozen=True)
class LoginComparison:
    protocol: str
    delay_ms: float
    """The slow dependency's added latency: the IdP's token endpoint (OIDC) or STS (SAML)."""
    qbizfed: LoginRun
    baseline: LoginRun

    @property
    def slow_part(self) -> str:
        return SLOW_PART[self.protocol]

    @property
    def noise(self) -> RatioWithNoise:
        """The overall ratio, with the spread of the per-phase ratios as its noise."""
        per_phase = ratio_over_phases(
            [(r, 1.0) for r in self.qbizfed.phase_rates],
            [(r, 1.0) for r in self.baseline.phase_rates],
        )
        return RatioWithNoise(ratio=self.ratio, noise=per_phase.noise, phases=per_phase.phases)

    @property
    def ratio(self) -> float:
        return self.qbizfed.per_second / max(self.baseline.per_second, 1e-9)

    @property
    def ideal_per_second(self) -> float:
        """concurrency / delay; unbounded (inf) when nothing is slowed."""
        if self.delay_ms <= 0:
            return math.inf
        return self.qbizfed.concurrency / (self.delay_ms / 1000)

    @property
    def fraction_of_ideal(self) -> float:
        return self.qbizfed.per_second / self.ideal_per_second

    def as_dict(self) -> dict[str, object]:
        noise = self.noise
        return {
            **asdict(self),
            "slow_part": self.slow_part,
            "ratio": self.ratio,
            "ratio_noise": noise.noise,
            "within_noise": noise.within_noise,
            "ideal_per_second": self.ideal_per_second,
            "fraction_of_ideal": self.fraction_of_ideal,
        }


def _abba(phases: int) -> list[tuple[str, str]]:
    """baseline/qbizfed order per phase: AB, BA, AB, BA... (ABBA over each pair)."""
    return [("baseline", "qbizfed") if i % 2 == 0 else ("qbizfed", "baseline")
            for i in range(phases)]  # fmt: skip


def compare_mode(
    stack: BenchStack, *, protocol: str, mode: str, concurrency: int, logins: int, phases: int
) -> LoginComparison:
    """Equal logins for both apps, in ``phases`` alternating phases."""
    assert stack.serve is not None
    baseline = stack.baseline if protocol == OIDC else stack.saml_baseline
    assert baseline is not None
    apps = {"qbizfed": stack.serve, "baseline": baseline}
    starts = {
        name: (server.url + "/login/oidc" if protocol == OIDC else stack.saml_start_url(server))
        for name, server in apps.items()
    }
    others = [c for c in stack.children if c.kind in ("idp", "aws")]
    for name in apps:  # warm-up: imports, connections, caches; not counted
        asyncio.run(drive_logins(starts[name], concurrency=min(4, concurrency), logins=4,
                                 protocol=protocol))  # fmt: skip
    per_phase = max(1, logins // phases)
    done: dict[str, list[Phase]] = {"qbizfed": [], "baseline": []}
    for order in _abba(phases):
        for name in order:
            done[name].append(run_phase(
                apps[name], starts[name], concurrency=concurrency, logins=per_phase, mode=mode,
                protocol=protocol, others=others,
            ))  # fmt: skip
    runs = {name: LoginRun.of_phases("qbizfed serve" if name == "qbizfed" else "baseline",
                                     mode, concurrency, phases_run)
            for name, phases_run in done.items()}  # fmt: skip
    return LoginComparison(protocol, stack.token_delay_ms, runs["qbizfed"], runs["baseline"])


def compare(
    stack: BenchStack, *, concurrency: int, logins: int, phases: int = 4,
    protocols: Sequence[str] = (OIDC, SAML),
) -> list[LoginComparison]:  # fmt: skip
    """Each protocol's full login and leg back, qbizfed and its sample, on a running stack.

    For SAML, the local STS is slowed by the stack's delay while its comparisons run.
    """
    results = []
    for protocol in protocols:
        if protocol == SAML:
            stack.set_sts_latency(stack.token_delay_ms)
        try:
            for mode in (FULL, LEG[protocol]):
                results.append(compare_mode(stack, protocol=protocol, mode=mode,
                                            concurrency=concurrency, logins=logins,
                                            phases=phases))  # fmt: skip
        finally:
            if protocol == SAML:
                stack.set_sts_latency(0)
    return results


def run(
    *, concurrency: int, logins: int, phases: int, delay_ms: float, protocols: Sequence[str]
) -> list[LoginComparison]:
    with BenchStack(token_delay_ms=delay_ms, with_baseline=True) as stack:
        return compare(stack, concurrency=concurrency, logins=logins, phases=phases,
                       protocols=protocols)  # fmt: skip


def describe(result: LoginComparison) -> list[str]:
    lines = [f"{result.protocol} {result.qbizfed.mode}: {result.slow_part} delay "
             f"{result.delay_ms:.0f} ms, {result.qbizfed.concurrency} concurrent users, "
             f"{result.qbizfed.logins} logins each in {len(result.qbizfed.phase_rates)} "
             "alternating phases"]  # fmt: skip
    for r in (result.baseline, result.qbizfed):
        rates = ", ".join(f"{rate:.1f}" for rate in r.phase_rates)
        lines.append(
            f"  {r.app:14s} {r.per_second:7.1f} logins/s (phases: {rates})  "
            f"{r.latency.brief()}  errors {r.errors}/{r.logins}  "
            f"broker CPU {r.cpu_ms_per_login:.2f} ms/login"
        )
        elsewhere = ", ".join(f"{k} {v:.2f}" for k, v in r.cpu_ms_per_login_elsewhere.items())
        lines.append(f"    CPU ms/login elsewhere: {elsewhere}")
        if r.first_error:
            lines.append(f"    first error: {r.first_error}")
    lines.append(f"  throughput ratio qbizfed/baseline: {result.noise.brief()} (goal >= 20x)")
    lines.append(
        f"  qbizfed / ideal ({result.ideal_per_second:.0f}/s): "
        f"{result.fraction_of_ideal:.0%} (goal >= 80%)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["oidc", "saml", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--logins", type=int, default=200, help="per app, over all phases")
    parser.add_argument("--phases", type=int, default=4)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    protocols = {"oidc": (OIDC,), "saml": (SAML,), "both": (OIDC, SAML)}[args.protocol]
    results = run(concurrency=args.concurrency, logins=args.logins, phases=args.phases,
                  delay_ms=args.delay_ms, protocols=protocols)  # fmt: skip
    if args.json:
        print(json.dumps([r.as_dict() for r in results], default=str))
    else:
        for result in results:
            print("\n".join(describe(result)))


if __name__ == "__main__":
    main()
