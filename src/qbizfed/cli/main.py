"""The ``qbizfed`` command: the one place that catches qbizfed errors and prints them."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from qbizfed import __version__
from qbizfed.cli.admin import admin_app
from qbizfed.cli.local import local_app
from qbizfed.errors import QbizfedError

app = typer.Typer(
    name="qbizfed",
    help="Amazon Q Business with IAM federation (OIDC and SAML): admin, sign-in, "
    "credentials, chat and an offline local stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(local_app, name="local")
app.add_typer(admin_app, name="admin")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qbizfed {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """qbizfed: the production toolkit for Amazon Q Business with IAM federation."""


def main() -> None:
    """Entry point: run the Typer app, print qbizfed errors with their fix, exit 1."""
    try:
        app(standalone_mode=False)
    except QbizfedError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err.message}", highlight=False)
        if err.remedy:
            Console(stderr=True).print(f"  [bold]fix:[/] {err.remedy}", highlight=False)
        sys.exit(1)
    except typer.Abort:
        Console(stderr=True).print("aborted")
        sys.exit(130)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except Exception as err:  # click's usage errors arrive here in standalone_mode=False
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        raise


if __name__ == "__main__":
    main()
