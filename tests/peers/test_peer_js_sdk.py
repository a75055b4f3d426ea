"""The AWS SDK for JavaScript v3's Q Business client, unmodified, against ``qbizfed local aws``.

``@aws-sdk/client-qbusiness`` (pinned in tests/peers/js_sdk, installed by
tests/peers/install.sh) speaks HTTP/2 with prior knowledge to an ``http://`` endpoint
with its default request handler; the local endpoint once answered that with
``505 Invalid HTTP version``. The credentials are identity-aware: an ID token from a
loopback OIDC issuer traded at the local STS for credentials carrying the Email tag.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from qbizfed.local.stack import LocalAws
from tests.conftest import REGION
from tests.peers.conftest import missing_peer
from tests.support.oidc_issuer import OidcIssuer, register_oidc_role, running_oidc_issuer
from tests.support.qbusiness_app import ready_application

pytestmark = pytest.mark.peers

PEER_DIR = Path(__file__).parent / "js_sdk"
SCRIPT = PEER_DIR / "qbusiness_peer.mjs"
MISSING_APP = "a" * 36
DOCS = [{"id": "leave", "title": "Leave policy",
         "text": "Employees get 25 days of paid vacation per year."}]  # fmt: skip


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


def _peer_ready() -> str:
    node = shutil.which("node")
    if node is None:
        missing_peer("node is not installed (Node 20+)")
    if not (PEER_DIR / "node_modules" / "@aws-sdk" / "client-qbusiness").is_dir():
        missing_peer("@aws-sdk/client-qbusiness is not installed: run tests/peers/install.sh")
    return str(node)


def _web_role(admin_client: Callable[..., Any], issuer: OidcIssuer, name: str) -> str:
    iam = admin_client("iam")
    role = register_oidc_role(iam, issuer, name)
    # What the web experience role allows: chatting and listing conversations.
    iam.put_role_policy(
        RoleName=role.role_name, PolicyName="chat",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["qbusiness:ChatSync", "qbusiness:ListConversations",
                                          "qbusiness:GetApplication"],
            "Resource": "*"}]}),
    )  # fmt: skip
    return role.role_arn


def test_js_sdk_client_chats_lists_and_parses_modelled_errors(
    local_aws: LocalAws, admin_client: Callable[..., Any], issuer: OidcIssuer, unique_name: str
) -> None:
    node = _peer_ready()
    app = ready_application(local_aws, DOCS)
    sts = boto3.client("sts", region_name=REGION, endpoint_url=local_aws.url,
                       config=Config(signature_version=UNSIGNED))  # fmt: skip
    creds = sts.assume_role_with_web_identity(
        RoleArn=_web_role(admin_client, issuer, unique_name), RoleSessionName="ada",
        WebIdentityToken=issuer.mint(email="ada@example.com"),
    )["Credentials"]  # fmt: skip
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": local_aws.url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "QBIZFED_APP_ID": app,
        "QBIZFED_MISSING_APP_ID": MISSING_APP,
    }
    done = subprocess.run([node, str(SCRIPT)], cwd=PEER_DIR, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "unexpected" not in out, out
    assert out["chat"]["httpStatusCode"] == 200
    assert "25 days" in out["chat"]["systemMessage"]
    assert out["chat"]["sources"] == ["Leave policy"]
    assert out["conversations"] == [out["chat"]["conversationId"]]
    assert out["error"]["name"] == "ResourceNotFoundException"
    assert out["error"]["isResourceNotFound"] is True
    assert out["error"]["httpStatusCode"] == 404
    assert out["error"]["fault"] == "client"
