"""CLI credentials commands: ``configure``, ``login``, ``logout``, ``creds`` and ``exec``.

``creds`` here is the slow path: ``main()`` answers warm-cache calls before Typer is
imported (:mod:`qbizfed.creds.fast`); this command runs when credentials must be
refreshed, or to explain why there are none. Errors are raised as qbizfed errors and
printed once, by ``main()``.
"""

from __future__ import annotations

import os
import sys
from typing import Literal

import typer

from qbizfed.creds import locations

ProtocolOption = Literal["oidc", "saml"]
FormatOption = Literal["process", "env", "json", "ini"]

# As POSIX shells report them (``sh -c``): found but not runnable, not found.
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

_PROFILE_HELP = "qbizfed profile name (default: $QBIZFED_PROFILE or 'default')."


def _profile_name(value: str | None) -> str:
    return value or locations.default_profile_name()


def _err(message: str) -> None:
    typer.echo(message, err=True)


def configure(
    profile: str | None = typer.Option(None, "--profile", "-p", help=_PROFILE_HELP),
    protocol: ProtocolOption = typer.Option("oidc", help="How users sign in."),
    role_arn: str = typer.Option(..., "--role-arn", help="IAM role to assume."),
    region: str = typer.Option("us-east-1", help="AWS region of the application."),
    application_id: str | None = typer.Option(None, help="Q Business application id."),
    duration: int = typer.Option(3600, "--duration", help="Session duration, seconds."),
    refresh_ahead: int = typer.Option(
        300, "--refresh-ahead", help="Renew this many seconds before expiry."
    ),
    endpoint_url: str | None = typer.Option(
        None, help="AWS endpoint (e.g. the local stack); also written to the AWS profile."
    ),
    issuer: str | None = typer.Option(None, help="OIDC: the IdP's issuer URL."),
    client_id: str | None = typer.Option(None, help="OIDC: the client id."),
    client_secret_env: str | None = typer.Option(
        None, help="OIDC: NAME of the env variable holding the client secret (never stored)."
    ),
    scope: list[str] = typer.Option(
        [], "--scope", help="OIDC scope; repeatable (default: openid email offline_access)."
    ),
    redirect_port: int = typer.Option(
        0,
        help="Loopback redirect/ACS port; 0 picks a free one (RFC 8252). SAML needs a fixed "
        "one: the ACS URL http://127.0.0.1:PORT/saml/acs is registered at the IdP.",
    ),
    allow_insecure_loopback_http: bool = typer.Option(
        False, help="Allow a plain-http IdP on 127.0.0.1 (development IdPs only)."
    ),
    refresh_store: str = typer.Option(
        "file", help="Where the OIDC refresh token lives: file (the 0600 cache) or keyring."
    ),
    idp_metadata_url: str | None = typer.Option(None, help="SAML: the IdP's metadata URL."),
    provider_arn: str | None = typer.Option(None, help="SAML: the IAM SAML provider ARN."),
    idp_sso_url: str | None = typer.Option(None, help="SAML: SSO URL (default: metadata's)."),
    sp_entity_id: str | None = typer.Option(
        None, help="SAML: this client's entity id (default: the ACS URL)."
    ),
    aws_profile: str | None = typer.Option(
        None, "--aws-profile", help="Also add a credential_process profile to ~/.aws/config."
    ),
    device: bool = typer.Option(
        False, "--device", help="OIDC: qbizfed login uses the device flow (RFC 8628)."
    ),
) -> None:
    """Write a qbizfed profile (and optionally an AWS CLI profile that uses it)."""
    from qbizfed.creds.awsconfig import add_credential_process_profile
    from qbizfed.settings.profiles import DEFAULT_SCOPES, Profile, write_profile

    name = _profile_name(profile)
    new = Profile(
        name=name,
        protocol=protocol,
        role_arn=role_arn,
        region=region,
        application_id=application_id,
        duration_seconds=duration,
        refresh_ahead_seconds=refresh_ahead,
        endpoint_url=endpoint_url,
        redirect_port=redirect_port,
        allow_insecure_loopback_http=allow_insecure_loopback_http,
        refresh_store=refresh_store,
        issuer=issuer,
        client_id=client_id,
        client_secret_env=client_secret_env,
        scopes=tuple(scope) or DEFAULT_SCOPES,
        idp_sso_url=idp_sso_url,
        idp_metadata_url=idp_metadata_url,
        provider_arn=provider_arn,
        sp_entity_id=sp_entity_id,
        device=device,
    )
    path = write_profile(new)
    _err(f"wrote profile {name!r} to {path}")
    if aws_profile:
        aws_path = add_credential_process_profile(
            aws_profile, name, region=region, endpoint_url=endpoint_url
        )
        _err(f"added AWS profile {aws_profile!r} (credential_process) to {aws_path}")
        _err(f"next: qbizfed login --profile {name}, then aws ... --profile {aws_profile}")


def login(
    profile: str | None = typer.Option(None, "--profile", "-p", help=_PROFILE_HELP),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the sign-in URL instead of opening a browser."
    ),
    timeout: float = typer.Option(300.0, help="Seconds to wait for the browser to come back."),
    device: bool = typer.Option(
        False, "--device", help="OIDC: sign in on another device with a code (RFC 8628)."
    ),
) -> None:
    """Sign in through the IdP in a browser, assume the role and cache the credentials."""
    from qbizfed.creds.login import login as run_login
    from qbizfed.creds.login import open_system_browser
    from qbizfed.settings.profiles import load_profile

    selected = load_profile(_profile_name(profile))
    result = run_login(
        selected,
        announce=_err,
        open_browser=None if no_browser else open_system_browser,
        timeout=timeout,
        device=device,
    )
    creds = result.entry
    who = creds.credentials.email or "(no Email tag)"
    _err(
        f"signed in as {who}; credentials for profile {selected.name!r} cached until "
        f"{creds.expiration:%Y-%m-%d %H:%M:%S %Z}"
        + (" (renewed automatically)" if creds.refresh_token else "")
    )
    for warning in result.warnings:
        _err(f"warning: {warning}")


def logout(
    profile: str | None = typer.Option(None, "--profile", "-p", help=_PROFILE_HELP),
) -> None:
    """Delete the profile's cached credentials (and refresh token)."""
    from qbizfed.creds import cache
    from qbizfed.settings.profiles import load_profile

    name = _profile_name(profile)
    if cache.delete(name):
        _err(f"signed out: deleted the cached credentials of profile {name!r}")
    else:
        load_profile(name)  # a typo says "does not exist", not "nothing to delete"
        _err(f"profile {name!r} had no cached credentials")


def creds(
    profile: str | None = typer.Option(None, "--profile", "-p", help=_PROFILE_HELP),
    fmt: FormatOption = typer.Option(
        "process", "--format", "-f", help="process (credential_process JSON), env, json, ini."
    ),
) -> None:
    """Print the profile's credentials (refreshing them first when due)."""
    from qbizfed.creds.output import render
    from qbizfed.creds.refresh import current_credentials

    renewal = current_credentials(_profile_name(profile))
    if renewal.warning:
        _err(f"warning: {renewal.warning}")
    sys.stdout.write(render(renewal.entry.to_record(), fmt))


def exec_command(
    command: list[str] = typer.Argument(..., help="The command and its arguments, after --."),
    profile: str | None = typer.Option(None, "--profile", "-p", help=_PROFILE_HELP),
) -> None:
    """Run a command with the profile's credentials and region in its environment."""
    from qbizfed.creds.execenv import child_environment, refuse_nesting
    from qbizfed.creds.refresh import current_credentials
    from qbizfed.settings.profiles import load_profile

    refuse_nesting(os.environ)
    name = _profile_name(profile)
    renewal = current_credentials(name)
    if renewal.warning:
        _err(f"warning: {renewal.warning}")
    endpoint = load_profile(name).endpoint_url
    env = child_environment(os.environ, renewal.entry, endpoint_url=endpoint)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        try:
            os.execvpe(command[0], command, env)  # noqa: S606 - the user's own command
        except FileNotFoundError:
            _err(f"error: command not found: {command[0]}")
            raise typer.Exit(EXIT_NOT_FOUND) from None
        except OSError as exc:  # EACCES (not executable, a directory), ENOEXEC, ...
            _err(f"error: cannot run {command[0]}: {exc.strerror}")
            raise typer.Exit(EXIT_NOT_EXECUTABLE) from None
    import subprocess

    try:
        completed = subprocess.run(command, env=env, check=False)
    except FileNotFoundError:
        _err(f"error: command not found: {command[0]}")
        raise typer.Exit(EXIT_NOT_FOUND) from None
    except OSError as exc:
        _err(f"error: cannot run {command[0]}: {exc.strerror}")
        raise typer.Exit(EXIT_NOT_EXECUTABLE) from None
    raise typer.Exit(completed.returncode)


def register_creds_commands(app: typer.Typer) -> None:
    """Add the credentials commands to the root app (called by ``qbizfed.cli.main``)."""
    app.command("configure")(configure)
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("creds")(creds)
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_command)
