"""``qbizfed doctor`` and the local Q Business agree on what the web experience role allows.

`admin apply` provisions a SAML-federated stack; a user signs in through the local STS
with a signed assertion. Then the role's permission policy is broken one way at a
time, and for each state the installed ``qbizfed doctor`` (a subprocess, JSON output)
must FAIL ``role.chat-permissions`` exactly when the emulator refuses the user's chat
calls with IAM's AccessDenied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.aws.provision import AwsClients, apply_stack
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import load_config
from tests.conftest import REGION
from tests.support.qbusiness_app import admin_qbusiness, subscribed_application
from tests.support.saml_assertions import AssertionSpec, build_response, encode, make_idp

ACS_URL = "http://127.0.0.1:8000/saml"
QBIZFED = Path(sys.executable).with_name("qbizfed")
Policy = dict[str, Any]


@dataclass(frozen=True)
class Stack:
    config_file: Path
    application_id: str
    other_application_arn: str
    role_name: str
    policy_name: str
    applied_policy: Policy
    user: Any


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    name = "agree" + os.urandom(4).hex()
    idp = make_idp(f"https://{name}.idp.example.test")
    folder = tmp_path_factory.mktemp("doctor-agrees")
    (folder / "idp-metadata.xml").write_text(idp.metadata_xml(), encoding="utf-8")
    config_file = folder / "qbizfed.toml"
    config_file.write_text(
        f'name = "{name}"\nmode = "saml"\nregion = "{REGION}"\n\n[saml]\n'
        f'metadata_file = "idp-metadata.xml"\nsso_url = "https://{name}.idp.example.test/sso"\n'
        f'custom_acs_url = "{ACS_URL}"\n', encoding="utf-8")  # fmt: skip
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    final = apply_stack(load_config(config_file), clients=clients)
    assert final.web_role is not None
    assert final.provider is not None
    assert final.application is not None
    policy_name = clients.iam.list_role_policies(RoleName=final.web_role.name)["PolicyNames"][0]
    applied = clients.iam.get_role_policy(RoleName=final.web_role.name, PolicyName=policy_name)
    other = subscribed_application(admin_qbusiness(local_aws), final.provider.arn)
    spec = AssertionSpec(role_arn=final.web_role.arn, provider_arn=final.provider.arn,
                         recipient=ACS_URL, audience=ACS_URL)  # fmt: skip
    sts = boto3.client("sts", region_name=REGION, endpoint_url=local_aws.url,
                       config=Config(signature_version=UNSIGNED))  # fmt: skip
    creds = sts.assume_role_with_saml(RoleArn=spec.role_arn, PrincipalArn=spec.provider_arn,
                                      SAMLAssertion=encode(build_response(idp, spec)))
    user = boto3.client(
        "qbusiness", region_name=REGION, endpoint_url=local_aws.url,
        config=Config(retries={"max_attempts": 1}),
        aws_access_key_id=creds["Credentials"]["AccessKeyId"],
        aws_secret_access_key=creds["Credentials"]["SecretAccessKey"],
        aws_session_token=creds["Credentials"]["SessionToken"],
    )  # fmt: skip
    return Stack(
        config_file=config_file, application_id=final.application.id,
        other_application_arn=final.application.arn.rsplit("/", 1)[0] + "/" + other,
        role_name=final.web_role.name, policy_name=policy_name,
        applied_policy=applied["PolicyDocument"], user=user,
    )  # fmt: skip


def _without_chat_sync(policy: Policy, stack: Stack) -> Policy:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]  # fmt: skip
        statement["Action"] = [a for a in actions if a != "qbusiness:ChatSync"]
    return policy


def _mine(stack: Stack) -> str:
    return stack.other_application_arn.rsplit("/", 1)[0] + "/" + stack.application_id


def _scoped_to_another_application(policy: Policy, stack: Stack) -> Policy:
    return dict(json.loads(json.dumps(policy).replace(_mine(stack), stack.other_application_arn)))


def _with_deny(resource: Callable[[Stack], str]) -> Callable[[Policy, Stack], Policy]:
    def add(policy: Policy, stack: Stack) -> Policy:
        policy["Statement"].append({"Effect": "Deny", "Action": "qbusiness:ChatSync",
                                    "Resource": resource(stack)})  # fmt: skip
        return policy

    return add


def _only_in_region(region: str) -> Callable[[Policy, Stack], Policy]:
    def condition(policy: Policy, stack: Stack) -> Policy:
        for statement in policy["Statement"]:
            statement["Condition"] = {"StringEquals": {"aws:RequestedRegion": region}}
        return policy

    return condition


def _deny_in_region(policy: Policy, stack: Stack) -> Policy:
    elsewhere = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    policy["Statement"].append({"Effect": "Deny", "Action": "qbusiness:*", "Resource": "*",
                                "Condition": elsewhere})
    return policy


BREAKAGES: list[tuple[str, Callable[[Policy, Stack], Policy], bool]] = [
    # name, change to the applied policy, expected: refused by both
    ("as_applied_control", lambda policy, stack: policy, False),
    ("without_chat_sync", _without_chat_sync, True),
    ("scoped_to_another_application", _scoped_to_another_application, True),
    ("explicit_deny_of_chat_sync", _with_deny(_mine), True),
    ("explicit_deny_of_chat_sync_everywhere", _with_deny(lambda stack: "*"), True),
    ("deny_of_another_application_control", _with_deny(lambda s: s.other_application_arn),
     False),
    # Conditions are evaluated, not just read: an Allow that never applies here grants
    # nothing, a Deny that never applies here refuses nothing.
    ("allowed_only_in_another_region", _only_in_region("eu-west-1"), True),
    ("allowed_in_this_region_control", _only_in_region(REGION), False),
    ("deny_in_another_region_control", _deny_in_region, False),
]


def _doctor_status(stack: Stack) -> str:
    done = subprocess.run([str(QBIZFED), "doctor", "--config", str(stack.config_file),
                           "--output", "json"], capture_output=True, text=True, timeout=120,
                          cwd=stack.config_file.parent, check=False)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    results = {r["name"]: r for r in json.loads(done.stdout)["results"]}
    return str(results["role.chat-permissions"]["status"])


def _emulator_refuses(stack: Stack) -> bool:
    try:
        stack.user.chat_sync(applicationId=stack.application_id, userMessage="hello")
    except ClientError as exc:
        error = exc.response["Error"]
        if "does not have a subscription" in error["Message"]:
            return _emulator_refuses(stack)  # the first call subscribes the user
        assert error["Code"] == "AccessDeniedException", error
        assert error["Message"].startswith("User: arn:aws:sts::"), error
        return True
    return False


@pytest.mark.parametrize(("change", "refused"), [b[1:] for b in BREAKAGES],
                         ids=[b[0] for b in BREAKAGES])
def test_doctor_fails_exactly_when_the_emulator_refuses(
        local_aws: LocalAws, stack: Stack, change: Callable[[Policy, Stack], Policy],
        refused: bool) -> None:
    iam = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url).iam
    policy = change(json.loads(json.dumps(stack.applied_policy)), stack)
    iam.put_role_policy(RoleName=stack.role_name, PolicyName=stack.policy_name,
                        PolicyDocument=json.dumps(policy))  # fmt: skip
    try:
        assert _emulator_refuses(stack) is refused
        assert _doctor_status(stack) == ("FAIL" if refused else "OK")
    finally:
        iam.put_role_policy(RoleName=stack.role_name, PolicyName=stack.policy_name,
                            PolicyDocument=json.dumps(stack.applied_policy))  # fmt: skip
