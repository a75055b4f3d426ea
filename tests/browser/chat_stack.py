"""A complete offline chat deployment for the chat tests (integration and browser).

Local AWS with the permissioned demo corpus loaded into every new index, the dev IdP
(alice, bob, carol; password ``demo``), one Q Business application per protocol, IAM
roles trusting the IdP, and ``qbizfed serve`` with the chat pages under uvicorn on
127.0.0.1 — real HTTP everywhere, nothing mocked.

The OIDC application: Q Business's ARN pattern refuses the ``:port`` of a loopback
issuer's IAM OIDC provider ARN. Until the emulator accepts loopback issuers, the OIDC
path's application is created with the SAML provider as its identity provider (a
stop-gap; the chat calls themselves only depend on the session's Email tag).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.qbusiness.corpus import demo_corpus_path
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from qbizfed.settings.chat import ChatSettings
from qbizfed.web.app import create_app
from qbizfed.web.routes_chat import install_chat
from qbizfed.web.sessions import InMemorySessionStore
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.integration.test_serve_harness import UvicornServer
from tests.support.dev_idp_broker import dev_idp_web_settings
from tests.support.dev_idp_federation import federate_dev_idp
from tests.support.session_clock import MovableClock
from tests.support.stream_faults import stream_pacing

CLIENT_ID = "qbizfed-chat"
CLIENT_SECRET = "chat-secret-0123456789abcdef"

# Questions whose answers differ per user in the demo corpus.
ENGINEERING_QUESTION = "When do production deployments of the fleet controller happen?"
ENGINEERING_FACT = "Tuesdays and Thursdays"
ENGINEERING_TITLE = "Deployment runbook"
FINANCE_QUESTION = "What was the revenue in the third quarter?"
FINANCE_FACT = "18.4 million euros"
FINANCE_TITLE = "Q3 2026 financial results"


@dataclass
class ChatStack:
    url: str
    idp: DevIdp
    aws: LocalAws
    oidc_application_id: str
    saml_application_id: str
    oidc_identity_type: str
    clock: MovableClock = field(default_factory=MovableClock)
    """The broker's clock (session ends, credential renewal); tests may move it on."""
    store: InMemorySessionStore = field(default_factory=InMemorySessionStore)
    """The broker's session store, for tests that need a session's server-side record."""


def admin_client_at(aws: LocalAws, service: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name=REGION,
    ).client(service, endpoint_url=aws.url)


def _application(qb: Any, **identity: Any) -> str:
    app = str(
        qb.create_application(displayName="chat" + uuid.uuid4().hex[:8], **identity)[
            "applicationId"
        ]
    )
    qb.create_index(applicationId=app, displayName="demo")  # loads the demo corpus
    deadline = time.monotonic() + 10
    while qb.get_application(applicationId=app)["status"] != "ACTIVE":
        assert time.monotonic() < deadline, "application never became ACTIVE"
        time.sleep(0.02)
    qb.update_application(
        applicationId=app,
        autoSubscriptionConfiguration={"autoSubscribe": "ENABLED",
                                       "defaultSubscriptionType": "Q_LITE"},
    )  # fmt: skip
    return app


def _oidc_application(qb: Any, oidc_provider: str, saml_provider: str) -> tuple[str, str]:
    try:
        return _application(
            qb, identityType="AWS_IAM_IDP_OIDC", iamIdentityProviderArn=oidc_provider,
            clientIdsForOIDC=[CLIENT_ID],
        ), "AWS_IAM_IDP_OIDC"  # fmt: skip
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ValidationException":
            raise
    # Stop-gap (see the module docstring).
    return _application(
        qb, identityType="AWS_IAM_IDP_SAML", iamIdentityProviderArn=saml_provider
    ), "AWS_IAM_IDP_SAML"


@contextmanager
def running_chat_stack(
    *, session_duration_seconds: int = 3600, stream_delay_ms: int = 0
) -> Iterator[ChatStack]:
    aws = LocalAws(
        LocalAwsSettings(
            port=0,
            active_delay_seconds=0.05,
            corpus_dir=demo_corpus_path(),
            **stream_pacing(stream_delay_ms),
        )
    ).start()
    server = UvicornServer()
    base = server.url
    idp: DevIdp | None = None
    try:
        idp = DevIdp(
            DevIdpSettings(
                port=0,
                clients=(
                    OidcClient(
                        client_id=CLIENT_ID,
                        client_secret=Secret(CLIENT_SECRET),
                        redirect_uris=(base + "/auth/oidc/callback",),
                        post_logout_redirect_uris=(base + "/signed-out",),
                    ),
                ),
            )
        ).start()
        iam = admin_client_at(aws, "iam")
        name = "chat" + uuid.uuid4().hex[:8]
        roles = federate_dev_idp(iam, idp, name=name, base=base, client_id=CLIENT_ID)
        oidc_provider, oidc_role, saml_provider = (
            roles.oidc_provider, roles.oidc_role, roles.saml_provider
        )
        qb = admin_client_at(aws, "qbusiness")
        oidc_app, oidc_type = _oidc_application(qb, oidc_provider, saml_provider)
        saml_app = _application(
            qb, identityType="AWS_IAM_IDP_SAML", iamIdentityProviderArn=saml_provider
        )
        settings = dev_idp_web_settings(
            idp,
            base,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            oidc_role_arn=oidc_role,
            aws_region=REGION,
            aws_endpoint_url=aws.url,
            session_duration_seconds=session_duration_seconds,
        )
        clock, store = MovableClock(), InMemorySessionStore()
        app = create_app(settings, sts=ThreadPoolStsIssuer(region=REGION, endpoint_url=aws.url),
                         session_store=store, clock=clock)  # fmt: skip
        install_chat(
            app,
            settings=ChatSettings(
                oidc_application_id=oidc_app,
                saml_application_id=saml_app,
                subscription_backoff_seconds=0.05,
            ),
        )
        server.start(app)
        yield ChatStack(base, idp, aws, oidc_app, saml_app, oidc_type, clock, store)
    finally:
        server.stop()
        if idp is not None:
            idp.stop()
        aws.stop()
