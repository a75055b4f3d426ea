"""``qbizfed doctor`` against ``local aws`` + the dev IdP, SAML: one broken setup per check.

Each test builds a healthy stack with ``admin apply`` (the admin code), breaks one
thing with boto3 (or hands doctor a broken assertion), runs doctor, asserts the
FAIL/WARN and its fix, applies that fix, and asserts the check is green again.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from qbizfed.aws.provision import AwsClients, ObservedStack, apply_stack
from qbizfed.aws.sts import federation_client
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor import DoctorOptions, DoctorReport, Status, run_doctor
from qbizfed.doctor.run import EndToEndClients
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.peers.flows import login_for_saml
from tests.support.saml_assertions import AssertionSpec, SamlIdp, build_response, encode, make_idp

REGION = "us-east-1"
ACS_URL = "http://127.0.0.1:8000/saml"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    with DevIdp(DevIdpSettings(port=0)) as running:
        yield running


@dataclass(frozen=True)
class Stack:
    config: StackConfig
    observed: ObservedStack
    clients: AwsClients
    url: str
    idp: DevIdp
    sp_entity: str

    @property
    def role_name(self) -> str:
        assert self.observed.web_role is not None
        return self.observed.web_role.name

    @property
    def role_arn(self) -> str:
        assert self.observed.web_role is not None
        return self.observed.web_role.arn

    @property
    def provider_arn(self) -> str:
        assert self.observed.provider is not None
        return self.observed.provider.arn

    @property
    def app_id(self) -> str:
        assert self.observed.application is not None
        return self.observed.application.id

    def assertion(self, username: str = "bob") -> str:
        """A real SAML response from the dev IdP, as the browser would post it."""
        with httpx.Client(timeout=10) as browser:
            posted = login_for_saml(browser, f"{self.idp.saml_sso_url}?providerId="
                                    f"{self.sp_entity}", username=username, password="demo")
        return base64.b64encode(posted.saml_response_xml).decode()

    def doctor(self, **options: Any) -> DoctorReport:
        with httpx.Client(timeout=5) as http:
            return run_doctor(self.config, DoctorOptions(**options), clients=self.clients,
                              http=http, e2e=_e2e_clients(self.url))


_SHARED = boto3.session.Session(region_name=REGION)
_FEDERATION: dict[str, Any] = {}


def _e2e_clients(url: str) -> EndToEndClients:
    """Clients for the end-to-end check; one boto3 session so models load once."""

    def make_client(service: str, creds: AwsCredentials) -> Any:
        return _SHARED.client(service, endpoint_url=url, **creds.boto3_session_kwargs())

    if url not in _FEDERATION:
        _FEDERATION[url] = federation_client(region=REGION, endpoint_url=url)
    return EndToEndClients(_FEDERATION[url], make_client)


def saml_config(name: str, metadata: str) -> StackConfig:
    return config_from_mapping({
        "name": name, "mode": "saml", "region": REGION,
        "saml": {"metadata_document": metadata, "sso_url": "https://idp.example.com/sso",
                 "custom_acs_url": ACS_URL},
    })


@pytest.fixture(scope="module")
def healthy_stack(local_aws: LocalAws, idp: DevIdp) -> Stack:
    """One stack per module, built with ``admin apply``."""
    name = "doctor-saml-" + uuid.uuid4().hex[:8]
    config = saml_config(name, idp.saml_metadata_xml)
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    observed = apply_stack(config, clients=clients)
    assert observed.web_role is not None
    assert observed.provider is not None
    sp_entity = f"urn:qbizfed:doctor:{name}"
    idp.register_service_provider(ServiceProvider(
        entity_id=sp_entity, acs_urls=(ACS_URL,), role_arn=observed.web_role.arn,
        provider_arn=observed.provider.arn))
    return Stack(config, observed, clients, local_aws.url, idp, sp_entity)


@pytest.fixture
def stack(healthy_stack: Stack) -> Stack:
    """The module's stack, re-converged by ``admin apply`` first (undoes any leftover
    breakage; on an up-to-date stack it only reads)."""
    observed = apply_stack(healthy_stack.config, clients=healthy_stack.clients)
    healthy_stack.clients.iam.update_role(RoleName=healthy_stack.role_name,
                                          MaxSessionDuration=3600)
    return replace(healthy_stack, observed=observed)


def problems(report: DoctorReport) -> dict[str, Status]:
    return {r.name: r.status for r in report.problems}


def trust_policy(stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = stack.clients.iam.get_role(
        RoleName=stack.role_name)["Role"]["AssumeRolePolicyDocument"]
    return document


def apply_trust_fix(stack: Stack, report: DoctorReport, check: str) -> None:
    fix = report.by_name(check).fix
    assert fix is not None
    assert fix.document is not None
    assert fix.command is not None
    assert "update-assume-role-policy" in fix.command
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=fix.document)


def apply_permission_fix(stack: Stack, report: DoctorReport, check: str) -> None:
    fix = report.by_name(check).fix
    assert fix is not None
    assert fix.document is not None
    assert fix.command is not None
    assert "put-role-policy" in fix.command
    stack.clients.iam.put_role_policy(RoleName=stack.role_name,
                                      PolicyName="qbizfed-web-experience",
                                      PolicyDocument=fix.document)


# -- healthy --------------------------------------------------------------------------


def test_healthy_stack_reports_no_problems_end_to_end(stack: Stack) -> None:
    report = stack.doctor(credential=stack.assertion(), assume=True)
    assert problems(report) == {}
    assert report.exit_code == 0
    skipped = [r.name for r in report.results if r.status is Status.SKIP]
    assert skipped == []
    assert report.by_name("e2e.caller-identity").detail.endswith("/bob@example.com")
    assert report.by_name("e2e.list-conversations").status is Status.OK


# -- role -------------------------------------------------------------------------------


def test_missing_tag_session_is_found_and_the_statement_fix_turns_it_green(stack: Stack) -> None:
    broken = trust_policy(stack)
    broken["Statement"] = [s for s in broken["Statement"] if s["Action"] != "sts:TagSession"]
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=json.dumps(broken))
    report = stack.doctor(credential=stack.assertion(), assume=True)
    result = report.by_name("role.tag-session")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert '"Action": "sts:TagSession"' in result.fix.summary
    assert stack.provider_arn in result.fix.summary
    # STS really refuses, and doctor names the cause.
    e2e = report.by_name("e2e.assume-role")
    assert e2e.status is Status.FAIL
    assert e2e.fix is not None
    assert "sts:TagSession" in e2e.fix.summary
    assert report.exit_code == 1

    apply_trust_fix(stack, report, "role.tag-session")
    after = stack.doctor(credential=stack.assertion(), assume=True)
    assert problems(after) == {}


def test_trust_without_audience_condition_fails_and_the_fix_restores_it(stack: Stack) -> None:
    broken = trust_policy(stack)
    for statement in broken["Statement"]:
        if statement["Action"] == "sts:AssumeRoleWithSAML":
            statement["Condition"].pop("StringEquals")
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=json.dumps(broken))
    report = stack.doctor()
    assert problems(report) == {"role.trust-audience": Status.FAIL,
                                "stack.web-role": Status.FAIL}
    fix = report.by_name("role.trust-audience").fix
    assert fix is not None
    assert fix.document is not None
    assert "SAML:aud" in fix.document
    assert ACS_URL in fix.document
    apply_trust_fix(stack, report, "role.trust-audience")
    assert problems(stack.doctor()) == {}


def test_trust_naming_another_provider_fails(stack: Stack) -> None:
    broken = trust_policy(stack)
    other = stack.provider_arn.rsplit("/", 1)[0] + "/someone-else"
    for statement in broken["Statement"]:
        statement["Principal"]["Federated"] = other
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=json.dumps(broken))
    report = stack.doctor()
    result = report.by_name("role.trust-provider")
    assert result.status is Status.FAIL
    assert other in result.detail
    assert report.by_name("role.tag-session").status is Status.FAIL
    apply_trust_fix(stack, report, "role.trust-provider")
    assert problems(stack.doctor()) == {}


def test_email_tag_allowed_but_not_required_is_a_warning(stack: Stack) -> None:
    broken = trust_policy(stack)
    for statement in broken["Statement"]:
        if statement["Action"] == "sts:AssumeRoleWithSAML":
            statement["Condition"].pop("StringLike")
    stack.clients.iam.update_assume_role_policy(RoleName=stack.role_name,
                                                PolicyDocument=json.dumps(broken))
    report = stack.doctor()
    # Sign-in works, with a warning; the trust policy is not admin's: the plan changes it.
    assert problems(report) == {"role.email-tag": Status.WARN, "stack.web-role": Status.FAIL}
    assert "trust policy differs" in report.by_name("stack.web-role").detail
    apply_trust_fix(stack, report, "role.email-tag")
    assert problems(stack.doctor()) == {}


def test_requested_duration_above_the_role_maximum_fails(stack: Stack) -> None:
    report = stack.doctor(duration_seconds=7200)
    result = report.by_name("role.session-duration")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert result.fix.command == (f"aws iam update-role --role-name {stack.role_name} "
                                  "--max-session-duration 7200")
    stack.clients.iam.update_role(RoleName=stack.role_name, MaxSessionDuration=7200)
    assert problems(stack.doctor(duration_seconds=7200)) == {}


def test_permission_policy_without_create_claim_fails(stack: Stack) -> None:
    policy = json.loads(json.dumps(stack.clients.iam.get_role_policy(
        RoleName=stack.role_name, PolicyName="qbizfed-web-experience")["PolicyDocument"]))
    policy["Statement"] = [s for s in policy["Statement"]
                           if s.get("Sid") != "QBusinessAutoSubscriptionPermission"]
    stack.clients.iam.put_role_policy(RoleName=stack.role_name,
                                      PolicyName="qbizfed-web-experience",
                                      PolicyDocument=json.dumps(policy))
    report = stack.doctor()
    assert problems(report) == {"role.create-claim": Status.FAIL,
                                "stack.web-role": Status.FAIL}
    fix = report.by_name("role.create-claim").fix
    assert fix is not None
    assert "user-subscriptions:CreateClaim" in fix.summary
    assert "aws:CalledViaLast" in fix.summary
    apply_permission_fix(stack, report, "role.create-claim")
    assert problems(stack.doctor()) == {}


def test_chat_permissions_on_another_application_fail(stack: Stack) -> None:
    text = json.dumps(stack.clients.iam.get_role_policy(
        RoleName=stack.role_name, PolicyName="qbizfed-web-experience")["PolicyDocument"])
    stack.clients.iam.put_role_policy(RoleName=stack.role_name,
                                      PolicyName="qbizfed-web-experience",
                                      PolicyDocument=text.replace(stack.app_id, "other-app-id"))
    report = stack.doctor(credential=stack.assertion(), assume=True)
    result = report.by_name("role.chat-permissions")
    assert result.status is Status.FAIL
    assert "qbusiness:ListConversations" in result.detail
    apply_permission_fix(stack, report, "role.chat-permissions")
    assert problems(stack.doctor()) == {}


# -- IdP ----------------------------------------------------------------------------------


def test_saml_provider_with_another_certificate_fails(stack: Stack) -> None:
    stranger = _other_idp()
    stack.clients.iam.update_saml_provider(SAMLProviderArn=stack.provider_arn,
                                           SAMLMetadataDocument=stranger.metadata_xml())
    report = stack.doctor(credential=stack.assertion(), assume=True)
    result = report.by_name("idp.saml-certificate-match")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert result.fix.command is not None
    assert f"update-saml-provider --saml-provider-arn {stack.provider_arn}" in result.fix.command
    assert report.by_name("e2e.assume-role").status is Status.FAIL
    stack.clients.iam.update_saml_provider(SAMLProviderArn=stack.provider_arn,
                                           SAMLMetadataDocument=stack.idp.saml_metadata_xml)
    assert problems(stack.doctor(credential=stack.assertion(), assume=True)) == {}


def expired_idp() -> SamlIdp:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired test IdP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=400))
                   .not_valid_after(now - dt.timedelta(days=2))
                   .sign(key, hashes.SHA256()))
    return SamlIdp(entity_id="https://idp.example.test/saml", private_key=key,
                   certificate=certificate)


def test_expired_certificate_in_the_iam_saml_provider_fails(stack: Stack) -> None:
    stack.clients.iam.update_saml_provider(SAMLProviderArn=stack.provider_arn,
                                           SAMLMetadataDocument=expired_idp().metadata_xml())
    report = stack.doctor()
    assert problems(report) == {"idp.iam-saml-certificate": Status.FAIL,
                                "stack.identity-provider": Status.FAIL,
                                "idp.saml-certificate-match": Status.FAIL}
    assert "expired" in report.by_name("idp.iam-saml-certificate").detail
    # The fix: the IdP's current metadata into IAM (here through admin apply).
    apply_stack(stack.config, clients=stack.clients)
    assert problems(stack.doctor()) == {}


# -- application ------------------------------------------------------------------------


def test_auto_subscription_disabled_fails_with_the_update_command(stack: Stack) -> None:
    stack.clients.qbusiness.update_application(
        applicationId=stack.app_id, autoSubscriptionConfiguration={"autoSubscribe": "DISABLED"})
    report = stack.doctor()
    assert problems(report) == {"stack.auto-subscription": Status.FAIL}
    fix = report.by_name("stack.auto-subscription").fix
    assert fix is not None
    assert fix.command == (f"aws qbusiness update-application --application-id {stack.app_id} "
                           "--auto-subscription-configuration autoSubscribe=ENABLED,"
                           "defaultSubscriptionType=Q_BUSINESS")
    stack.clients.qbusiness.update_application(
        applicationId=stack.app_id, autoSubscriptionConfiguration={
            "autoSubscribe": "ENABLED", "defaultSubscriptionType": "Q_BUSINESS"})
    assert problems(stack.doctor()) == {}


def test_web_experience_with_another_sign_in_url_fails(stack: Stack) -> None:
    assert stack.observed.web_experience is not None
    web_id = stack.observed.web_experience.id
    stack.clients.qbusiness.update_web_experience(
        applicationId=stack.app_id, webExperienceId=web_id,
        identityProviderConfiguration={
            "samlConfiguration": {"authenticationUrl": "https://old-idp.example.com/sso"}})
    report = stack.doctor()
    assert problems(report) == {"stack.web-experience": Status.FAIL}
    result = report.by_name("stack.web-experience")
    assert "identity provider configuration differs" in result.detail
    assert result.fix is not None
    assert result.fix.command == "qbizfed admin apply"
    stack.clients.qbusiness.update_web_experience(
        applicationId=stack.app_id, webExperienceId=web_id, roleArn=stack.role_arn,
        identityProviderConfiguration={
            "samlConfiguration": {"authenticationUrl": "https://idp.example.com/sso"}})
    assert problems(stack.doctor()) == {}


def test_missing_retriever_fails_and_admin_apply_fixes_it(stack: Stack) -> None:
    assert stack.observed.retriever is not None
    stack.clients.qbusiness.delete_retriever(applicationId=stack.app_id,
                                             retrieverId=stack.observed.retriever.id)
    report = stack.doctor()
    assert problems(report) == {"stack.retriever": Status.FAIL}
    fix = report.by_name("stack.retriever").fix
    assert fix is not None
    assert "qbizfed admin apply" in fix.summary
    apply_stack(stack.config, clients=stack.clients)
    assert problems(stack.doctor()) == {}


# -- the assertion a user hands doctor ------------------------------------------------


@functools.cache
def _other_idp() -> SamlIdp:
    """An IdP IAM does not know (its signature is irrelevant: doctor only decodes)."""
    return make_idp()


def _response(stack: Stack, **knobs: Any) -> str:
    settings: dict[str, Any] = {"recipient": ACS_URL, "audience": ACS_URL, **knobs}
    spec = AssertionSpec(role_arn=stack.role_arn, provider_arn=stack.provider_arn, **settings)
    return encode(build_response(_other_idp(), spec))


def test_role_attribute_in_the_wrong_order_is_found(stack: Stack) -> None:
    broken = _response(stack, role_values=[f"{stack.provider_arn},{stack.role_arn}"])
    report = stack.doctor(credential=broken)
    result = report.by_name("assertion.role")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert f"'{stack.role_arn},{stack.provider_arn}'" in result.fix.summary
    # The IdP set right (the dev IdP sends role first): green.
    assert report.by_name("assertion.decode").status is Status.OK
    assert stack.doctor(credential=stack.assertion()).by_name("assertion.role").status \
        is Status.OK


def test_assertion_without_email_tag_is_found(stack: Stack) -> None:
    report = stack.doctor(credential=_response(stack, email=None))
    result = report.by_name("assertion.email-tag")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert "PrincipalTag:Email" in result.fix.summary
    assert stack.doctor(credential=stack.assertion()).by_name("assertion.email-tag").status \
        is Status.OK


def test_assertion_for_another_acs_url_is_found(stack: Stack) -> None:
    wrong = "https://app.example.com/wrong/saml"
    report = stack.doctor(credential=_response(stack, recipient=wrong))
    result = report.by_name("assertion.recipient")
    assert result.status is Status.FAIL
    assert result.fix is not None
    assert ACS_URL in result.fix.summary
    assert stack.doctor(credential=stack.assertion()).by_name("assertion.recipient").status \
        is Status.OK


def test_expired_assertion_is_found(stack: Stack) -> None:
    report = stack.doctor(credential=_response(
        stack, not_on_or_after_offset=-10, confirmation_not_on_or_after_offset=-10))
    assert report.by_name("assertion.expiry").status is Status.FAIL
