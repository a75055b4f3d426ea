"""The ``qbizfed`` command: the one place that catches qbizfed errors and prints them.

``qbizfed creds`` runs on every AWS SDK call through ``credential_process``, so
``main()`` answers a warm-cache ``creds`` before importing Typer, Rich or boto3
(see :mod:`qbizfed.creds.fast`). Everything else, including ``creds`` when it must
refresh or report an error, goes through the Typer app, which is built on first use:
``from qbizfed.cli.main import app`` still works (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import sys

# Not ``typing.TYPE_CHECKING``: importing ``typing`` costs the fast path ~10 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer

    from qbizfed.errors import QbizfedError

_app: typer.Typer | None = None


def _version(value: bool) -> None:
    import typer

    from qbizfed import __version__

    if value:
        typer.echo(f"qbizfed {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The Typer app with every command group registered (built once; heavy imports here)."""
    global _app
    if _app is not None:
        return _app
    import typer

    from qbizfed.cli.admin import admin_app
    from qbizfed.cli.admin_docs import docs_app
    from qbizfed.cli.creds import register_creds_commands
    from qbizfed.cli.local import local_app

    app = typer.Typer(
        name="qbizfed",
        help="Amazon Q Business with IAM federation (OIDC and SAML): admin, sign-in, "
        "credentials, chat and an offline local stack.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.add_typer(local_app, name="local")
    admin_app.add_typer(docs_app, name="docs")
    app.add_typer(admin_app, name="admin")
    register_creds_commands(app)
    from qbizfed.cli.chat import register as register_chat_commands
    from qbizfed.cli.doctor import doctor
    from qbizfed.cli.serve import serve

    app.command("serve")(serve)
    app.command("doctor")(doctor)
    register_chat_commands(app)
    from qbizfed.cli.mcp import mcp

    app.command("mcp")(mcp)

    @app.callback()
    def _root_callback(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """qbizfed: the production toolkit for Amazon Q Business with IAM federation."""

    _app = app
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: run the Typer app; print qbizfed errors with their fix; exit with the
    command's documented code (README, "Exit codes")."""
    if sys.argv[1:2] == ["creds"]:
        # credential_process fast path: no Typer/Rich/boto3 on a warm cache.
        from qbizfed.creds.fast import answer_from_warm_cache

        code = answer_from_warm_cache(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    _run_typer_app()


def print_error(err: QbizfedError) -> None:
    """``error: <what happened>`` and ``  fix: <what to do>`` on stderr."""
    from rich.console import Console
    from rich.markup import escape

    # Whole lines in a pipe; no emoji codes (``ID:SECRET:URI`` holds ``:SECRET:``).
    console = Console(stderr=True, soft_wrap=True, emoji=False)
    console.print(f"[bold red]error:[/] {escape(err.message)}", highlight=False)
    if err.remedy:
        console.print(f"  [bold]fix:[/] {escape(err.remedy)}", highlight=False)


def _run_typer_app() -> None:
    import typer
    from rich.console import Console

    from qbizfed.cli.signals import InterruptRecorder
    from qbizfed.errors import QbizfedError

    ctrl_c = InterruptRecorder().install()
    try:
        result = build_app()(standalone_mode=False)
    except QbizfedError as err:
        print_error(err)
        sys.exit(1)
    except typer.Abort as abort:
        # Click turns Ctrl-C into Abort (130, as a shell reports SIGINT); a declined
        # confirmation or end of input is a refusal (1).
        interrupted = ctrl_c.interrupted or isinstance(abort.__cause__, KeyboardInterrupt)
        Console(stderr=True).print("interrupted" if interrupted else "aborted")
        sys.exit(130 if interrupted else 1)
    except Exception as err:  # usage errors arrive here in standalone_mode=False
        show = getattr(err, "show", None)
        exit_code = getattr(err, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):  # click's ClickException (vendored)
            show()
            sys.exit(exit_code)
        raise
    # With standalone_mode=False, Click *returns* the code of ``typer.Exit(n)`` (and a
    # command's return value) instead of exiting with it: without this line every
    # ``raise typer.Exit(n)`` would end the process with 0.
    sys.exit(result if isinstance(result, int) else 0)

if __name__ == "__main__":
    main()
