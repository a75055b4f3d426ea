"""Federated Q Business clients whose role carries exactly the policies a test gives.

Everything goes the way users go: IAM calls (``CreateRole``, ``PutRolePolicy``,
``CreatePolicy``/``AttachRolePolicy``) through boto3 against the local stack, a signed
ID token from a test OIDC issuer traded at the local STS with
``AssumeRoleWithWebIdentity`` (optionally with a session ``Policy`` / ``PolicyArns``),
and a boto3 ``qbusiness`` client holding the credentials that come back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from qbizfed.policies import application_arn
from tests.conftest import ACCOUNT_ID, FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.support.oidc_issuer import OidcIssuer, register_oidc_role, running_oidc_issuer

ONE_TRY = Config(retries={"max_attempts": 1})
QUESTION = "When does the office open?"


def app_arn(application_id: str) -> str:
    return application_arn(region=REGION, account_id=ACCOUNT_ID, application_id=application_id)


def document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}


@dataclass(frozen=True)
class Federated:
    """A signed-in user's ``qbusiness`` client and who AWS says they are."""

    qbusiness: Any
    assumed_role_arn: str
    role_name: str


class PolicyLab:
    """Roles with given policies, and users federated into them."""

    def __init__(self, stack: LocalAws, issuer: OidcIssuer) -> None:
        self.stack = stack
        self.issuer = issuer
        self.iam = boto3.client("iam", endpoint_url=stack.url, region_name=REGION,
                                aws_access_key_id=FAKE_ADMIN_KEY,
                                aws_secret_access_key=FAKE_ADMIN_SECRET)  # fmt: skip
        self._sts = boto3.session.Session(region_name=REGION).client(
            "sts", endpoint_url=stack.url,
            config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
        )  # fmt: skip

    def role(self, *inline: Mapping[str, Any], managed: Sequence[Mapping[str, Any]] = ()) -> str:
        """A new role trusting the issuer, with these inline and managed policies."""
        name = "lab" + uuid.uuid4().hex[:10]
        register_oidc_role(self.iam, self.issuer, name)
        for n, policy in enumerate(inline):
            self.iam.put_role_policy(RoleName=name, PolicyName=f"inline{n}",
                                     PolicyDocument=json.dumps(dict(policy)))  # fmt: skip
        for policy in managed:
            self.iam.attach_role_policy(RoleName=name, PolicyArn=self.managed_policy(policy))
        return name

    def managed_policy(self, policy: Mapping[str, Any]) -> str:
        name = "managed" + uuid.uuid4().hex[:10]
        created = self.iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(dict(policy)))
        return str(created["Policy"]["Arn"])

    def sign_in(self, role_name: str, *, email: str = "ada@example.com",
                session_policy: Mapping[str, Any] | None = None,
                policy_arns: Sequence[str] = ()) -> Federated:
        """AssumeRoleWithWebIdentity as ``email`` (the Email session tag)."""
        extra: dict[str, Any] = {}
        if session_policy is not None:
            extra["Policy"] = json.dumps(dict(session_policy))
        if policy_arns:
            extra["PolicyArns"] = [{"arn": arn} for arn in policy_arns]
        token = self.issuer.mint(email=email)
        answer = self._sts.assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}",
            RoleSessionName=email.replace("@", "-"),
            WebIdentityToken=token, **extra,
        )  # fmt: skip
        creds = answer["Credentials"]
        client = boto3.client(
            "qbusiness", endpoint_url=self.stack.url, region_name=REGION, config=ONE_TRY,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )  # fmt: skip
        return Federated(client, str(answer["AssumedRoleUser"]["Arn"]), role_name)


@contextmanager
def policy_lab(stack: LocalAws) -> Iterator[PolicyLab]:
    with running_oidc_issuer() as issuer:
        yield PolicyLab(stack, issuer)


def chat(client: Any, app: str) -> dict[str, Any]:
    """One ChatSync turn; a user's first call subscribes them (refused once, as on AWS)."""
    try:
        return dict(client.chat_sync(applicationId=app, userMessage=QUESTION))
    except ClientError as exc:
        if "does not have a subscription" not in exc.response["Error"]["Message"]:
            raise
    return dict(client.chat_sync(applicationId=app, userMessage=QUESTION))


def refusal(call: Callable[[], object]) -> tuple[str, str]:
    """The error code and message of a call that must fail."""
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def implicit_denial(who: str, action: str, resource: str, kind: str = "identity-based") -> str:
    """AWS's message for an action no policy of ``kind`` allows."""
    return (f"User: {who} is not authorized to perform: {action} on resource: {resource} "
            f"because no {kind} policy allows the {action} action")
