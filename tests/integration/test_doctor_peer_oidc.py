"""Doctor against a third-party OpenID provider (npm ``oidc-provider``), healthy setup.

The provider's discovery, JWKS and authorization endpoint (the ``prompt=none``
redirect-URI probe) are real; its ID token, obtained by a real login, is decoded by
doctor and, with ``assume``, exchanged at the local STS. Only the IAM provider and the
role are built here (from :mod:`qbizfed.policies`); the application checks run against
a full ``admin apply`` stack in ``test_doctor_oidc.py``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from qbizfed import policies
from qbizfed.aws.provision import AwsClients
from qbizfed.aws.provision.desired import PENDING_APPLICATION_ID
from qbizfed.aws.sts import federation_client
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor import DoctorOptions, Status, run_doctor
from qbizfed.doctor.run import EndToEndClients
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import config_from_mapping
from tests.peers.conftest import running_oidc_provider
from tests.peers.flows import Pkce, authorize_url, login_for_code

pytestmark = pytest.mark.peers
REGION = "us-east-1"
ACCOUNT = "123456789012"
CLIENT_ID = "qbizfed-doctor-peer"
CLIENT_SECRET = "qbizfed-doctor-peer-secret-0123456789abcdef"
REDIRECT_URI = "http://127.0.0.1:8766/callback"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    client: dict[str, object] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                 "redirect_uris": [REDIRECT_URI]}
    with running_oidc_provider([client]) as running:
        yield running


def _id_token(issuer: str) -> str:
    with httpx.Client(timeout=10) as http:
        doc = http.get(issuer + "/.well-known/openid-configuration").json()
        pkce = Pkce.new()
        url = authorize_url(doc["authorization_endpoint"], client_id=CLIENT_ID,
                            redirect_uri=REDIRECT_URI, scope="openid email aws",
                            state=secrets.token_urlsafe(8), nonce=secrets.token_urlsafe(8),
                            pkce=pkce)
        code = login_for_code(http, url, redirect_uri=REDIRECT_URI, username="bob",
                              password="demo")["code"]
        tokens = http.post(doc["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier})
    tokens.raise_for_status()
    token: str = tokens.json()["id_token"]
    return token


def test_oidc_provider_peer_setup_has_no_idp_role_or_token_problems(
    local_aws: LocalAws, issuer: str, unique_name: str
) -> None:
    config = config_from_mapping({
        "name": unique_name, "mode": "oidc", "region": REGION, "account_id": ACCOUNT,
        "oidc": {"issuer_url": issuer, "client_id": CLIENT_ID, "secret_id": "idp-secret",
                 "allow_insecure_loopback_http": True, "custom_app_redirect_uri": REDIRECT_URI}})
    assert config.oidc is not None
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    provider_arn = clients.iam.create_open_id_connect_provider(
        Url=issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40])[
        "OpenIDConnectProviderArn"]
    try:
        role = f"qbizfed-{unique_name}-web"
        clients.iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(
            policies.oidc_trust_policy(provider_arn=provider_arn,
                                       provider_path=config.oidc.provider_path,
                                       client_id=CLIENT_ID)))
        clients.iam.put_role_policy(
            RoleName=role, PolicyName="qbizfed-web-experience",
            PolicyDocument=json.dumps(policies.web_experience_permission_policy(
                application_arn=policies.application_arn(
                    region=REGION, account_id=ACCOUNT, application_id=PENDING_APPLICATION_ID),
                region=REGION)))
        shared = boto3.session.Session(region_name=REGION)

        def make_client(service: str, creds: AwsCredentials) -> Any:
            return shared.client(service, endpoint_url=local_aws.url,
                                 **creds.boto3_session_kwargs())

        e2e = EndToEndClients(federation_client(region=REGION, endpoint_url=local_aws.url),
                              make_client)
        with httpx.Client(timeout=5) as http:
            report = run_doctor(config, DoctorOptions(credential=_id_token(issuer), assume=True),
                                clients=clients, http=http, e2e=e2e)
    finally:
        clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    outside_app = {r.name: r.detail for r in report.problems
                   if not r.name.startswith(("app.", "stack.", "e2e.list-conversations"))}
    assert outside_app == {}
    for name in ("idp.redirect-uris", "token.email-tag", "e2e.assume-role"):
        assert report.by_name(name).status is Status.OK, name
    assert report.by_name("e2e.caller-identity").detail.endswith("/bob@example.com")
