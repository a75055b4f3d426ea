"""``qbizfed doctor``: find what breaks IAM federation and print the fix for each problem.

Exit codes: 0 without FAIL (WARN alone is 0), 1 with a FAIL, 2 for usage errors
(including a configuration doctor cannot read: 1 is kept for "found a FAIL").
With ``--user EMAIL --document ID`` doctor explains one user's access to one document
instead (:mod:`qbizfed.doctor.document_access`): 0 access, 1 no access, 2 usage.
Registered by :mod:`qbizfed.cli.main` as ``app.command("doctor")(doctor)``.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import boto3
import httpx
import typer
from botocore.exceptions import ProfileNotFound
from rich.console import Console

from qbizfed.aws.provision.clients import AwsClients
from qbizfed.aws.sts import federation_client
from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache as creds_cache
from qbizfed.doctor import DoctorOptions, render_json, render_text, run_doctor
from qbizfed.doctor.run import DEFAULT_DURATION_SECONDS, EndToEndClients
from qbizfed.errors import ConfigError
from qbizfed.settings.stack import Mode, resolve_config

MAX_CREDENTIAL_FILE = 1024 * 1024


class DoctorOutput(StrEnum):
    TEXT = "text"
    JSON = "json"


def _read_credential(path: Path, option: str) -> str:
    try:
        if path.stat().st_size > MAX_CREDENTIAL_FILE:
            raise typer.BadParameter("the file is larger than 1 MiB", param_hint=option)
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint=option) from exc


def _e2e_clients(region: str) -> EndToEndClients:
    """The federation STS client, and clients with the federated credentials (no profile:
    they must use exactly the credentials STS issued)."""
    shared = boto3.session.Session(region_name=region)

    def make_client(service: str, creds: AwsCredentials) -> Any:
        return shared.client(service, **creds.boto3_session_kwargs())

    return EndToEndClients(federation=federation_client(region=region), make_client=make_client)


def _signed_in(profile: str) -> AwsCredentials:
    """The cached credentials of a ``qbizfed login`` profile (never printed)."""
    cached = creds_cache.load(profile)
    if cached is None or cached.is_expired():
        raise typer.BadParameter(
            f"no valid credentials cached for profile {profile!r}: run "
            f"`qbizfed login --profile {profile}` first", param_hint="--login-profile")
    return cached.credentials


def _device_profiles(issuer: str) -> tuple[str, ...]:
    """Local ``qbizfed login`` profiles of this issuer set to device sign-in."""
    from qbizfed.settings.profiles import load_profiles

    try:
        profiles = load_profiles()
    except ConfigError:
        return ()  # an unreadable profile file is `qbizfed login`'s to report
    return tuple(sorted(p.name for p in profiles.values() if p.device and p.issuer == issuer))


def doctor(
    config: Path | None = typer.Option(
        None, "--config", "-c",
        help="TOML configuration (as for `qbizfed admin`); default: the sample's env variables."),
    profile: str | None = typer.Option(
        None, "--profile", help="AWS profile whose credentials read the account (read-only)."),
    token: Path | None = typer.Option(
        None, "--token", help="File with an ID token to check (decoded locally, not verified)."),
    saml_response: Path | None = typer.Option(
        None, "--saml-response",
        help="File with a SAMLResponse (base64 as posted, or XML) to check locally."),
    role_arn: str | None = typer.Option(
        None, "--role-arn",
        help="The web experience role (default: the stack's, as admin names it)."),
    application_id: str | None = typer.Option(
        None, "--application-id",
        help="The application (default: the stack's, found by name and tag as admin does)."),
    duration: int = typer.Option(
        DEFAULT_DURATION_SECONDS, "--duration", min=900, max=43200,
        help="Session duration you request, checked against the role's maximum."),
    login_profile: str | None = typer.Option(
        None, "--login-profile",
        help="Use the credentials `qbizfed login --profile NAME` cached for the end-to-end "
        "check (GetCallerIdentity, ListConversations)."),
    assume: bool = typer.Option(
        False, "--assume",
        help="Also sign in with the token/response: AssumeRole*, GetCallerIdentity, "
        "ListConversations (sends it to STS, and only there)."),
    output: DoctorOutput = typer.Option(DoctorOutput.TEXT, "--output", "-o", help="text or json."),
    user: str | None = typer.Option(
        None, "--user", help="With --document: explain whether this user (email) sees it."),
    document: str | None = typer.Option(
        None, "--document", help="With --user: the document id to explain access to."),
    index_id: str | None = typer.Option(
        None, "--index-id", help="The index of --document (default: the stack's, by name)."),
) -> None:
    """Check the IdP, IAM, the role and the application for what breaks IAM federation."""
    if user is not None or document is not None:
        _document_access(config, profile, application_id, index_id, user, document, output)
    if token is not None and saml_response is not None:
        raise typer.BadParameter("give --token or --saml-response, not both",
                                 param_hint="--token / --saml-response")
    try:
        stack = resolve_config(config, os.environ)
    except ConfigError as err:
        # Exit 1 means "doctor found a FAIL"; a config doctor cannot read is a usage error.
        from qbizfed.cli.main import print_error

        print_error(err)
        raise typer.Exit(2) from err
    if token is not None and stack.mode is not Mode.OIDC:
        raise typer.BadParameter("the config is SAML: use --saml-response", param_hint="--token")
    if saml_response is not None and stack.mode is not Mode.SAML:
        raise typer.BadParameter("the config is OIDC: use --token", param_hint="--saml-response")
    if assume and token is None and saml_response is None:
        raise typer.BadParameter("--assume needs --token or --saml-response",
                                 param_hint="--assume")
    signed_in = _signed_in(login_profile) if login_profile else None
    credential = None
    if token is not None:
        credential = _read_credential(token, "--token")
    elif saml_response is not None:
        credential = _read_credential(saml_response, "--saml-response")
    try:
        session = (boto3.session.Session(profile_name=profile) if profile
                   else boto3.session.Session())
    except ProfileNotFound as exc:
        raise typer.BadParameter(str(exc), param_hint="--profile") from exc
    clients = AwsClients.from_session(region=stack.region, session=session, max_attempts=3)
    options = DoctorOptions(credential=credential, role_arn=role_arn,
                            application_id=application_id, duration_seconds=duration,
                            assume=assume, signed_in=signed_in,
                            device_profiles=_device_profiles(stack.oidc.issuer)
                            if stack.oidc is not None else ())
    with httpx.Client(timeout=10.0, follow_redirects=False) as http:
        report = run_doctor(stack, options, clients=clients, http=http,
                            e2e=_e2e_clients(stack.region) if assume or signed_in else None)
    if output is DoctorOutput.JSON:
        typer.echo(render_json(report))
    else:
        render_text(report, Console())
    raise typer.Exit(report.exit_code)


def _document_access(config: Path | None, profile: str | None, application_id: str | None,
                     index_id: str | None, user: str | None, document: str | None,
                     output: DoctorOutput) -> None:
    """``doctor --user EMAIL --document ID`` (exits: 0 access, 1 no access, 2 usage)."""
    from qbizfed.aws.provision.observed import observe_index
    from qbizfed.doctor.document_access import check_document_access, render_text

    if not user or not document:
        raise typer.BadParameter("give both --user and --document", param_hint="--user")
    if (application_id is None) != (index_id is None):
        raise typer.BadParameter("give both --application-id and --index-id, or neither",
                                 param_hint="--index-id")
    try:
        session = (boto3.session.Session(profile_name=profile) if profile
                   else boto3.session.Session())
    except ProfileNotFound as exc:
        raise typer.BadParameter(str(exc), param_hint="--profile") from exc
    if application_id is None or index_id is None:
        try:
            stack = resolve_config(config, os.environ)
        except ConfigError as err:  # as for doctor: an unreadable config is a usage error
            from qbizfed.cli.main import print_error

            print_error(err)
            raise typer.Exit(2) from err
        clients = AwsClients.from_session(region=stack.region, session=session, max_attempts=3)
        application_id, index_id = observe_index(stack, clients)
        qbusiness = clients.qbusiness
    else:
        qbusiness = session.client("qbusiness")
    result = check_document_access(qbusiness, application_id=application_id, index_id=index_id,
                                   user=user, document_id=document)
    if output is DoctorOutput.JSON:
        import json

        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        render_text(result, Console(highlight=False, soft_wrap=True))
    raise typer.Exit(result.exit_code)
