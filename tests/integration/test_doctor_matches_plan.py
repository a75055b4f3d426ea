"""``qbizfed doctor`` FAILs a resource exactly when ``qbizfed admin plan`` would change it.

Both stand on admin's model (one reader of AWS state, ``desired(config)``), so they
cannot disagree. Each case provisions nothing new: a stack made once per module by
``qbizfed admin apply --yes`` (SAML, and OIDC with the dev IdP) is broken one way with
boto3, then the installed ``qbizfed`` runs ``doctor -o json`` and ``admin plan -o json``
in subprocesses. For every resource of the plan, doctor's ``stack.<resource>`` check is
FAIL exactly when the plan shows a change to it, and doctor exits 1 exactly when the
plan has a pending change. ``admin apply`` then repairs the stack and both are
clean again (doctor exits 0, the plan has nothing pending), as they are right after the
first apply. Two cases change what admin
does not manage (the role's maximum session duration, the OIDC provider's thumbprint):
neither doctor nor the plan sees a change.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qbizfed.aws.provision import AwsClients, ObservedStack, Resource, apply_stack, observe
from qbizfed.doctor.checks_plan import CHECK_NAMES
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import load_config
from tests.support.console_script import run_qbizfed
from tests.support.saml_assertions import make_idp

REGION = "us-east-1"
CLIENT_ID = "qbiz-matches-plan"
CLIENT_SECRET = "qbiz-matches-plan-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:8765/callback"


@dataclass(frozen=True)
class Provisioned:
    config_file: Path
    env: dict[str, str]
    clients: AwsClients

    def qbizfed(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_qbizfed(*args, "-c", str(self.config_file), env=self.env, timeout=180)

    def observed(self) -> ObservedStack:
        return observe(load_config(self.config_file), self.clients)


def _shell(tmp: Path, endpoint: str) -> dict[str, str]:
    """A user's shell against the local stack: no sample variables, private qbizfed files."""
    shell = {k: v for k, v in os.environ.items()
             if not k.startswith(("OIDC_", "IDP_", "SAML_", "QBIZFED_", "QBUSINESS_", "CUSTOM_"))}
    shell.update({"QBIZFED_CACHE_DIR": str(tmp / "cache"), "QBIZFED_CONFIG": str(tmp / "c.toml"),
                  "AWS_ENDPOINT_URL": endpoint, "NO_COLOR": "1"})
    return shell


def _apply(stack: Provisioned) -> None:
    applied = stack.qbizfed("admin", "apply", "--yes", "-o", "json")
    assert applied.returncode == 0, applied.stdout + applied.stderr


@pytest.fixture(scope="module")
def saml_stack(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory
               ) -> Provisioned:
    tmp = tmp_path_factory.mktemp("saml")
    name = "matches-saml-" + os.urandom(4).hex()
    (tmp / "idp-metadata.xml").write_text(make_idp(f"https://{name}.idp.example.test")
                                          .metadata_xml())
    config = tmp / "qbizfed.toml"
    config.write_text(
        f'name = "{name}"\nmode = "saml"\nregion = "{REGION}"\n\n[saml]\n'
        'metadata_file = "idp-metadata.xml"\nsso_url = "https://idp.example.test/sso"\n'
        'custom_acs_url = "http://localhost:8000/saml"\n', encoding="utf-8")
    stack = Provisioned(config, _shell(tmp, local_aws.url),
                        AwsClients.from_session(region=REGION, endpoint_url=local_aws.url))
    _apply(stack)
    assert _assert_agree(stack) == set()
    return stack


@pytest.fixture(scope="module")
def oidc_stack(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Provisioned]:
    tmp = tmp_path_factory.mktemp("oidc")
    client = OidcClient(CLIENT_ID, Secret(CLIENT_SECRET), (REDIRECT_URI,))
    with DevIdp(DevIdpSettings(port=0, clients=(client,))) as idp:
        clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
        name = "matches-oidc-" + os.urandom(4).hex()
        secret = clients.secretsmanager.create_secret(
            Name=f"{name}-client-secret",
            SecretString=json.dumps({"client_secret": CLIENT_SECRET}))["ARN"]
        config = tmp / "qbizfed.toml"
        config.write_text(
            f'name = "{name}"\nmode = "oidc"\nregion = "{REGION}"\n\n[oidc]\n'
            f'issuer_url = "{idp.issuer}"\nclient_id = "{CLIENT_ID}"\nsecret_id = "{secret}"\n'
            f'allow_insecure_loopback_http = true\ncustom_app_redirect_uri = "{REDIRECT_URI}"\n',
            encoding="utf-8")
        stack = Provisioned(config, _shell(tmp, local_aws.url), clients)
        _apply(stack)
        web = stack.observed().web_experience
        assert web is not None
        assert web.endpoint is not None
        # What the IdP admin does with `admin apply`'s instructions: register the callbacks.
        idp.register_client(OidcClient(CLIENT_ID, Secret(CLIENT_SECRET), (
            REDIRECT_URI, web.endpoint.rstrip("/") + "/authorization-code/callback")))
        assert _assert_agree(stack) == set()
        yield stack
        provider = stack.observed().provider
        if provider is not None:
            clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider.arn)


def _verdicts(stack: Provisioned) -> tuple[int, dict[str, str], int, set[str]]:
    """doctor's exit code and stack.* statuses; the plan's pending count and check names."""
    doctor = stack.qbizfed("doctor", "-o", "json")
    assert doctor.returncode in (0, 1), doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["exit_code"] == doctor.returncode
    statuses = {r["name"]: r["status"] for r in report["results"]
                if r["name"].startswith("stack.")}
    plan = stack.qbizfed("admin", "plan", "-o", "json", "--no-preflight")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    changed = {CHECK_NAMES[Resource(c["resource"])] for c in planned["changes"]
               if c["action"] not in ("no change", "keep")}
    assert len(changed) == planned["pending"]
    return doctor.returncode, statuses, planned["pending"], changed


def _assert_agree(stack: Provisioned) -> set[str]:
    exit_code, statuses, pending, changed = _verdicts(stack)
    assert set(statuses) == set(CHECK_NAMES.values())
    failed = {name for name, status in statuses.items() if status == "FAIL"}
    assert failed == changed, statuses
    assert {s for s in statuses.values()} <= {"OK", "FAIL"}  # nothing unread, nothing skipped
    assert exit_code == (1 if pending else 0)
    return changed


Break = Callable[[Provisioned, ObservedStack], None]


def _trust_without_tag_session(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.web_role is not None
    trust = observed.web_role.trust_policy
    kept = [s for s in trust["Statement"] if s["Action"] != "sts:TagSession"]
    stack.clients.iam.update_assume_role_policy(
        RoleName=observed.web_role.name, PolicyDocument=json.dumps({**trust, "Statement": kept}))


def _permission_without_create_claim(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.web_role is not None
    assert observed.web_role.permission_policy is not None
    policy = observed.web_role.permission_policy
    kept = [s for s in policy["Statement"]
            if s.get("Sid") != "QBusinessAutoSubscriptionPermission"]
    stack.clients.iam.put_role_policy(RoleName=observed.web_role.name,
                                      PolicyName="qbizfed-web-experience",
                                      PolicyDocument=json.dumps({**policy, "Statement": kept}))


def _saml_metadata_of_another_idp(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.provider is not None
    stack.clients.iam.update_saml_provider(
        SAMLProviderArn=observed.provider.arn,
        SAMLMetadataDocument=make_idp("https://other.idp.example.test").metadata_xml())


def _application_role(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.application is not None
    assert observed.web_role is not None
    stack.clients.qbusiness.update_application(applicationId=observed.application.id,
                                               roleArn=observed.web_role.arn)


def _auto_subscription_off(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.application is not None
    stack.clients.qbusiness.update_application(
        applicationId=observed.application.id,
        autoSubscriptionConfiguration={"autoSubscribe": "DISABLED"})


def _web_experience_sign_in_url(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.application is not None
    assert observed.web_experience is not None
    stack.clients.qbusiness.update_web_experience(
        applicationId=observed.application.id, webExperienceId=observed.web_experience.id,
        identityProviderConfiguration={
            "samlConfiguration": {"authenticationUrl": "https://old-idp.example.com/sso"}})


def _retriever_deleted(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.application is not None
    assert observed.retriever is not None
    stack.clients.qbusiness.delete_retriever(applicationId=observed.application.id,
                                             retrieverId=observed.retriever.id)


def _longer_sessions(stack: Provisioned, observed: ObservedStack) -> None:
    """Not managed by admin: no change for the plan, nothing for doctor."""
    assert observed.web_role is not None
    stack.clients.iam.update_role(RoleName=observed.web_role.name, MaxSessionDuration=7200)


SAML_BREAKS: dict[str, tuple[Break, set[Resource]]] = {
    "role_trust_policy": (_trust_without_tag_session, {Resource.WEB_ROLE}),
    "role_permission_policy": (_permission_without_create_claim, {Resource.WEB_ROLE}),
    "saml_provider_metadata": (_saml_metadata_of_another_idp, {Resource.PROVIDER}),
    "application_role": (_application_role, {Resource.APPLICATION}),
    "auto_subscription": (_auto_subscription_off, {Resource.AUTO_SUBSCRIPTION}),
    "web_experience": (_web_experience_sign_in_url, {Resource.WEB_EXPERIENCE}),
    "retriever": (_retriever_deleted, {Resource.RETRIEVER}),
    "unmanaged_session_duration": (_longer_sessions, set()),
}


def _reapply(stack: Provisioned) -> None:
    """``admin apply`` (in process: the installed script applied the stack at first)."""
    if load_config(stack.config_file).oidc is not None:
        _restore_client_id(stack)
    apply_stack(load_config(stack.config_file), clients=stack.clients)


def _check(stack: Provisioned, breaks: Break, expected: set[Resource]) -> None:
    _reapply(stack)  # leftovers of a failed case undone
    breaks(stack, stack.observed())
    assert _assert_agree(stack) == {CHECK_NAMES[r] for r in expected}
    _reapply(stack)
    assert _assert_agree(stack) == set()  # clean after re-apply


@pytest.mark.parametrize("case", SAML_BREAKS.keys())
def test_saml_doctor_fails_exactly_where_the_plan_changes(saml_stack: Provisioned,
                                                          case: str) -> None:
    breaks, expected = SAML_BREAKS[case]
    _check(saml_stack, breaks, expected)


def _provider_without_the_client_id(stack: Provisioned, observed: ObservedStack) -> None:
    """moto has no RemoveClientIDFromOpenIDConnectProvider: recreate with another list."""
    assert observed.provider is not None
    _provider_with(stack, observed.provider.arn, ["another-client"])


def _provider_thumbprint(stack: Provisioned, observed: ObservedStack) -> None:
    """Not compared by admin (IAM no longer uses it for most IdPs): no change, no FAIL."""
    assert observed.provider is not None
    stack.clients.iam.update_open_id_connect_provider_thumbprint(
        OpenIDConnectProviderArn=observed.provider.arn, ThumbprintList=["f" * 40])


def _trust_for_another_client(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.web_role is not None
    text = json.dumps(observed.web_role.trust_policy).replace(CLIENT_ID, "another-client")
    stack.clients.iam.update_assume_role_policy(RoleName=observed.web_role.name,
                                                PolicyDocument=text)


def _secrets_role_permissions(stack: Provisioned, observed: ObservedStack) -> None:
    assert observed.secrets_role is not None
    stack.clients.iam.put_role_policy(
        RoleName=observed.secrets_role.name, PolicyName="qbizfed-read-idp-client-secret",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))


OIDC_BREAKS: dict[str, tuple[Break, set[Resource]]] = {
    "provider_client_id": (_provider_without_the_client_id, {Resource.PROVIDER}),
    "unmanaged_provider_thumbprint": (_provider_thumbprint, set()),
    "role_trust_audience": (_trust_for_another_client, {Resource.WEB_ROLE}),
    "secrets_role_permission_policy": (_secrets_role_permissions, {Resource.SECRETS_ROLE}),
}


def _restore_client_id(stack: Provisioned) -> None:
    """What `apply` would do with AddClientIDToOpenIDConnectProvider (moto lacks it)."""
    provider = stack.observed().provider
    assert provider is not None
    if CLIENT_ID not in provider.client_ids:
        _provider_with(stack, provider.arn, [*provider.client_ids, CLIENT_ID])


def _provider_with(stack: Provisioned, arn: str, client_ids: list[str]) -> None:
    config = load_config(stack.config_file)
    assert config.oidc is not None
    stack.clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    stack.clients.iam.create_open_id_connect_provider(
        Url=config.oidc.issuer, ClientIDList=client_ids, ThumbprintList=["0" * 40])


@pytest.mark.parametrize("case", OIDC_BREAKS.keys())
def test_oidc_doctor_fails_exactly_where_the_plan_changes(oidc_stack: Provisioned,
                                                          case: str) -> None:
    breaks, expected = OIDC_BREAKS[case]
    _check(oidc_stack, breaks, expected)
