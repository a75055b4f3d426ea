"""Render a :class:`~.result.DoctorReport`: a Rich table with fixes, or JSON.

Only what checks put in their results is shown: claim values such as an email, ARNs
and policy documents, never a token, an assertion or a secret.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qbizfed.doctor.result import DoctorReport, Status

_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red",
          Status.SKIP: "dim"}


def render_json(report: DoctorReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


def render_text(report: DoctorReport, console: Console) -> None:
    table = Table(title="qbizfed doctor", show_lines=True, expand=True)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("what it found (and what it looked at)", overflow="fold")
    for result in report.results:
        style = _STYLE[result.status]
        table.add_row(f"[{style}]{result.status.value}[/]", result.name,
                      f"{escape(result.detail)}\n[dim]{escape(result.looked_at)}[/]")
    console.print(table)
    for result in report.problems:
        assert result.fix is not None
        style = _STYLE[result.status]
        console.print(f"\n[{style}]{result.status.value}[/] [bold]{result.name}[/]: "
                      f"{escape(result.detail)}", highlight=False)
        console.print(f"  [bold]fix:[/] {escape(result.fix.summary)}", highlight=False)
        if result.fix.command:
            console.print(f"  [bold]run:[/] {escape(result.fix.command)}", highlight=False)
        if result.fix.document:
            console.print(escape(result.fix.document), highlight=False, soft_wrap=True)
    if report.missing_permissions:
        console.print("\n[bold]Some checks could not run.[/] Grant doctor's identity these "
                      "read-only permissions: " + ", ".join(report.missing_permissions),
                      highlight=False)
    for note in report.notes:
        console.print(f"\n[dim]note: {escape(note)}[/]", highlight=False)
    failed, warned = len(report.failed), len(report.warnings)
    verdict = ("[green]no problems found[/]" if not (failed or warned)
               else f"[bold red]{failed} FAIL[/], [yellow]{warned} WARN[/]")
    console.print(f"\n{verdict}", highlight=False)
