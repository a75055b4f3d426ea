"""IAM permissions to chat, for test roles: the policy `qbizfed admin apply` writes.

The local stack evaluates the IAM policies of every Q Business call made with
temporary credentials, so a role a test federates into (or issues sessions for straight
from the registry) needs the web experience permission policy, as on AWS.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from qbizfed.policies import web_experience_permission_policy
from tests.conftest import ACCOUNT_ID, FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION

ANY_APPLICATION = f"arn:aws:qbusiness:{REGION}:{ACCOUNT_ID}:application/*"
POLICY_NAME = "qbizfed-web-experience"


def grant_chat_permissions(iam: Any, role: str, *, application_arn: str = ANY_APPLICATION
                           ) -> None:
    """Put the web experience permission policy (for ``application_arn``) on the role
    (named, or given by its ARN)."""
    policy = web_experience_permission_policy(application_arn=application_arn, region=REGION)
    iam.put_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps(policy))


def chat_role(stack: LocalAws, name: str = "web", *, account_id: str = ACCOUNT_ID) -> str:
    """The ARN of a role (created if missing) allowed to chat with any application of
    its account: for sessions a test issues straight from the registry."""
    iam = boto3.client("iam", endpoint_url=stack.url, region_name=REGION,
                       aws_access_key_id=FAKE_ADMIN_KEY, aws_secret_access_key=FAKE_ADMIN_SECRET)
    # moto's header for "this call is made in that account" (admin keys map to one account).
    iam.meta.events.register("before-sign.iam.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", account_id))  # fmt: skip
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "*"},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }]}  # fmt: skip
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    applications = ANY_APPLICATION.replace(ACCOUNT_ID, account_id)
    grant_chat_permissions(iam, name, application_arn=applications)
    grant_search_permission(iam, name, application_arn=applications)
    return f"arn:aws:iam::{account_id}:role/{name}"


def grant_search_permission(iam: Any, role: str, *, application_arn: str = ANY_APPLICATION
                            ) -> None:
    """Allow ``qbusiness:SearchRelevantContent`` (data-plane tests and the MCP server's
    ``search`` tool call it; the web experience policy does not allow it)."""
    search = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "qbusiness:SearchRelevantContent",
        "Resource": application_arn,
    }]}  # fmt: skip
    iam.put_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName="search",
                        PolicyDocument=json.dumps(search))
