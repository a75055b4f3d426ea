"""``qbizfed local``: the offline stack (local AWS, dev IdP, everything at once)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from qbizfed.cli.signals import install_stop_signal, wait_for_stop_signal

local_app = typer.Typer(
    help="Run qbizfed's offline stack: local AWS (IAM, STS, Secrets Manager, KMS, S3, "
    "Q Business) and a dev identity provider, on loopback.",
    no_args_is_help=True,
)

_SERVICE_FLAG_HELP = "A number for every service, or SERVICE=NUMBER; repeatable."


@local_app.command("aws")
def aws(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback only by default)."),
    port: int = typer.Option(4566, help="Port to listen on; 0 picks a free one."),
    active_delay: float = typer.Option(
        1.0, help="Seconds Q Business resources stay CREATING before turning ACTIVE."
    ),
    latency_ms: list[str] = typer.Option(
        [], "--latency-ms", help=f"Added latency in ms. {_SERVICE_FLAG_HELP}"
    ),
    throttle_rate: list[str] = typer.Option(
        [], "--throttle-rate", help=f"Share of requests throttled, 0..1. {_SERVICE_FLAG_HELP}"
    ),
    error_rate: list[str] = typer.Option(
        [], "--error-rate", help=f"Share of requests failing with a 5xx, 0..1. {_SERVICE_FLAG_HELP}"
    ),
    fault_seed: int | None = typer.Option(None, help="Seed for fault injection (repeatable runs)."),
    corpus: Path | None = typer.Option(
        None, "--corpus", help="Folder of documents to load into every new Q Business index."
    ),
    allow_non_loopback: bool = typer.Option(
        False, "--allow-non-loopback", help="Allow binding to a non-loopback address (unsafe)."
    ),
    stream_delay_ms: int = typer.Option(
        0, "--stream-delay-ms", min=0, help="Pause between the text events of a streamed chat."
    ),
    stream_close_after: int | None = typer.Option(
        None, "--stream-close-after", min=0, help="Close every chat stream after N events."
    ),
    stream_exception_after: int | None = typer.Option(
        None, "--stream-exception-after", min=0, help="Exception frame after N stream events."
    ),
    stream_stall_seconds: float | None = typer.Option(
        None, "--stream-stall-seconds", min=0, help="Stall every chat stream N s after 1 event."
    ),
    application_quota: int = typer.Option(
        50, "--application-quota", min=1,
        help="Q Business applications per account and region (AWS's default quota: 50).",
    ),
) -> None:
    """Serve IAM, STS, Secrets Manager, KMS, S3 and Q Business on one loopback port."""
    started = time.perf_counter()
    from qbizfed.local.faults import FaultKind, parse_flag, stream_rules
    from qbizfed.local.stack import LocalAws, LocalAwsSettings

    rules = (
        parse_flag(FaultKind.LATENCY, latency_ms)
        + parse_flag(FaultKind.THROTTLE, throttle_rate)
        + parse_flag(FaultKind.ERROR, error_rate)
        + stream_rules(
            close_after=stream_close_after,
            exception_after=stream_exception_after,
            stall_seconds=stream_stall_seconds,
        )
    )
    settings = LocalAwsSettings(
        host=host,
        port=port,
        active_delay_seconds=active_delay,
        fault_rules=tuple(rules),
        fault_seed=fault_seed,
        corpus_dir=corpus,
        allow_non_loopback=allow_non_loopback,
        stream_delay_ms=stream_delay_ms,
        application_quota=application_quota,
    )
    stop = install_stop_signal()
    stack = LocalAws(settings).start()
    console = Console()
    console.print(
        f"[bold green]qbizfed local aws[/] listening on [bold]{stack.url}[/] "
        f"(ready in {time.perf_counter() - started:.2f} s)",
        highlight=False,
    )
    console.print("  services: " + ", ".join(stack.edge.services), highlight=False)
    console.print(
        f"  streaming chat: ws{stack.url.removeprefix('http')}/chat (HTTP/1.1, h2c, WebSocket)",
        highlight=False,
    )
    for rule in rules:
        console.print(
            f"  fault: {rule.kind.value} {rule.service} "
            f"{rule.latency_ms if rule.latency_ms else rule.rate}"
            + (
                f" after {rule.after_events} events" if rule.kind.value.startswith("stream") else ""
            ),
            highlight=False,
        )
    console.print(
        f"  use it:   export AWS_ENDPOINT_URL={stack.url} AWS_ACCESS_KEY_ID=test "
        "AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1",
        highlight=False,
    )
    console.print("  Ctrl-C stops it.", highlight=False)
    try:
        wait_for_stop_signal(stop)
    finally:
        stack.stop()
        console.print("qbizfed local aws stopped.", highlight=False)


from qbizfed.cli.local_idp import idp  # noqa: E402

local_app.command("idp")(idp)

from qbizfed.cli.local_up import up  # noqa: E402

local_app.command("up")(up)
