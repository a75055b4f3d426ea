"""``qbizfed doctor`` against ``local aws`` + the dev IdP, OIDC: one broken setup per check.

A healthy stack is built once per module with ``admin apply`` (IAM OIDC provider,
application, index, retriever, roles, web experience, auto-subscription); before each
test it is re-converged by ``admin apply``. Each test breaks one thing with boto3 (or
hands doctor a broken token), runs doctor, checks the FAIL/WARN and its fix, applies
the fix and checks green again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from qbizfed.aws.provision import AwsClients, ObservedStack, apply_stack
from qbizfed.aws.sts import federation_client
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor import DoctorOptions, DoctorReport, Status, checks_e2e, run_doctor
from qbizfed.doctor.run import EndToEndClients
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.peers.flows import authorize_url, login_for_code

REGION = "us-east-1"
CLIENT_ID = "qbiz-doctor-web"
CLIENT_SECRET = "qbiz-doctor-web-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:8765/callback"

_SHARED = boto3.session.Session(region_name=REGION)


def oidc_config(name: str, issuer: str, secret: str, redirect_uri: str = REDIRECT_URI
                ) -> StackConfig:
    return config_from_mapping({
        "name": name, "mode": "oidc", "region": REGION,
        "oidc": {"issuer_url": issuer, "client_id": CLIENT_ID, "secret_id": secret,
                 "allow_insecure_loopback_http": True, "custom_app_redirect_uri": redirect_uri},
    })


@dataclass(frozen=True)
class OidcStack:
    config: StackConfig
    observed: ObservedStack
    idp: DevIdp
    clients: AwsClients
    url: str

    @property
    def provider_arn(self) -> str:
        assert self.observed.provider is not None
        return self.observed.provider.arn

    @property
    def role_name(self) -> str:
        assert self.observed.web_role is not None
        return self.observed.web_role.name

    @property
    def web_callback(self) -> str:
        assert self.observed.web_experience is not None
        assert self.observed.web_experience.endpoint is not None
        return self.observed.web_experience.endpoint.rstrip("/") + "/authorization-code/callback"

    def id_token(self, username: str = "alice") -> str:
        url = authorize_url(self.idp.url + "/oidc/authorize", client_id=CLIENT_ID,
                            redirect_uri=REDIRECT_URI)
        with httpx.Client(timeout=10) as browser:
            code = login_for_code(browser, url, redirect_uri=REDIRECT_URI, username=username,
                                  password="demo")["code"]
            tokens = browser.post(self.idp.url + "/oidc/token", auth=(CLIENT_ID, CLIENT_SECRET),
                                  data={"grant_type": "authorization_code", "code": code,
                                        "redirect_uri": REDIRECT_URI})
        tokens.raise_for_status()
        token: str = tokens.json()["id_token"]
        return token

    def doctor(self, config: StackConfig | None = None, **options: Any) -> DoctorReport:
        def make_client(service: str, creds: AwsCredentials) -> Any:
            return _SHARED.client(service, endpoint_url=self.url, **creds.boto3_session_kwargs())

        e2e = EndToEndClients(federation_client(region=REGION, endpoint_url=self.url),
                              make_client)
        with httpx.Client(timeout=5) as http:
            return run_doctor(config or self.config, DoctorOptions(**options),
                              clients=self.clients, http=http, e2e=e2e)

    def with_issuer(self, issuer: str, redirect_uri: str = REDIRECT_URI) -> StackConfig:
        assert self.config.oidc is not None
        return oidc_config(self.config.name, issuer, self.config.oidc.secret_id, redirect_uri)

    def trust_policy(self) -> dict[str, Any]:
        document: dict[str, Any] = self.clients.iam.get_role(
            RoleName=self.role_name)["Role"]["AssumeRolePolicyDocument"]
        return document

    def client_ids(self) -> list[str]:
        for entry in self.clients.iam.list_open_id_connect_providers()[
                "OpenIDConnectProviderList"]:
            if entry["Arn"] == self.provider_arn:
                got = self.clients.iam.get_open_id_connect_provider(
                    OpenIDConnectProviderArn=self.provider_arn)
                return list(got["ClientIDList"])
        return []

    def recreate_provider(self, client_ids: list[str]) -> None:
        """moto 5.2.5 has no Add/RemoveClientID...: delete and create with the new list."""
        self.clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=self.provider_arn)
        self.clients.iam.create_open_id_connect_provider(
            Url=self.idp.issuer, ClientIDList=client_ids, ThumbprintList=["0" * 40])


@pytest.fixture(scope="module")
def healthy_stack(local_aws: LocalAws) -> Iterator[OidcStack]:
    client = OidcClient(CLIENT_ID, Secret(CLIENT_SECRET), (REDIRECT_URI,))
    with DevIdp(DevIdpSettings(port=0, clients=(client,))) as idp:
        clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
        name = "doctor-oidc-" + uuid.uuid4().hex[:8]
        secret = clients.secretsmanager.create_secret(
            Name=f"{name}-client-secret",
            SecretString=json.dumps({"client_secret": CLIENT_SECRET}))["ARN"]
        config = oidc_config(name, idp.issuer, secret)
        observed = apply_stack(config, clients=clients)
        assert observed.web_experience is not None
        assert observed.web_experience.endpoint is not None
        # What the IdP admin does with `admin apply`'s instructions: register both callbacks.
        web_callback = observed.web_experience.endpoint.rstrip("/") + "/authorization-code/callback"
        idp.register_client(OidcClient(CLIENT_ID, Secret(CLIENT_SECRET),
                                       (REDIRECT_URI, web_callback)))
        stack = OidcStack(config, observed, idp, clients, local_aws.url)
        yield stack
        clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=stack.provider_arn)


@pytest.fixture
def stack(healthy_stack: OidcStack, monkeypatch: pytest.MonkeyPatch) -> OidcStack:
    """The module's stack re-converged by ``admin apply`` (undoes leftover breakage)."""
    monkeypatch.setattr(checks_e2e, "SUBSCRIPTION_RETRY_SECONDS", 0.05)
    if CLIENT_ID not in healthy_stack.client_ids() and healthy_stack.client_ids():
        healthy_stack.recreate_provider([CLIENT_ID])  # apply would need AddClientID (moto lacks it)
    observed = apply_stack(healthy_stack.config, clients=healthy_stack.clients)
    return replace(healthy_stack, observed=observed)


def problems(report: DoctorReport) -> dict[str, Status]:
    return {r.name: r.status for r in report.problems}


def test_healthy_oidc_stack_reports_no_problems_end_to_end(stack: OidcStack) -> None:
    report = stack.doctor(credential=stack.id_token(), assume=True)
    assert problems(report) == {}
    assert [r.name for r in report.results if r.status is Status.SKIP] == []
    for name in ("idp.discovery", "idp.issuer", "idp.jwks", "idp.client-id",
                 "idp.redirect-uris", "role.tag-session",
                 "role.trust-audience", "role.email-tag", "token.email-tag", "token.audience",
                 "e2e.assume-role", "e2e.caller-identity"):
        assert report.by_name(name).status is Status.OK, name
    assert report.by_name("token.email-tag").detail == "Email alice@example.com"
    assert report.by_name("e2e.caller-identity").detail.endswith("/alice@example.com")
    assert report.by_name("e2e.list-conversations").status is Status.OK
    assert report.by_name("stack.application").status is Status.OK
    assert report.by_name("stack.identity-provider").status is Status.OK


def test_issuer_differing_from_discovery_is_found(stack: OidcStack) -> None:
    slashed = stack.with_issuer(stack.idp.issuer + "/")
    report = stack.doctor(slashed, credential=stack.id_token())
    result = report.by_name("idp.issuer")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert repr(stack.idp.issuer) in result.fix.summary
    assert report.by_name("token.issuer").status is Status.FAIL
    assert problems(stack.doctor(credential=stack.id_token())) == {}


def test_missing_iam_oidc_provider_is_found_and_the_command_fixes_it(stack: OidcStack) -> None:
    stack.clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=stack.provider_arn)
    report = stack.doctor(credential=stack.id_token(), assume=True)
    result = report.by_name("idp.issuer")
    assert result.status is Status.FAIL
    assert "No OpenIDConnect provider found" in result.detail
    assert result.fix is not None
    assert result.fix.command == (f"aws iam create-open-id-connect-provider --url "
                                  f"{stack.idp.issuer} --client-id-list {CLIENT_ID}")
    e2e = report.by_name("e2e.assume-role")
    assert e2e.status is Status.FAIL
    stack.clients.iam.create_open_id_connect_provider(
        Url=stack.idp.issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40])
    assert problems(stack.doctor(credential=stack.id_token(), assume=True)) == {}


def test_client_id_missing_from_the_provider_is_found(stack: OidcStack) -> None:
    stack.recreate_provider(["some-other-client"])
    report = stack.doctor(credential=stack.id_token(), assume=True)
    result = report.by_name("idp.client-id")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert result.fix.command == ("aws iam add-client-id-to-open-id-connect-provider "
                                  f"--open-id-connect-provider-arn {stack.provider_arn} "
                                  f"--client-id {CLIENT_ID}")
    assert "Incorrect token audience" in report.by_name("token.audience").detail
    e2e = report.by_name("e2e.assume-role")
    assert e2e.status is Status.FAIL
    assert e2e.fix is not None
    assert CLIENT_ID in e2e.fix.summary
    stack.recreate_provider(["some-other-client", CLIENT_ID])  # what the command does
    assert problems(stack.doctor(credential=stack.id_token(), assume=True)) == {}


def test_missing_tag_session_is_found_with_the_statement_from_policies(stack: OidcStack) -> None:
    broken = stack.trust_policy()
    broken["Statement"] = [s for s in broken["Statement"] if s["Action"] != "sts:TagSession"]
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=json.dumps(broken))
    report = stack.doctor(credential=stack.id_token(), assume=True)
    result = report.by_name("role.tag-session")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert result.fix.document is not None
    assert "not authorized to perform: sts:TagSession" in result.detail
    e2e = report.by_name("e2e.assume-role")
    assert e2e.status is Status.FAIL
    assert e2e.fix is not None
    assert "sts:TagSession" in e2e.fix.summary
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=result.fix.document)
    assert problems(stack.doctor(credential=stack.id_token(), assume=True)) == {}


def test_trust_for_another_client_id_is_found(stack: OidcStack) -> None:
    assert stack.config.oidc is not None
    broken = stack.trust_policy()
    key = f"{stack.config.oidc.provider_path}:aud"
    broken["Statement"][0]["Condition"]["StringEquals"][key] = "some-other-client"
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=json.dumps(broken))
    report = stack.doctor(credential=stack.id_token(), assume=True)
    result = report.by_name("role.trust-audience")
    assert result.status is Status.FAIL
    assert CLIENT_ID in result.detail
    assert report.by_name("e2e.assume-role").status is Status.FAIL
    assert result.fix is not None
    assert result.fix.document is not None
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=result.fix.document)
    assert problems(stack.doctor(credential=stack.id_token(), assume=True)) == {}


def _hand_minted(issuer: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "sub": "x", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
               **claims}
    key = RSAKey.generate_key(2048, parameters={"kid": "k"})
    return jwt.encode({"alg": "RS256", "kid": "k"}, payload, key)


def test_token_without_email_tag_is_found(stack: OidcStack) -> None:
    report = stack.doctor(credential=_hand_minted(stack.idp.issuer))
    result = report.by_name("token.email-tag")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert "https://aws.amazon.com/tags" in result.fix.summary
    assert stack.doctor(credential=stack.id_token()).by_name("token.email-tag").status \
        is Status.OK


def test_expired_token_is_found(stack: OidcStack) -> None:
    now = int(time.time())
    token = _hand_minted(stack.idp.issuer, iat=now - 7200, exp=now - 3600,
                         **{"https://aws.amazon.com/tags": {"principal_tags": {
                             "Email": ["alice@example.com"]}}})
    report = stack.doctor(credential=token)
    assert report.by_name("token.expiry").status is Status.FAIL
    assert report.by_name("token.email-tag").status is Status.OK


def test_unreachable_discovery_is_found(stack: OidcStack) -> None:
    report = stack.doctor(stack.with_issuer("http://127.0.0.1:9/nowhere"))
    assert report.by_name("idp.discovery").status is Status.FAIL
    assert report.by_name("idp.jwks").status is Status.SKIP
    # IAM is still compared with the configured issuer: no provider for that URL.
    assert report.by_name("idp.issuer").status is Status.FAIL


def test_redirect_uri_not_registered_at_the_idp_is_found(stack: OidcStack) -> None:
    new_uri = "http://127.0.0.1:8000/auth/oidc/callback"
    moved = stack.with_issuer(stack.idp.issuer, redirect_uri=new_uri)
    report = stack.doctor(moved)
    result = report.by_name("idp.redirect-uris")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert new_uri in result.fix.summary
    # The fix, at the IdP: register the redirect URI for the client.
    stack.idp.register_client(OidcClient(CLIENT_ID, Secret(CLIENT_SECRET),
                                         (REDIRECT_URI, stack.web_callback, new_uri)))
    assert stack.doctor(moved).by_name("idp.redirect-uris").status is Status.OK
