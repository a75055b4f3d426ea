"""How a server should wait for ChatSync: boto3 in worker threads, or asyncio on sockets.

The choice behind serve's Q Business calls, measured rather than assumed. Against the
emulator of ``qbizfed local aws`` with ChatSync slowed by the local stack's latency fault
(real answers take seconds), with identity-aware credentials from a login through serve,
``--calls`` ChatSync calls are made with at most ``--concurrency`` in flight, by:

* ``threads``: boto3 (one client, shared) on a thread pool of that size: what serve does;
* ``async``: the same requests serialised, signed (botocore's SigV4 signer: never
  hand-written) and parsed by botocore, sent by one ``httpx.AsyncClient`` with a
  semaphore of that size: a waiting call holds a socket, not a thread.

Phases alternate (threads, async, threads, async), equal calls each. Printed per
transport: calls/s, p50/p99 per call, and this process's CPU per call (where the
transports differ: the emulator's share is the same for both).

Run: ``.venv/bin/python -m bench.qbusiness_transport [--calls 400] [--concurrency 32]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import boto3
import httpx
from botocore import parsers, serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.model import OperationModel

from bench.browser import exported_credentials, new_browser, sign_in
from bench.stack import DEMO_PASSWORD, REGION, BenchStack
from bench.stats import Latency
from qbizfed.aws.chat import RETRY_CONFIG, ChatClient

QUESTION = "How many vacation days do I get?"
CHATSYNC_LATENCY_MS = 250


@dataclass(frozen=True)
class TransportResult:
    transport: str
    calls: int
    concurrency: int
    seconds: float
    calls_per_second: float
    latency: Latency
    cpu_ms_per_call: float
    """This process's CPU (all threads) per call."""


@dataclass(frozen=True)
class TransportComparison:
    chatsync_latency_ms: int
    threads: TransportResult
    asyncio: TransportResult

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class AsyncChatSync:
    """ChatSync through botocore's serializer, signer and parser, sent by httpx."""

    def __init__(self, endpoint_url: str, creds: dict[str, str], http: httpx.AsyncClient):
        session = boto3.session.Session(region_name=REGION)._session  # botocore's loader
        self.model = session.get_service_model("qbusiness")
        self.operation: OperationModel = self.model.operation_model("ChatSync")
        self.serializer = serialize.create_serializer(self.model.protocol)
        self.parser = parsers.create_parser(self.model.protocol)
        self.credentials = Credentials(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )
        self.endpoint_url = endpoint_url
        self.http = http

    async def chat_sync(self, **params: Any) -> dict[str, Any]:
        request_dict = self.serializer.serialize_to_request(params, self.operation)
        prepare_request_dict(request_dict, endpoint_url=self.endpoint_url)
        request = create_request_object(request_dict)
        SigV4Auth(self.credentials, self.model.signing_name, REGION).add_auth(request)
        prepared = request.prepare()
        response = await self.http.request(
            prepared.method, prepared.url, headers=dict(prepared.headers.items()),
            content=prepared.body,
        )  # fmt: skip
        parsed: dict[str, Any] = self.parser.parse(
            {"status_code": response.status_code, "headers": response.headers,
             "body": response.content},
            self.operation.output_shape,
        )  # fmt: skip
        if response.status_code >= 300:
            raise ClientError(parsed, "ChatSync")
        return parsed


def _threads(client: Any, app: str, calls: int, concurrency: int) -> TransportResult:
    times: list[float] = []

    def one(_: int) -> None:
        started = time.perf_counter()
        client.chat_sync(applicationId=app, userMessage=QUESTION, clientToken=str(uuid.uuid4()))
        times.append(time.perf_counter() - started)

    cpu, started = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    seconds = time.perf_counter() - started
    return TransportResult("threads (boto3)", calls, concurrency, seconds, calls / seconds,
                           Latency.of_seconds(times), (_cpu() - cpu) * 1000 / calls)  # fmt: skip


async def _async(client: AsyncChatSync, app: str, calls: int, concurrency: int) -> TransportResult:
    times: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            started = time.perf_counter()
            await client.chat_sync(applicationId=app, userMessage=QUESTION,
                                   clientToken=str(uuid.uuid4()))  # fmt: skip
            times.append(time.perf_counter() - started)

    cpu, started = _cpu(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    seconds = time.perf_counter() - started
    return TransportResult("asyncio (botocore signer + httpx)", calls, concurrency, seconds,
                           calls / seconds, Latency.of_seconds(times),
                           (_cpu() - cpu) * 1000 / calls)  # fmt: skip


def _merge(a: TransportResult, b: TransportResult) -> TransportResult:
    seconds = a.seconds + b.seconds
    calls = a.calls + b.calls
    return TransportResult(
        a.transport, calls, a.concurrency, seconds, calls / seconds,
        Latency(calls, (a.latency.p50 + b.latency.p50) / 2, max(a.latency.p95, b.latency.p95),
                max(a.latency.p99, b.latency.p99), max(a.latency.max, b.latency.max)),
        (a.cpu_ms_per_call * a.calls + b.cpu_ms_per_call * b.calls) / calls,
    )  # fmt: skip


async def _compare(stack: BenchStack, calls: int, concurrency: int, latency_ms: int) -> Any:
    async with new_browser() as browser:
        await sign_in(browser, stack.serve_url + "/login/oidc", username="alice",
                      password=DEMO_PASSWORD)  # fmt: skip
        creds = await exported_credentials(browser, stack.serve_url)
    app = stack.application_id
    boto = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=REGION,
    ).client("qbusiness", endpoint_url=stack.aws_url, config=RETRY_CONFIG)  # fmt: skip
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        direct = AsyncChatSync(stack.aws_url, creds, http)
        ChatClient(qbusiness=boto, application_id=app, subscription_backoff=0.2).send(QUESTION)
        for _ in range(3):  # warm-up: the subscription (above), connections
            boto.chat_sync(applicationId=app, userMessage=QUESTION)
            await direct.chat_sync(applicationId=app, userMessage=QUESTION)
        stack.slow_chatsync(latency_ms)
        half = calls // 2
        loop = asyncio.get_running_loop()
        thread_runs, async_runs = [], []
        for _ in range(2):  # alternating phases, equal calls
            thread_runs.append(await loop.run_in_executor(
                None, _threads, boto, app, half, concurrency))  # fmt: skip
            async_runs.append(await _async(direct, app, half, concurrency))
        stack.slow_chatsync(0)
    return _merge(*thread_runs), _merge(*async_runs)


def compare(
    stack: BenchStack, *, calls: int, concurrency: int, latency_ms: int = CHATSYNC_LATENCY_MS
) -> TransportComparison:
    threads, direct = asyncio.run(_compare(stack, calls, concurrency, latency_ms))
    return TransportComparison(latency_ms, threads, direct)


def describe(result: TransportComparison) -> list[str]:
    lines = [f"ChatSync transports, emulator ChatSync +{result.chatsync_latency_ms} ms, "
             "alternating phases"]  # fmt: skip
    for r in (result.threads, result.asyncio):
        lines.append(
            f"  {r.transport}: {r.calls} calls, {r.concurrency} at once: "
            f"{r.calls_per_second:.1f} calls/s, {r.latency.brief()}, "
            f"CPU {r.cpu_ms_per_call:.2f} ms per call"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=CHATSYNC_LATENCY_MS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with BenchStack() as stack:
        result = compare(stack, calls=args.calls, concurrency=args.concurrency,
                         latency_ms=args.latency_ms)  # fmt: skip
    print(json.dumps(result.as_dict()) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
