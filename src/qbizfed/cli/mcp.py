"""``qbizfed mcp``: serve Amazon Q Business to MCP clients as the profile's signed-in user.

stdout belongs to the MCP protocol on stdio, so everything for the human goes to
stderr. The profile and application are checked before serving (an unknown profile is
a usage error with the fix); a missing or expired sign-in is not: the server starts,
and each tool call answers "run: qbizfed login --profile NAME" until the user does.
"""

from __future__ import annotations

import typer

from qbizfed.creds import locations


def mcp(
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="qbizfed profile whose signed-in user the server acts as."
    ),
    app_id: str | None = typer.Option(
        None,
        "--app-id",
        help="Q Business application id (default: the profile's, or $QBUSINESS_APPLICATION_ID).",
    ),
    retriever_id: str | None = typer.Option(
        None, "--retriever-id", help="Retriever for the search tool (default: the first)."
    ),
    http: int | None = typer.Option(
        None,
        "--http",
        metavar="PORT",
        help="Serve streamable HTTP on PORT (0 picks one) instead of stdio; a bearer token "
        "is generated and printed to stderr.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP: address to bind (loopback)."),
    allow_non_loopback: bool = typer.Option(
        False, "--allow-non-loopback", help="HTTP: allow binding beyond loopback."
    ),
) -> None:
    """Run an MCP server (stdio, or --http) whose tools ask Q Business as the signed-in user."""
    from qbizfed.mcp_server.http_guard import new_bearer_token, require_loopback
    from qbizfed.mcp_server.profile_user import ProfileUser, resolve_profile
    from qbizfed.mcp_server.server import build_server, run_http, run_stdio
    from qbizfed.mcp_server.tools import QBusinessTools

    if http is not None:
        require_loopback(host, allow_non_loopback=allow_non_loopback)
    served = resolve_profile(profile or locations.default_profile_name(), app_id)
    server = build_server(QBusinessTools(ProfileUser(served, retriever_id=retriever_id)))
    if http is None:
        run_stdio(server)
        return
    run_http(
        server, host=host, port=http, token=new_bearer_token(),
        allow_non_loopback=allow_non_loopback, announce=lambda line: typer.echo(line, err=True),
    )  # fmt: skip
