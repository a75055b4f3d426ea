"""``qbizfed local up``: the whole system on one machine, in one command.

Starts local AWS (with the demo corpus), the dev IdP, provisions an OIDC and a SAML
application through the same ``admin apply`` code used against AWS, starts the web
broker wired to both, and prints where to go and who can see what. Ctrl-C stops it all.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from qbizfed.cli.signals import install_stop_signal, wait_for_stop_signal

if TYPE_CHECKING:
    import boto3

DEMO_CLIENT_ID = "qbizfed-demo"
DEMO_REGION = "us-east-1"
DEMO_PASSWORD = "demo"  # noqa: S105  (the dev IdP's documented demo password)
DEMO_USERS = ("alice@example.com", "bob@example.com", "carol@example.com")


@dataclass(frozen=True)
class DemoStack:
    """What ``local up`` started, for printing and for tests."""

    aws_url: str
    idp_url: str
    serve_url: str
    oidc_application_id: str
    saml_application_id: str
    oidc_role_arn: str
    saml_role_arn: str
    saml_provider_arn: str


def _admin_session() -> boto3.session.Session:
    """The local stack's administrator: fake keys, passed as values (no environment writes)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="AKIAQBIZFEDLOCALDEMO",
        aws_secret_access_key="local-demo-admin-secret-not-a-real-key",  # noqa: S106
        region_name=DEMO_REGION,
    )


def _ensure_client_secret(
    session: boto3.session.Session, aws_url: str, client_secret: str
) -> str:
    name = f"{DEMO_CLIENT_ID}-oidc-client-secret"
    client = session.client("secretsmanager", endpoint_url=aws_url, region_name=DEMO_REGION)
    payload = json.dumps({"client_secret": client_secret})
    try:
        return str(client.create_secret(Name=name, SecretString=payload)["ARN"])
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=payload)
        return str(client.describe_secret(SecretId=name)["ARN"])


def _visible_titles() -> dict[str, list[str]]:
    """Per demo user, the demo documents they may see (read from the corpus itself)."""
    from qbizfed.local.qbusiness.corpus import demo_corpus_path, load_corpus
    from qbizfed.local.qbusiness.permissions import GroupDirectory, may_see

    corpus = load_corpus(demo_corpus_path())
    groups = GroupDirectory()
    for name, members in corpus.groups.items():
        groups.put_group(name, members)
    return {
        user: sorted(
            doc.document.title
            for doc in corpus.documents
            if may_see(doc.access, groups.identity(user))
        )
        for user in DEMO_USERS
    }


@contextmanager
def demo_stack(
    *, aws_port: int = 4566, idp_port: int = 9000, serve_port: int = 8000, active_delay: float = 0.3
) -> Iterator[DemoStack]:
    """Start everything; stop it all on exit (also on failure half-way)."""
    import uvicorn

    from qbizfed.aws.provision import AwsClients, apply_stack
    from qbizfed.local.idp.server import DevIdp, DevIdpSettings
    from qbizfed.local.idp.users import OidcClient, ServiceProvider
    from qbizfed.local.idp.users import Secret as IdpSecret
    from qbizfed.local.qbusiness.corpus import demo_corpus_path
    from qbizfed.local.stack import LocalAws, LocalAwsSettings
    from qbizfed.settings.chat import ChatSettings
    from qbizfed.settings.oidc import OidcRegistration
    from qbizfed.settings.saml import SamlRegistration
    from qbizfed.settings.serve import WebSettings
    from qbizfed.settings.stack import Mode, StackConfig
    from qbizfed.web.app import create_app

    with ExitStack() as stack:
        aws = LocalAws(
            LocalAwsSettings(
                port=aws_port, active_delay_seconds=active_delay, corpus_dir=demo_corpus_path()
            )
        ).start()
        stack.callback(aws.stop)
        admin = _admin_session()

        serve_url = f"http://127.0.0.1:{serve_port}"
        callback = f"{serve_url}/auth/oidc/callback"
        signed_out = f"{serve_url}/login/oidc"
        acs = f"{serve_url}/saml"
        client_secret = secrets.token_urlsafe(32)
        idp = DevIdp(
            DevIdpSettings(
                port=idp_port,
                clients=(
                    OidcClient(
                        client_id=DEMO_CLIENT_ID,
                        client_secret=IdpSecret(client_secret),
                        redirect_uris=(callback,),
                        post_logout_redirect_uris=(signed_out, f"{serve_url}/"),
                    ),
                ),
            )
        ).start()
        stack.callback(idp.stop)

        # One registration at the dev IdP: admin provisions it, serve signs users in with it.
        registration = OidcRegistration(
            issuer=idp.issuer,
            client_id=DEMO_CLIENT_ID,
            redirect_uri=callback,
            logout_redirect_uri=signed_out,
            allow_insecure_loopback_http=True,
        )
        clients = AwsClients.from_session(region=DEMO_REGION, session=admin, endpoint_url=aws.url)
        secret_arn = _ensure_client_secret(admin, aws.url, client_secret)
        oidc = apply_stack(
            StackConfig(
                name="demo-oidc",
                mode=Mode.OIDC,
                region=DEMO_REGION,
                title="qbizfed demo (OIDC)",
                oidc=replace(registration, secret_id=secret_arn),
            ),
            clients=clients,
        )
        # One SAML IdP: admin provisions it, serve signs users in with it.
        saml_registration = SamlRegistration(
            idp_sso_url=idp.saml_sso_url,
            idp_issuer=idp.saml_entity_id,
            acs_url=acs,
            idp_certificate=idp.certificate_pem,
            metadata_document=idp.saml_metadata_xml,
            allow_insecure_loopback_http=True,
        )
        saml = apply_stack(
            StackConfig(
                name="demo-saml",
                mode=Mode.SAML,
                region=DEMO_REGION,
                title="qbizfed demo (SAML)",
                saml=saml_registration,
            ),
            clients=clients,
        )
        if not (oidc.application and oidc.web_role and saml.application and saml.web_role):
            from qbizfed.errors import LocalStackError

            raise LocalStackError(
                "the demo applications were not fully provisioned",
                remedy="run `qbizfed local up` again; if it persists, run `make test`",
            )
        saml_provider_arn = saml.provider.arn if saml.provider else ""
        idp.register_service_provider(
            ServiceProvider(
                entity_id=acs,
                acs_urls=(acs,),
                role_arn=saml.web_role.arn,
                provider_arn=saml_provider_arn,
            )
        )

        settings = WebSettings(
            oidc=replace(
                registration, client_secret=client_secret, role_arn=oidc.web_role.arn
            ),
            saml=replace(
                saml_registration, role_arn=saml.web_role.arn, provider_arn=saml_provider_arn
            ),
            public_url=serve_url,
            aws_region=DEMO_REGION,
            aws_endpoint_url=aws.url,
            chat=ChatSettings(
                application_id=oidc.application.id,
                oidc_application_id=oidc.application.id,
                saml_application_id=saml.application.id,
            ),
        )
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=serve_port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, name="qbizfed-serve", daemon=True)
        thread.start()
        stack.callback(thread.join, 5)
        stack.callback(setattr, server, "should_exit", True)
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            from qbizfed.errors import LocalStackError

            raise LocalStackError(
                f"the web broker could not listen on 127.0.0.1:{serve_port}",
                remedy="stop whatever uses that port, or pass --serve-port",
            )
        yield DemoStack(
            aws_url=aws.url,
            idp_url=idp.url,
            serve_url=serve_url,
            oidc_application_id=oidc.application.id,
            saml_application_id=saml.application.id,
            oidc_role_arn=oidc.web_role.arn,
            saml_role_arn=saml.web_role.arn,
            saml_provider_arn=saml_provider_arn,
        )


def banner_lines(demo: DemoStack, *, ready_seconds: float) -> list[str]:
    """What ``local up`` prints once everything runs (plain text, one fact per line)."""
    return [
        f"qbizfed local up ready in {ready_seconds:.1f} s",
        f"  open      {demo.serve_url}  (sign in with OIDC or SAML)",
        f"  IdP       {demo.idp_url}   password for every demo user: {DEMO_PASSWORD}",
        f"  AWS       export AWS_ENDPOINT_URL={demo.aws_url}",
        f"  OIDC app  export QBUSINESS_APPLICATION_ID={demo.oidc_application_id}"
        "   (with credentials from an OIDC sign-in)",
        f"  SAML app  export QBUSINESS_APPLICATION_ID={demo.saml_application_id}"
        "   (with credentials from a SAML sign-in)",
        f"  terminal: paste the shell lines of {demo.serve_url}/credentials, export "
        "AWS_ENDPOINT_URL and the QBUSINESS_APPLICATION_ID of the protocol you signed in "
        'with, then: qbizfed ask "How do I roll back a deployment?"',
    ]


def _print_banner(console: Console, demo: DemoStack, started: float) -> None:
    """A table in a terminal; whole lines, never wrapped, when stdout is a pipe or file
    (where Rich would otherwise wrap at 80 columns and split what users copy)."""
    lines = banner_lines(demo, ready_seconds=time.perf_counter() - started)
    visible = _visible_titles()
    if not console.is_terminal:
        for line in lines:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        for user, titles in visible.items():
            console.print(f"  user      {user} can see: {'; '.join(titles)}",
                          highlight=False, markup=False, soft_wrap=True)
        console.print("  Ctrl-C stops everything.", highlight=False, soft_wrap=True)
        return
    console.print(f"[bold green]{lines[0]}[/]", highlight=False)
    for line in lines[1:]:
        console.print(line, highlight=False, markup=False)
    table = Table("user", "can see", title="demo users", title_justify="left")
    for user, titles in visible.items():
        table.add_row(user, "\n".join(titles) or "(public documents only)")
    console.print(table)
    console.print("  Ctrl-C stops everything.", highlight=False)


def up(
    aws_port: int = typer.Option(4566, help="Port of the local AWS endpoint."),
    idp_port: int = typer.Option(9000, help="Port of the dev identity provider."),
    serve_port: int = typer.Option(8000, help="Port of the web broker."),
) -> None:
    """Start local AWS, the dev IdP, provision demo applications and serve the web app."""
    started = time.perf_counter()
    console = Console()
    stop = install_stop_signal()
    console.print("Starting local AWS, the dev IdP and the web broker...", highlight=False)
    with demo_stack(aws_port=aws_port, idp_port=idp_port, serve_port=serve_port) as demo:
        _print_banner(console, demo, started)
        wait_for_stop_signal(stop)
        console.print("Stopping...", highlight=False)
    console.print("qbizfed local up stopped.", highlight=False)
