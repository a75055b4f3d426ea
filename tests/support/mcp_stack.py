"""A federated Q Business application with the demo corpus, users signed in per profile.

For the ``qbizfed mcp`` tests: a private local AWS loaded with the demo corpus (plus any
extra documents), the dev IdP, an IAM OIDC provider and role, an auto-subscribing
application with an index and retriever, and one qbizfed profile per demo user,
signed in through ``qbizfed login``'s own code (the "browser" follows the IdP's forms).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import boto3
import httpx

from qbizfed.creds.login import login
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from qbizfed.settings.profiles import Profile, write_profile
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.peers.flows import browse
from tests.support.chat_permissions import grant_chat_permissions, grant_search_permission
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.qbusiness_app import _wait_active

CLIENT_ID = "qbizfed-mcp-test"
CLIENT_SECRET = "mcp-test-secret-0123456789abcdef"
SECRET_ENV = "QBIZFED_TEST_CLIENT_SECRET"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class SignedInStack:
    aws: LocalAws
    idp: DevIdp
    application_id: str
    home: Path
    """Holds config.toml and the credentials cache."""

    def env(self) -> dict[str, str]:
        """The environment of the user's MCP client: qbizfed's files, no AWS keys."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            QBIZFED_CONFIG=str(self.home / "config.toml"),
            QBIZFED_CACHE_DIR=str(self.home / "cache"),
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            NO_COLOR="1",
        )
        env[SECRET_ENV] = CLIENT_SECRET
        return env


def _corpus(target: Path, extra: Mapping[str, str]) -> Path:
    demo = resources.files("qbizfed.local.qbusiness") / "demo_corpus"
    with resources.as_file(demo) as source:
        shutil.copytree(source, target)
    for relative, text in extra.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text, encoding="utf-8")
    return target


def _application(aws: LocalAws, provider_arn: str) -> str:
    qb = boto3.client(
        "qbusiness", endpoint_url=aws.url, region_name=REGION,
        aws_access_key_id=FAKE_ADMIN_KEY, aws_secret_access_key=FAKE_ADMIN_SECRET,
    )  # fmt: skip
    app = str(
        qb.create_application(
            displayName="mcp" + uuid.uuid4().hex[:8], identityType="AWS_IAM_IDP_OIDC",
            iamIdentityProviderArn=provider_arn, clientIdsForOIDC=[CLIENT_ID],
        )["applicationId"]
    )  # fmt: skip
    _wait_active(lambda: qb.get_application(applicationId=app))
    qb.update_application(
        applicationId=app,
        autoSubscriptionConfiguration={
            "autoSubscribe": "ENABLED", "defaultSubscriptionType": "Q_BUSINESS"
        },
    )  # fmt: skip
    index = qb.create_index(applicationId=app, displayName="docs")["indexId"]
    _wait_active(lambda: qb.get_index(applicationId=app, indexId=index))
    qb.create_retriever(
        applicationId=app, type="NATIVE_INDEX", displayName="docs",
        configuration={"nativeIndexConfiguration": {"indexId": index}},
    )  # fmt: skip
    return app


def sign_in(profile: Profile, username: str) -> None:
    """``qbizfed login`` for ``profile``, the browser signing ``username`` in."""

    def browser(url: str) -> bool:
        with httpx.Client(timeout=10) as client:
            page = browse(client, url, username=username, password="demo")
        assert isinstance(page, httpx.Response)
        assert "Signed in" in page.text
        return True

    login(profile, announce=lambda _: None, open_browser=browser, timeout=30)


def user_profile(stack: SignedInStack, name: str, role_arn: str, redirect_port: int) -> Profile:
    return Profile(
        name=name, protocol="oidc", role_arn=role_arn, region=REGION, duration_seconds=900,
        endpoint_url=stack.aws.url, redirect_port=redirect_port,
        allow_insecure_loopback_http=True, issuer=stack.idp.issuer, client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV, application_id=stack.application_id,
    )  # fmt: skip


@contextmanager
def signed_in_stack(
    home: Path, users: tuple[str, ...], extra_documents: Mapping[str, str] = {}
) -> Iterator[SignedInStack]:
    """The stack, with one profile per user (named after it) signed in."""
    port = free_port()
    aws = LocalAws(
        LocalAwsSettings(
            port=0, active_delay_seconds=0.05, corpus_dir=_corpus(home / "corpus", extra_documents)
        )
    ).start()
    idp = DevIdp(
        DevIdpSettings(
            port=0,
            clients=(
                OidcClient(
                    client_id=CLIENT_ID, client_secret=Secret(CLIENT_SECRET),
                    redirect_uris=(f"http://127.0.0.1:{port}/callback",), require_pkce=True,
                ),
            ),
        )
    ).start()  # fmt: skip
    saved = {k: os.environ.get(k) for k in ("QBIZFED_CONFIG", "QBIZFED_CACHE_DIR", SECRET_ENV)}
    try:
        iam = boto3.client(
            "iam", endpoint_url=aws.url, region_name=REGION,
            aws_access_key_id=FAKE_ADMIN_KEY, aws_secret_access_key=FAKE_ADMIN_SECRET,
        )  # fmt: skip
        provider = iam.create_open_id_connect_provider(
            Url=idp.issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        role = iam.create_role(
            RoleName="mcp-" + uuid.uuid4().hex[:8],
            AssumeRolePolicyDocument=json.dumps(
                oidc_trust_policy(provider, idp.issuer.split("://", 1)[1], CLIENT_ID)
            ),
        )["Role"]["Arn"]
        grant_chat_permissions(iam, role)
        grant_search_permission(iam, role)
        stack = SignedInStack(aws, idp, _application(aws, provider), home)
        os.environ.update(
            QBIZFED_CONFIG=str(home / "config.toml"), QBIZFED_CACHE_DIR=str(home / "cache")
        )
        os.environ[SECRET_ENV] = CLIENT_SECRET
        for user in users:
            profile = user_profile(stack, user, role, port)
            write_profile(profile)
            sign_in(profile, user)
        yield stack
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        idp.stop()
        aws.stop()
