"""``qbizfed local idp``: run the dev OIDC provider and SAML IdP until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from qbizfed.errors import ConfigError


def parse_client_flag(value: str) -> tuple[str, str, tuple[str, ...]]:
    """``ID:SECRET:REDIRECT_URI[,REDIRECT_URI...]`` -> (id, secret, redirect URIs)."""
    client_id, sep1, rest = value.partition(":")
    secret, sep2, uris = rest.partition(":")
    redirect_uris = tuple(u for u in uris.split(",") if u)
    if not (sep1 and sep2 and client_id and secret and redirect_uris):
        raise ConfigError(
            "--client must look like ID:SECRET:REDIRECT_URI[,REDIRECT_URI...]",
            remedy="for example --client web:s3cret:http://127.0.0.1:8000/callback",
        )
    return client_id, secret, redirect_uris


def parse_sp_flag(value: str) -> tuple[str, tuple[str, ...]]:
    """``ENTITY_ID=ACS_URL[,ACS_URL...]`` -> (entity id, ACS URLs)."""
    entity_id, sep, urls = value.rpartition("=")
    acs_urls = tuple(u for u in urls.split(",") if u)
    if not (sep and entity_id and acs_urls):
        raise ConfigError(
            "--sp must look like ENTITY_ID=ACS_URL[,ACS_URL...]",
            remedy="for example --sp http://127.0.0.1:8000/saml/metadata=http://127.0.0.1:8000/saml",
        )
    return entity_id, acs_urls


def idp(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback only by default)."),
    port: int = typer.Option(9000, help="Port to listen on; 0 picks a free one."),
    users: Path | None = typer.Option(
        None,
        "--users",
        help="TOML file with users, OIDC clients and SAML service providers, like "
        "qbizfed/local/idp/users.example.toml "
        "(default: demo users alice, bob, carol with password 'demo').",
    ),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="Keep the signing key and certificate here between runs."
    ),
    allow_non_loopback: bool = typer.Option(
        False, "--allow-non-loopback", help="Allow binding to a non-loopback address (unsafe)."
    ),
    client: list[str] = typer.Option(
        [],
        "--client",
        help="Register an OIDC client: CLIENT_ID:CLIENT_SECRET:REDIRECT_URI[,REDIRECT_URI...]; "
        "repeatable.",
    ),
    post_logout_redirect_uri: list[str] = typer.Option(
        [],
        "--post-logout-redirect-uri",
        help="Allowed post_logout_redirect_uri for every --client; repeatable.",
    ),
    require_pkce: bool = typer.Option(
        False, "--require-pkce", help="Make PKCE mandatory for every --client."
    ),
    sp: list[str] = typer.Option(
        [], "--sp", help="Register a SAML service provider: ENTITY_ID=ACS_URL[,...]; repeatable."
    ),
    role_arn: str = typer.Option("", help="Role ARN for the SAML Role attribute of every --sp."),
    provider_arn: str = typer.Option(
        "", help="SAML provider ARN for the Role attribute of every --sp."
    ),
    device_interval: int = typer.Option(
        5, min=0, max=60, help="Device sign-in: seconds between polls (slow_down if sooner)."
    ),
    device_expires_in: int = typer.Option(
        600, min=1, max=3600, help="Device sign-in: seconds a user code stays valid."
    ),
) -> None:
    """Serve a dev OIDC provider and SAML 2.0 IdP with demo users, on loopback."""
    started = time.perf_counter()
    from qbizfed.cli.signals import install_stop_signal, wait_for_stop_signal
    from qbizfed.local.idp.device import DeviceFlowSettings
    from qbizfed.local.idp.server import DevIdp, DevIdpSettings
    from qbizfed.local.idp.users import DEMO_PASSWORD, OidcClient, Secret, ServiceProvider
    from qbizfed.local.loopback import is_loopback_host

    console = Console()
    clients = []
    for value in client:
        client_id, secret, redirect_uris = parse_client_flag(value)
        clients.append(
            OidcClient(
                client_id=client_id,
                client_secret=Secret(secret),
                redirect_uris=redirect_uris,
                post_logout_redirect_uris=tuple(post_logout_redirect_uri),
                require_pkce=require_pkce,
            )
        )
    sps = []
    for value in sp:
        entity_id, acs_urls = parse_sp_flag(value)
        sps.append(
            ServiceProvider(
                entity_id=entity_id,
                acs_urls=acs_urls,
                role_arn=role_arn,
                provider_arn=provider_arn,
            )
        )
    if not is_loopback_host(host) and allow_non_loopback:
        console.print(
            f"[bold red]WARNING:[/] the dev IdP will listen on {host}, a non-loopback address. "
            "Anyone who can reach it can sign in as any demo user. Do not do this on a "
            "shared network.",
            highlight=False,
        )
    settings = DevIdpSettings(
        host=host,
        port=port,
        users_file=users,
        state_dir=state_dir,
        allow_non_loopback=allow_non_loopback,
        clients=tuple(clients),
        service_providers=tuple(sps),
        device_flow=DeviceFlowSettings(expires_in=device_expires_in, interval=device_interval),
    )
    stop = install_stop_signal()
    server = DevIdp(settings).start()
    console.print(
        f"[bold green]qbizfed local idp[/] listening on [bold]{server.url}[/] "
        f"(ready in {time.perf_counter() - started:.2f} s)",
        highlight=False,
    )
    console.print(f"  OIDC issuer:    {server.issuer}", highlight=False)
    console.print(f"  OIDC discovery: {server.discovery_url}", highlight=False)
    console.print(f"  device sign-in: {server.issuer}/device", highlight=False)
    console.print(f"  SAML metadata:  {server.saml_metadata_url}", highlight=False)
    console.print(f"  SAML SSO:       {server.saml_sso_url}", highlight=False)
    for registered in server.directory.clients:
        console.print(
            f"  OIDC client:    {registered.client_id} -> {', '.join(registered.redirect_uris)}",
            highlight=False,
        )
    for provider in server.directory.service_providers:
        console.print(
            f"  SAML SP:        {provider.entity_id} -> {', '.join(provider.acs_urls)}",
            highlight=False,
        )
    for user in server.directory.users:
        console.print(
            f"  user:           {user.username} <{user.email}> "
            f"groups: {', '.join(user.groups) or '(none)'}",
            highlight=False,
        )
    if users is None:
        console.print(f"  demo password:  {DEMO_PASSWORD}", highlight=False)
    console.print("  Ctrl-C stops it.", highlight=False)
    try:
        wait_for_stop_signal(stop)
    finally:
        server.stop()
        console.print("qbizfed local idp stopped.", highlight=False)
