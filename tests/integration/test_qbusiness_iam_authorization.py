"""IAM authorization of Q Business calls: federated users, their role's policies, boto3.

Each test federates a user into a role holding exactly the policies it names (through
the local STS, as ``serve`` and ``login`` do) and calls Q Business with the credentials
that come back. Refusals must be ``AccessDeniedException`` with AWS's wording.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbizfed.local.stack import LocalAws
from qbizfed.policies import CONVERSATION_ACTIONS, web_experience_permission_policy
from tests.conftest import REGION
from tests.support.policy_lab import (
    Federated,
    PolicyLab,
    app_arn,
    chat,
    document,
    implicit_denial,
    policy_lab,
    refusal,
)
from tests.support.qbusiness_app import admin_qbusiness, ready_application

DOCS = [{"id": "hb", "title": "Handbook", "text": "The office opens at nine every weekday."}]


@pytest.fixture(scope="module")
def lab(local_aws: LocalAws) -> Iterator[PolicyLab]:
    with policy_lab(local_aws) as running:
        yield running


@pytest.fixture(scope="module")
def apps(local_aws: LocalAws) -> tuple[str, str]:
    """Two ready applications, X and Y."""
    return ready_application(local_aws, DOCS), ready_application(local_aws, DOCS)


def web_policy(app: str) -> dict[str, Any]:
    """What `qbizfed admin apply` puts on the web experience role of ``app``."""
    return web_experience_permission_policy(application_arn=app_arn(app), region=REGION)


def chat_refused(user: Federated, app: str, kind: str = "identity-based") -> tuple[str, str]:
    """What refusing ``user`` a ChatSync on ``app`` looks like."""
    return ("AccessDeniedException",
            implicit_denial(user.assumed_role_arn, "qbusiness:ChatSync", app_arn(app), kind))


def test_role_scoped_to_application_x_cannot_chat_with_y(
        lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, y = apps
    user = lab.sign_in(lab.role(web_policy(x)))
    assert "office opens at nine" in chat(user.qbusiness, x)["systemMessage"]
    code, message = refusal(lambda: chat(user.qbusiness, y))
    assert code == "AccessDeniedException"
    assert message == implicit_denial(user.assumed_role_arn, "qbusiness:ChatSync", app_arn(y))


def test_role_without_chat_sync_cannot_chat(lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, _ = apps
    others = [a for a in CONVERSATION_ACTIONS if a != "qbusiness:ChatSync"]
    user = lab.sign_in(lab.role(document(
        {"Effect": "Allow", "Action": others, "Resource": app_arn(x)})))  # fmt: skip
    assert isinstance(user.qbusiness.list_conversations(applicationId=x)["conversations"], list)
    assert refusal(lambda: chat(user.qbusiness, x)) == chat_refused(user, x)


def test_explicit_deny_wins_over_the_allow(lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, _ = apps
    deny = document({"Effect": "Deny", "Action": "qbusiness:ChatSync", "Resource": "*"})
    user = lab.sign_in(lab.role(web_policy(x), deny))
    code, message = refusal(lambda: chat(user.qbusiness, x))
    assert code == "AccessDeniedException"
    assert message == (
        f"User: {user.assumed_role_arn} is not authorized to perform: qbusiness:ChatSync on "
        f"resource: {app_arn(x)} with an explicit deny in an identity-based policy")
    assert isinstance(user.qbusiness.list_conversations(applicationId=x)["conversations"], list)


def test_action_and_resource_wildcards(lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, y = apps
    user = lab.sign_in(lab.role(document({
        "Effect": "Allow", "Action": "QBusiness:Chat*",
        "Resource": app_arn("*").replace(REGION, "us-*")})))  # fmt: skip
    for app in (x, y):
        assert chat(user.qbusiness, app)["conversationId"]
    code, _ = refusal(lambda: user.qbusiness.list_conversations(applicationId=x))
    assert code == "AccessDeniedException"


def test_principal_tag_condition(lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, _ = apps
    role = lab.role(document({
        "Effect": "Allow", "Action": "qbusiness:*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/Email": "ada@example.com",
                                       "aws:RequestedRegion": REGION}}}))  # fmt: skip
    assert chat(lab.sign_in(role, email="ada@example.com").qbusiness, x)["conversationId"]
    bob = lab.sign_in(role, email="bob@example.com")
    assert refusal(lambda: chat(bob.qbusiness, x)) == chat_refused(bob, x)


def test_session_policy_narrows_the_role(lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, y = apps
    role = lab.role(document({"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"}))
    narrowed = lab.sign_in(role, session_policy=document(
        {"Effect": "Allow", "Action": "qbusiness:ChatSync", "Resource": app_arn(x)}))  # fmt: skip
    assert chat(narrowed.qbusiness, x)["conversationId"]
    assert refusal(lambda: chat(narrowed.qbusiness, y)) == chat_refused(narrowed, y, "session")
    # Managed session policies (PolicyArns) intersect the same way.
    only_y = lab.managed_policy(document(
        {"Effect": "Allow", "Action": "qbusiness:ChatSync", "Resource": app_arn(y)}))  # fmt: skip
    by_arn = lab.sign_in(role, policy_arns=[only_y])
    assert chat(by_arn.qbusiness, y)["conversationId"]
    assert refusal(lambda: chat(by_arn.qbusiness, x))[0] == "AccessDeniedException"


def test_session_policy_cannot_widen_the_role(lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, y = apps
    user = lab.sign_in(lab.role(web_policy(x)), session_policy=document(
        {"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"}))  # fmt: skip
    assert refusal(lambda: chat(user.qbusiness, y)) == chat_refused(user, y)


def test_attached_managed_policy_is_evaluated_at_each_call(
        lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, _ = apps
    role = lab.role(managed=[web_policy(x)])
    user = lab.sign_in(role)
    assert chat(user.qbusiness, x)["conversationId"]
    for attached in lab.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        lab.iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
    code, _ = refusal(lambda: chat(user.qbusiness, x))
    assert code == "AccessDeniedException"


def test_authorization_comes_before_resource_and_subscription_checks(
        lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, _ = apps
    user = lab.sign_in(lab.role(web_policy(x)), email="newcomer@example.com")
    missing = "0" * 36
    assert refusal(lambda: chat(user.qbusiness, missing)) == chat_refused(user, missing)
    code, _ = refusal(lambda: user.qbusiness.create_index(applicationId=x, displayName="nope"))
    assert code == "AccessDeniedException"


def test_child_resources_need_the_action_on_themselves(
        lab: PolicyLab, apps: tuple[str, str]) -> None:
    x, _ = apps
    index = admin_qbusiness(lab.stack).list_indices(applicationId=x)["indices"][0]["indexId"]
    app_only = lab.sign_in(lab.role(document(
        {"Effect": "Allow", "Action": "qbusiness:GetIndex", "Resource": app_arn(x)})))  # fmt: skip
    assert refusal(lambda: app_only.qbusiness.get_index(applicationId=x, indexId=index)) == (
        "AccessDeniedException", implicit_denial(app_only.assumed_role_arn, "qbusiness:GetIndex",
                                          f"{app_arn(x)}/index/{index}"))  # fmt: skip
    both = lab.sign_in(lab.role(document({"Effect": "Allow", "Action": "qbusiness:GetIndex",
                                          "Resource": [app_arn(x), app_arn(x) + "/index/*"]})))
    assert both.qbusiness.get_index(applicationId=x, indexId=index)["indexId"] == index


def test_admin_keys_are_not_evaluated(local_aws: LocalAws, apps: tuple[str, str]) -> None:
    admin = admin_qbusiness(local_aws)
    assert {apps[0], apps[1]} <= {a["applicationId"] for a in admin.list_applications()[
        "applications"]}  # fmt: skip
    code, message = refusal(lambda: chat(admin, apps[0]))
    assert (code, message) == ("AccessDeniedException",
                               "User is not authorized for this service call.")


def test_the_internal_switch_restores_the_coarse_rules(fresh_local_aws: LocalAws) -> None:
    """The benchmark's baseline: with evaluation off, a session whose role has no policy
    at all may read and chat again, and still may not administer."""
    app = ready_application(fresh_local_aws, DOCS)
    with policy_lab(fresh_local_aws) as own_lab:
        user = own_lab.sign_in(own_lab.role())
        assert refusal(lambda: chat(user.qbusiness, app)) == chat_refused(user, app)
        fresh_local_aws.qbusiness.iam.enabled = False
        assert chat(user.qbusiness, app)["conversationId"]
        code, message = refusal(lambda: user.qbusiness.create_index(applicationId=app,
                                                                    displayName="x"))
        assert code == "AccessDeniedException"
        assert "qbusiness:CreateIndex" in message
