"""``qbizfed admin docs sync DIR``: put a document folder (documents, permissions, groups)
into the stack's index. The folder format is :mod:`qbizfed.documents.folder`; the sync
itself is :mod:`qbizfed.documents.sync`.

Exit codes: 0 when every document is indexed (or, with ``--dry-run``, the plan was
shown), 1 when any document or group failed (each listed with AWS's reason), 2 for
usage errors. Errors such as a malformed folder are raised as qbizfed errors and printed
once by :func:`qbizfed.cli.main.main`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import typer

from qbizfed.cli.admin import CONFIG_OPTION, OUTPUT_OPTION, OutputFormat, _console, _print_json

if TYPE_CHECKING:
    from rich.console import Console

    from qbizfed.documents.sync import SyncResult

docs_app = typer.Typer(
    help="Documents and groups of the stack's index, from a folder.", no_args_is_help=True
)

_SYMBOL = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}


class RichSyncProgress:
    """A Rich progress bar per stage (PutGroup, BatchPutDocument, waiting, deletes)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichSyncProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def stage(self, message: str, total: int) -> None:
        self._task = self._bar.add_task(message, total=total)

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, count)


def _print_result(console: Console, result: SyncResult) -> None:
    from rich.markup import escape

    from qbizfed.documents.sync import Action

    for change in result.plan.changes:
        if change.action is Action.UNCHANGED:
            continue
        reason = f"  [dim]({escape(change.reason)})[/]" if change.reason else ""
        console.print(
            f" {_SYMBOL[change.action.value]} {change.kind} {escape(change.name)} "
            f"[bold]{change.action.value}[/]{reason}"
        )
    for kind in ("document", "group"):
        counts = result.plan.counts(kind)
        console.print(f"{kind}s: " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    if result.dry_run:
        console.print("[bold]Dry run:[/] nothing was changed.")
        return
    for failure in result.failures:
        console.print(
            f"[bold red]failed[/] {escape(failure.name)} ({failure.stage}): "
            f"{escape(failure.reason)}"
        )
    if result.ok:
        console.print(f"[bold green]In sync.[/] Record: {escape(result.record_location)}")
    else:
        console.print(
            f"[bold red]{len(result.failures)} failure(s).[/] Fix them and run the "
            "same command again: it resumes and sends only what is not indexed."
        )


@docs_app.command("sync")
def sync_command(
    directory: Path = typer.Argument(..., help="The document folder (format: README)."),
    config_path: Path | None = CONFIG_OPTION,
    application_id: str | None = typer.Option(
        None, "--application-id", help="The application (default: the stack's, by name)."
    ),
    index_id: str | None = typer.Option(
        None, "--index-id", help="The index (default: the stack's, by name)."
    ),
    s3_bucket: str | None = typer.Option(
        None,
        "--s3-bucket",
        help="Upload documents to this bucket and send S3 references (needed over 5 MB); "
        "the sync record is kept there too.",
    ),
    s3_role_arn: str | None = typer.Option(
        None, "--s3-role-arn", help="Role Q Business assumes to read --s3-bucket."
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Delete documents and groups sync put that the folder no longer has."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the plan; change nothing (read calls only)."
    ),
    hash_attribute: bool = typer.Option(
        True,
        "--hash-attribute/--no-hash-attribute",
        help="Send each document's sync hash as the qbizfed_sync_hash attribute.",
    ),
    timeout: float = typer.Option(
        900.0, "--timeout", min=0.0, help="Seconds to wait for documents to be indexed."
    ),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Make the index hold exactly the folder's documents, permissions and groups."""
    import boto3
    from botocore.config import Config

    from qbizfed.aws.provision.clients import CallLog
    from qbizfed.documents.folder import read_folder
    from qbizfed.documents.sync import FolderSync, SyncOptions, SyncTarget
    from qbizfed.documents.sync_record import (
        FileRecordStore,
        RecordStore,
        S3RecordStore,
        local_record_path,
    )
    from qbizfed.settings.stack import resolve_config

    if (application_id is None) != (index_id is None):
        raise typer.BadParameter(
            "give both --application-id and --index-id, or neither",
            param_hint="--application-id / --index-id",
        )
    folder = read_folder(directory)
    config = resolve_config(config_path, os.environ) if application_id is None else None
    session = boto3.session.Session()
    region = config.region if config else (os.environ.get("AWS_REGION") or session.region_name)
    if not region:
        raise typer.BadParameter(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or use --config",
            param_hint="--application-id",
        )
    botocore_config = Config(
        region_name=region,
        user_agent_extra="qbizfed-docs",
        retries={"mode": "standard", "total_max_attempts": 5},
    )
    qbusiness = session.client("qbusiness", config=botocore_config)
    s3 = session.client("s3", config=botocore_config) if s3_bucket else None
    log = CallLog()
    for client in (qbusiness, s3):
        if client is not None:
            client.meta.events.register("before-call.*.*", log.record)
    if config is not None:
        from qbizfed.aws.provision import AwsClients
        from qbizfed.aws.provision.observed import observe_index

        clients = AwsClients.from_session(region=config.region, session=session)
        clients.attach(log)
        application_id, index_id = observe_index(config, clients)
    assert application_id is not None
    assert index_id is not None
    store: RecordStore = (
        S3RecordStore(s3, s3_bucket, application_id, index_id)
        if s3_bucket
        else FileRecordStore(local_record_path(application_id, index_id))
    )
    options = SyncOptions(
        s3_bucket=s3_bucket,
        s3_role_arn=s3_role_arn,
        prune=prune,
        dry_run=dry_run,
        hash_attribute=hash_attribute,
        timeout_seconds=timeout,
    )
    target = SyncTarget(application_id, index_id)
    if output is OutputFormat.JSON:
        result = FolderSync(
            folder, qbusiness=qbusiness, s3=s3, target=target, store=store, options=options
        ).run()
    else:
        console = _console()
        console.print(
            f"Syncing {len(folder.documents)} document(s) and {len(folder.groups)} "
            f"group(s) into index {index_id} of {application_id}"
        )
        progress = RichSyncProgress(_console(stderr=True))
        options.progress = progress
        with progress:
            result = FolderSync(
                folder, qbusiness=qbusiness, s3=s3, target=target, store=store, options=options
            ).run()
        _print_result(console, result)
    if output is OutputFormat.JSON:
        data: dict[str, Any] = result.as_dict()
        data["calls"] = {
            "total": len(log.calls),
            "mutating": len(log.mutating),
            "mutating_calls": [op for _, op in log.mutating],
        }
        _print_json(data)
    raise typer.Exit(0 if result.ok else 1)
