"""``qbizfed admin``: plan, apply, status, destroy and export of a federated application."""

from __future__ import annotations

import typer

admin_app = typer.Typer(
    help="Create, inspect and remove an IAM-federated Q Business application.",
    no_args_is_help=True,
)
