"""What an MCP ``ask`` tool call adds over the chat library's ``ask``, same emulator.

Signs alice in through ``qbizfed serve`` (real OIDC login against the dev IdP) and puts
the exported credentials in a qbizfed profile's cache, as ``qbizfed login`` would. Then
``qbizfed mcp --profile`` runs as a subprocess driven by the ``mcp`` SDK's own client
over stdio (as an MCP host runs it), and turn by turn, interleaved, the same question
goes through the chat library (``ChatClient.conversation().ask``, the baseline) and
through the ``ask`` tool, each in a new conversation. The tool call includes the
JSON-RPC round trip over stdio, argument validation, reading the profile's credential
cache (renewal check) and rendering the citations.

Run: ``.venv/bin/python -m bench.mcp_overhead [--turns 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import boto3

from bench.browser import exported_credentials, new_browser, sign_in
from bench.stack import DEMO_PASSWORD, REGION, BenchStack
from bench.stats import Latency
from qbizfed.aws.chat import RETRY_CONFIG, ChatClient
from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache
from qbizfed.creds.cache import CacheEntry
from qbizfed.settings.profiles import Profile, write_profile

QUESTION = "How many vacation days do I get?"
PROFILE = "bench"
QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


@dataclass(frozen=True)
class McpOverhead:
    turns: int
    library: Latency
    mcp: Latency

    @property
    def overhead_ms(self) -> float:
        return self.mcp.p50 - self.library.p50

    @property
    def ratio(self) -> float:
        return self.mcp.p50 / self.library.p50

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "overhead_ms": self.overhead_ms, "ratio": self.ratio}


def _profile_home(stack: BenchStack, creds: dict[str, str], home: Path) -> dict[str, str]:
    """A qbizfed profile signed in with ``creds``; the environment that finds it."""
    assert stack.federation is not None
    os.environ["QBIZFED_CONFIG"] = str(home / "config.toml")
    os.environ["QBIZFED_CACHE_DIR"] = str(home / "cache")
    write_profile(
        Profile(
            name=PROFILE, protocol="oidc", role_arn=stack.federation.role_arn, region=REGION,
            endpoint_url=stack.aws_url, application_id=stack.application_id,
            issuer=stack.idp_url, client_id="qbizfed-bench", allow_insecure_loopback_http=True,
        )
    )  # fmt: skip
    cache.save(
        CacheEntry(
            profile=PROFILE,
            credentials=AwsCredentials(
                access_key_id=creds["AccessKeyId"],
                secret_access_key=creds["SecretAccessKey"],
                session_token=creds["SessionToken"],
                expiration=datetime.fromisoformat(creds["Expiration"]),
                region=REGION,
                role_arn=stack.federation.role_arn,
                session_tags=(("Email", "alice@example.com"),),
            ),
            protocol="oidc",
        )
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


async def _measure(stack: BenchStack, turns: int, home: Path) -> McpOverhead:
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    async with new_browser() as browser:
        await sign_in(browser, stack.serve_url + "/login/oidc", username="alice",
                      password=DEMO_PASSWORD)  # fmt: skip
        creds = await exported_credentials(browser, stack.serve_url)
    env = _profile_home(stack, creds, home)
    library = ChatClient(
        qbusiness=boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=REGION,
        ).client("qbusiness", endpoint_url=stack.aws_url, config=RETRY_CONFIG),
        application_id=stack.application_id, subscription_backoff=0.2,
    )  # fmt: skip
    server = StdioServerParameters(command=QBIZFED, args=["mcp", "--profile", PROFILE], env=env)
    times: dict[str, list[float]] = {"library": [], "mcp": []}
    async with Client(server) as client:
        for _ in range(5):  # warm-up: subscription, connections, the server's boto3 client
            library.conversation().ask(QUESTION)
            await client.call_tool("ask", {"question": QUESTION})
        for _ in range(turns):
            started = time.perf_counter()
            turn = library.conversation().ask(QUESTION)
            times["library"].append(time.perf_counter() - started)
            started = time.perf_counter()
            result = await client.call_tool("ask", {"question": QUESTION})
            times["mcp"].append(time.perf_counter() - started)
            text = "".join(b.text for b in result.content if b.type == "text")
            if result.is_error or not text.startswith(turn.text):
                raise RuntimeError(f"the MCP ask and the library differ: {text[:200]!r}")
    return McpOverhead(
        turns=turns, library=Latency.of_seconds(times["library"]),
        mcp=Latency.of_seconds(times["mcp"]),
    )  # fmt: skip


def measure(stack: BenchStack, *, turns: int) -> McpOverhead:
    saved = {k: os.environ.get(k) for k in ("QBIZFED_CONFIG", "QBIZFED_CACHE_DIR")}
    try:
        with tempfile.TemporaryDirectory(prefix="qbizfed-bench-mcp-") as home:
            return asyncio.run(_measure(stack, turns, Path(home)))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe(result: McpOverhead) -> list[str]:
    return [
        f"MCP ask tool over the chat library's ask, {result.turns} turns each, interleaved",
        f"  library ask:        {result.library.brief()}",
        f"  MCP ask over stdio: {result.mcp.brief()}",
        f"  overhead: {result.overhead_ms:+.2f} ms at p50 (ratio {result.ratio:.2f}x)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with BenchStack() as stack:
        result = measure(stack, turns=args.turns)
    print(json.dumps(result.as_dict(), default=str) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
