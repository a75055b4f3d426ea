"""``qbizfed admin``: plan, apply, status, destroy and export of a federated application.

Every command reads one configuration: ``--config FILE`` (TOML, see ``admin init``) or,
without it, the sample's environment variables. ``--output json`` prints the same
information as data. Errors are raised as qbizfed errors and printed once by
:func:`qbizfed.cli.main.main`.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import typer

from qbizfed.errors import ConfigError
from qbizfed.settings.stack import Mode, StackConfig, config_template, resolve_config, slug_from_url

# boto3, httpx, lxml and Rich's progress load only when an admin command runs: every
# other ``qbizfed`` command (``local aws`` starts in under two seconds) skips them.
if TYPE_CHECKING:
    from rich.console import Console

    from qbizfed.aws.provision import AwsClients, IdpInstructions, Plan

admin_app = typer.Typer(
    help="Create, inspect and remove an IAM-federated Q Business application.",
    no_args_is_help=True,
)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class ExportFormat(StrEnum):
    CLOUDFORMATION = "cloudformation"


CONFIG_OPTION = typer.Option(
    None, "--config", "-c",
    help="TOML configuration (see `qbizfed admin init`); default: the sample's env variables.",
)
OUTPUT_OPTION = typer.Option(OutputFormat.TEXT, "--output", "-o", help="text or json.")
PREFLIGHT_OPTION = typer.Option(
    True, "--preflight/--no-preflight",
    help="Check the IdP (issuer discovery / SAML metadata) before any AWS call.",
)

_SYMBOL = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]",
           "blocked": "[bold red]![/]", "no change": " ", "keep": "[dim]=[/]"}


class RichProgress:
    """Rich display of apply/destroy: one line per step, a spinner with elapsed time."""

    def __init__(self, console: Console) -> None:
        from rich.progress import Progress as RichProgressBar
        from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

        self._console = console
        self._bar = RichProgressBar(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.stop()

    def step(self, message: str) -> None:
        self._console.print(f"  {message}", highlight=False)

    def waiting(self, resource: str, status: str, elapsed: float) -> None:
        text = f"waiting for {resource}: {status}"
        if resource not in self._tasks:
            self._tasks[resource] = self._bar.add_task(text, total=None)
        else:
            self._bar.update(self._tasks[resource], description=text)

    def finished(self, resource: str, status: str, elapsed: float) -> None:
        task = self._tasks.pop(resource, None)
        if task is not None:
            self._bar.remove_task(task)
        self._console.print(f"  {resource} is [bold]{status}[/] ({elapsed:.1f} s)",
                            highlight=False)


def _config(path: Path | None) -> StackConfig:
    return resolve_config(path, os.environ)


def _clients(config: StackConfig) -> AwsClients:
    from qbizfed.aws.provision import AwsClients

    return AwsClients.from_session(region=config.region)


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, stderr=stderr)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _run_preflight(config: StackConfig, enabled: bool, console: Console | None) -> None:
    if not enabled:
        return
    from qbizfed.aws.provision import preflight

    report = preflight(config)
    if console is not None:
        for note in report.notes:
            console.print(f"[dim]checked:[/] {note}")
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")


def _print_plan(console: Console, plan: Plan, title: str) -> None:
    console.print(f"[bold]{title}[/]")
    for change in plan.changes:
        reasons = f"  [dim]({'; '.join(change.reasons)})[/]" if change.reasons else ""
        console.print(f" {_SYMBOL[change.action.value]} {change.resource.value}: {change.name} "
                      f"[bold]{change.action.value}[/]{reasons}")
    pending = len(plan.pending)
    console.print(f"{pending} change(s)." if pending else "Up to date: no changes.")


def _print_instructions(console: Console, instructions: IdpInstructions) -> None:
    console.print("\n[bold]For the IdP administrator[/]")
    for line in instructions.lines():
        console.print(line)


@admin_app.command("init")
def init(
    path: Path = typer.Option(Path("qbizfed.toml"), "--path", "-p",
                              help="Where to write the configuration."),
    mode: Mode | None = typer.Option(None, "--mode", help="oidc or saml (asked if missing)."),
    name: str | None = typer.Option(None, help="Stack name (default: derived from the IdP)."),
    region: str | None = typer.Option(None, help="AWS region (default: AWS_DEFAULT_REGION)."),
    issuer_url: str | None = typer.Option(None, help="OIDC issuer URL."),
    client_id: str | None = typer.Option(None, help="OIDC client ID."),
    secret_id: str | None = typer.Option(None, help="Secrets Manager secret with the client "
                                         "secret."),
    metadata_file: str | None = typer.Option(None, help="SAML metadata XML file."),
    sso_url: str | None = typer.Option(None, help="SAML IdP sign-in URL."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented configuration file, asking for what cannot be guessed."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists", remedy="pass --force to overwrite, or --path")
    env = os.environ
    if mode is None:
        guessed = ("oidc" if env.get("IDP_ISSUER_URL") else
                   "saml" if env.get("SAML_METADATA_DOCUMENT") else None)
        mode = Mode(guessed or typer.prompt("Mode (oidc or saml)", default="oidc").lower())
    region = region or env.get("AWS_DEFAULT_REGION") or typer.prompt("AWS region",
                                                                     default="us-east-1")
    if mode is Mode.OIDC:
        issuer_url = issuer_url or env.get("IDP_ISSUER_URL") or typer.prompt(
            "OIDC issuer URL (as in the IdP's discovery document)")
        client_id = client_id or env.get("IDP_CLIENT_ID") or typer.prompt("OIDC client ID")
        secret_id = secret_id or env.get("AWS_SECRET_ID") or typer.prompt(
            "Secrets Manager secret (ARN or name) holding the IdP client secret")
        name = name or slug_from_url(issuer_url)
        text = config_template(mode=mode, name=name, region=region,
                               account_id=env.get("AWS_ACCOUNT_ID"), issuer_url=issuer_url,
                               client_id=client_id, secret_id=secret_id,
                               secret_kms_key=env.get("AWS_SECRET_ENCRYPTION_KEY", ""))
    else:
        metadata_file = metadata_file or typer.prompt("SAML metadata XML file",
                                                      default="idp-metadata.xml")
        sso_url = sso_url or env.get("IDP_SSO_URL") or typer.prompt("IdP sign-in (SSO) URL")
        name = name or slug_from_url(sso_url)
        text = config_template(mode=mode, name=name, region=region,
                               account_id=env.get("AWS_ACCOUNT_ID"),
                               metadata_file=metadata_file, sso_url=sso_url,
                               custom_acs_url=env.get("CUSTOM_ACS_URL", ""))
    path.write_text(text, encoding="utf-8")
    _console().print(f"wrote {path}; next: qbizfed admin plan --config {path}")


@admin_app.command("plan")
def plan_command(
    config_path: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
    run_preflight: bool = PREFLIGHT_OPTION,
) -> None:
    """Show what apply would create, change or refuse (read-only calls only)."""
    from qbizfed.aws.provision import make_plan, observe

    config = _config(config_path)
    console = _console() if output is OutputFormat.TEXT else None
    _run_preflight(config, run_preflight, console)
    plan = make_plan(config, observe(config, _clients(config)))
    if console is None:
        _print_json({"stack": config.name, "mode": config.mode.value, **plan.as_dict()})
        return
    _print_plan(console, plan, f"Plan for {config.name} ({config.mode.value}, {config.region})")


@admin_app.command("apply")
def apply_command(
    config_path: Path | None = CONFIG_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    output: OutputFormat = OUTPUT_OPTION,
    run_preflight: bool = PREFLIGHT_OPTION,
) -> None:
    """Create or correct the stack so it matches the configuration."""
    from qbizfed.aws.provision import (
        Progress,
        SilentProgress,
        apply_stack,
        idp_instructions,
        make_plan,
        observe,
        status_rows,
    )
    from qbizfed.aws.provision.apply import check_plan

    config = _config(config_path)
    text = output is OutputFormat.TEXT
    console = _console() if text else _console(stderr=True)
    _run_preflight(config, run_preflight, console if text else None)
    clients = _clients(config)
    observed = observe(config, clients)
    plan = make_plan(config, observed)
    check_plan(plan)
    if text:
        _print_plan(console, plan, f"Plan for {config.name}")
    if plan.pending and not yes:
        if not sys.stdin.isatty():
            raise ConfigError("apply needs confirmation but stdin is not a terminal",
                              remedy="pass --yes to apply without asking")
        typer.confirm("Apply these changes?", abort=True)
    progress: Progress
    if text:
        with RichProgress(console) as progress:
            final = apply_stack(config, clients=clients, progress=progress, observed=observed)
    else:
        final = apply_stack(config, clients=clients, progress=SilentProgress(),
                            observed=observed)
    instructions = idp_instructions(config, final)
    if not text:
        _print_json({"stack": config.name, "applied": [c.as_dict() for c in plan.pending],
                     "status": [r.as_dict() for r in status_rows(config, final)],
                     "idp": instructions.as_dict()})
        return
    console.print(f"[bold green]Applied[/] {len(plan.pending)} change(s).")
    _print_instructions(console, instructions)


@admin_app.command("status")
def status_command(
    config_path: Path | None = CONFIG_OPTION,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Every resource of the stack and its state."""
    from rich.table import Table

    from qbizfed.aws.provision import idp_instructions, observe, status_rows

    config = _config(config_path)
    observed = observe(config, _clients(config))
    rows = status_rows(config, observed)
    instructions = idp_instructions(config, observed)
    if output is OutputFormat.JSON:
        _print_json({"stack": config.name, "resources": [r.as_dict() for r in rows],
                     "idp": instructions.as_dict()})
        return
    console = _console()
    table = Table(title=f"{config.name} ({config.mode.value}, {config.region})")
    for column in ("resource", "name", "state", "id / ARN"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.resource, row.name, row.state, row.identifier)
    console.print(table)
    if observed.application is not None:
        _print_instructions(console, instructions)


@admin_app.command("destroy")
def destroy_command(
    config_path: Path | None = CONFIG_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Destroy without asking."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Delete everything the stack owns (and nothing it does not own)."""
    from qbizfed.aws.provision import destroy_plan, destroy_stack, observe

    config = _config(config_path)
    text = output is OutputFormat.TEXT
    console = _console() if text else _console(stderr=True)
    clients = _clients(config)
    observed = observe(config, clients)
    plan = destroy_plan(config, observed)
    if text:
        _print_plan(console, plan, f"Destroy {config.name}")
    if plan.pending and not yes:
        if not sys.stdin.isatty():
            raise ConfigError("destroy needs confirmation but stdin is not a terminal",
                              remedy="pass --yes to destroy without asking")
        typer.confirm("Delete these resources?", abort=True)
    if text:
        with RichProgress(console) as progress:
            result = destroy_stack(config, clients=clients, progress=progress,
                                   observed=observed)
        console.print(f"[bold]Destroyed[/] {len(result.deleted)} resource(s); "
                      f"kept {len(result.kept)} not owned by this stack.")
        return
    result = destroy_stack(config, clients=clients, observed=observed)
    _print_json({"stack": config.name, "deleted": [c.as_dict() for c in result.deleted],
                 "kept": [c.as_dict() for c in result.kept]})


@admin_app.command("export")
def export_command(
    config_path: Path | None = CONFIG_OPTION,
    export_format: ExportFormat = typer.Option(ExportFormat.CLOUDFORMATION, "--format"),
    out: Path | None = typer.Option(None, "--out", help="Write to a file instead of stdout."),
) -> None:
    """The stack as infrastructure as code (a CloudFormation template, JSON)."""
    from qbizfed.aws.provision.export.cloudformation import cloudformation_json

    config = _config(config_path)
    text = cloudformation_json(config)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
