"""Permission policy evaluation (qbizfed.iam.policy) and Q Business's action/resource table.

One table of cases: the policies a role holds, the session policies, the request, the
expected decision and the policy type a refusal names. The rules are the IAM user
guide's ("Policy evaluation logic", "IAM JSON policy elements").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from qbizfed.iam.policy import (
    AccessRequest,
    Decision,
    PermissionPolicy,
    PolicyError,
    PolicyType,
    RequestContext,
    denial_message,
    evaluate,
)
from qbizfed.iam.qbusiness import authorization_table, required_permissions
from qbizfed.policies import CONVERSATION_ACTIONS, web_experience_permission_policy

ACCOUNT = "123456789012"
APP_X = f"arn:aws:qbusiness:us-east-1:{ACCOUNT}:application/app-x"
APP_Y = f"arn:aws:qbusiness:us-east-1:{ACCOUNT}:application/app-y"
CHAT = "qbusiness:ChatSync"
CONTEXT = RequestContext({
    "aws:RequestedRegion": "us-east-1",
    "aws:PrincipalTag/Email": "ada@example.com",
    "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/web",
    "aws:CurrentTime": "2026-12-03T09:00:00Z",
    "aws:SourceIp": "127.0.0.1",
})  # fmt: skip


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = CHAT, resource: Any = APP_X, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = CHAT, resource: Any = APP_X, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def _request(action: str = CHAT, resource: str = APP_X) -> AccessRequest:
    return AccessRequest(action=action, resource=resource, context=CONTEXT)


IDENTITY, SESSION = PolicyType.IDENTITY, PolicyType.SESSION
ALLOW, IMPLICIT, EXPLICIT = Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY

# name, identity statements (each its own policy, as inline and managed policies are),
# session statements (one policy; None: the session has none), request, expected
# decision, policy type a refusal names
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None, AccessRequest,
                  Decision, PolicyType | None]] = [
    ("exact_action_and_resource", [allow()], None, _request(), ALLOW, None),
    ("no_policy_at_all", [], None, _request(), IMPLICIT, IDENTITY),
    ("other_application", [allow()], None, _request(resource=APP_Y), IMPLICIT, IDENTITY),
    ("other_action", [allow("qbusiness:ListConversations")], None, _request(), IMPLICIT,
     IDENTITY),
    ("service_wildcard", [allow("qbusiness:*", "*")], None, _request(resource=APP_Y), ALLOW,
     None),
    ("prefix_wildcard", [allow("qbusiness:Chat*")], None, _request(), ALLOW, None),
    ("prefix_wildcard_no_match", [allow("qbusiness:List*")], None, _request(), IMPLICIT,
     IDENTITY),
    ("action_is_case_insensitive", [allow("QBUSINESS:chatsync")], None, _request(), ALLOW, None),
    ("question_mark_wildcard", [allow("qbusiness:ChatSyn?")], None, _request(), ALLOW, None),
    ("other_service_wildcard", [allow("qapps:*", "*")], None, _request(), IMPLICIT, IDENTITY),
    ("resource_is_case_sensitive", [allow(resource=APP_X.upper())], None, _request(), IMPLICIT,
     IDENTITY),
    ("resource_wildcard_covers_children", [allow("qbusiness:GetIndex", APP_X + "/*")], None,
     _request("qbusiness:GetIndex", APP_X + "/index/i-1"), ALLOW, None),
    ("resource_list", [allow(resource=[APP_Y, APP_X])], None, _request(), ALLOW, None),
    ("region_wildcard_in_arn_part", [allow(resource=APP_X.replace("us-east-1", "*"))], None,
     _request(), ALLOW, None),
    ("star_does_not_cross_arn_parts", [allow(resource="arn:aws:qbusiness:*")], None,
     _request(), IMPLICIT, IDENTITY),
    ("not_action_allows_the_rest", [{"Effect": "Allow", "NotAction": "qbusiness:Delete*",
                                     "Resource": "*"}], None, _request(), ALLOW, None),
    ("not_action_excludes", [{"Effect": "Allow", "NotAction": "qbusiness:Chat*",
                              "Resource": "*"}], None, _request(), IMPLICIT, IDENTITY),
    ("not_resource_allows_others", [{"Effect": "Allow", "Action": CHAT, "NotResource": APP_Y}],
     None, _request(), ALLOW, None),
    ("not_resource_excludes", [{"Effect": "Allow", "Action": CHAT, "NotResource": APP_X}],
     None, _request(), IMPLICIT, IDENTITY),
    ("explicit_deny_in_another_policy_wins", [allow("qbusiness:*", "*"), deny()], None,
     _request(), EXPLICIT, IDENTITY),
    ("deny_of_other_application_does_not_apply", [allow(), deny(resource=APP_Y)], None,
     _request(), ALLOW, None),
    ("deny_with_not_resource", [allow("qbusiness:*", "*"),
                                {"Effect": "Deny", "Action": "*", "NotResource": APP_Y}],
     None, _request(), EXPLICIT, IDENTITY),
    ("condition_principal_tag_matches", [allow(Condition={"StringLike": {
        "aws:PrincipalTag/Email": "*@example.com"}})], None, _request(), ALLOW, None),
    ("condition_principal_tag_fails", [allow(Condition={"StringEquals": {
        "aws:PrincipalTag/Email": "eve@example.com"}})], None, _request(), IMPLICIT, IDENTITY),
    ("condition_requested_region", [allow(Condition={"StringEquals": {
        "aws:RequestedRegion": "eu-west-1"}})], None, _request(), IMPLICIT, IDENTITY),
    ("deny_unless_region", [allow("qbusiness:*", "*"), deny("*", "*", Condition={
        "StringNotEquals": {"aws:RequestedRegion": "us-east-1"}})], None, _request(), ALLOW,
     None),
    ("condition_date", [allow(Condition={"DateLessThan": {
        "aws:CurrentTime": "2026-01-01T00:00:00Z"}})], None, _request(), IMPLICIT, IDENTITY),
    ("condition_source_ip", [allow(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})],
     None, _request(), ALLOW, None),
    ("session_policy_intersects", [allow("qbusiness:*", "*")], [allow()], _request(), ALLOW,
     None),
    ("session_policy_narrows", [allow("qbusiness:*", "*")], [allow()],
     _request(resource=APP_Y), IMPLICIT, SESSION),
    ("session_policy_cannot_widen", [allow()], [allow("qbusiness:*", "*")],
     _request(resource=APP_Y), IMPLICIT, IDENTITY),
    ("session_policy_explicit_deny", [allow("qbusiness:*", "*")],
     [allow("qbusiness:*", "*"), deny()], _request(), EXPLICIT, SESSION),
    ("identity_deny_named_before_session", [allow("qbusiness:*", "*"), deny()], [deny()],
     _request(), EXPLICIT, IDENTITY),
]  # fmt: skip


@pytest.mark.parametrize(
    ("identity", "session", "request_", "decision", "policy_type"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_evaluation(identity: list[dict[str, Any]], session: list[dict[str, Any]] | None,
                    request_: AccessRequest, decision: Decision,
                    policy_type: PolicyType | None) -> None:
    identity_policies = [PermissionPolicy.parse(_doc(s)) for s in identity]
    session_policies = None if session is None else [PermissionPolicy.parse(_doc(*session))]
    verdict = evaluate(request_, identity_policies, session_policies)
    assert verdict.decision is decision
    if policy_type is not None:
        assert verdict.policy_type is policy_type


def test_denial_messages_use_aws_wording() -> None:
    who = f"arn:aws:sts::{ACCOUNT}:assumed-role/web/ada"
    implicit = evaluate(_request(resource=APP_Y), [PermissionPolicy.parse(_doc(allow()))])
    assert denial_message(who, _request(resource=APP_Y), implicit) == (
        f"User: {who} is not authorized to perform: qbusiness:ChatSync on resource: {APP_Y} "
        "because no identity-based policy allows the qbusiness:ChatSync action"
    )
    explicit = evaluate(_request(), [PermissionPolicy.parse(_doc(allow(), deny()))])
    assert denial_message(who, _request(), explicit) == (
        f"User: {who} is not authorized to perform: qbusiness:ChatSync on resource: {APP_X} "
        "with an explicit deny in an identity-based policy"
    )
    narrowed = evaluate(_request(resource=APP_Y),
                        [PermissionPolicy.parse(_doc(allow("*", "*")))],
                        [PermissionPolicy.parse(_doc(allow()))])
    assert denial_message(who, _request(resource=APP_Y), narrowed).endswith(
        "because no session policy allows the qbusiness:ChatSync action")
    session_deny = evaluate(_request(), [PermissionPolicy.parse(_doc(allow()))],
                            [PermissionPolicy.parse(_doc(allow(), deny()))])
    assert denial_message(who, _request(), session_deny).endswith(
        "with an explicit deny in a session policy")


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Maybe", "Action": CHAT, "Resource": "*"},
        {"Effect": "Allow", "Resource": "*"},
        {"Effect": "Allow", "Action": CHAT, "NotAction": CHAT, "Resource": "*"},
        {"Effect": "Allow", "Action": CHAT},
        {"Effect": "Allow", "Action": CHAT, "Resource": "*", "Principal": "*"},
        {"Effect": "Allow", "Action": [CHAT, 7], "Resource": "*"},
        {"Effect": "Allow", "Action": CHAT, "Resource": "*", "Condition": "yes"},
    ],
    ids=["bad_effect", "no_action", "action_and_not_action", "no_resource", "principal",
         "non_string_action", "condition_not_an_object"],
)
def test_malformed_statements_raise(statement: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        PermissionPolicy.parse(json.dumps(_doc(statement)))


def test_unknown_condition_operator_is_refused_when_parsed() -> None:
    with pytest.raises(PolicyError):
        PermissionPolicy.parse(_doc(allow(Condition={"StringSortOf": {"aws:x": "y"}})))


def test_a_document_text_is_parsed_once() -> None:
    text = json.dumps(_doc(allow()))
    assert PermissionPolicy.parse(text) is PermissionPolicy.parse(text)


# -- the Q Business table -----------------------------------------------------------


def _needs(operation: str, **labels: str) -> tuple[tuple[str, str], ...]:
    return required_permissions(operation, labels, region="us-east-1", account_id=ACCOUNT)


def test_every_operation_of_the_model_has_an_action_of_its_own_name() -> None:
    table = authorization_table()
    assert len(table) >= 80
    for name, entry in table.items():
        assert entry.actions[0] == f"qbusiness:{name}"


def test_chat_actions_are_on_the_application() -> None:
    assert _needs("ChatSync", applicationId="app-x") == (("qbusiness:ChatSync", APP_X),)
    assert _needs("Chat", applicationId="app-x") == (("qbusiness:Chat", APP_X),)
    assert _needs("PutFeedback", applicationId="app-x", conversationId="c", messageId="m") == (
        ("qbusiness:PutFeedback", APP_X),)


def test_child_resources_are_required_with_their_application() -> None:
    assert _needs("GetDataSource", applicationId="app-x", indexId="i", dataSourceId="d") == (
        ("qbusiness:GetDataSource", APP_X),
        ("qbusiness:GetDataSource", APP_X + "/index/i"),
        ("qbusiness:GetDataSource", APP_X + "/index/i/data-source/d"),
    )
    assert _needs("GetWebExperience", applicationId="app-x", webExperienceId="w")[1] == (
        "qbusiness:GetWebExperience", APP_X + "/web-experience/w")
    assert _needs("DeleteGroup", applicationId="app-x", indexId="i", groupName="g") == (
        ("qbusiness:DeleteGroup", APP_X), ("qbusiness:DeleteGroup", APP_X + "/index/i"))


def test_exceptions_of_the_reference() -> None:
    assert _needs("AssociatePermission", applicationId="app-x") == (
        ("qbusiness:AssociatePermission", APP_X), ("qbusiness:PutResourcePolicy", APP_X))
    assert _needs("TagResource", resourceARN=APP_X + "/index/i") == (
        ("qbusiness:TagResource", APP_X + "/index/i"),)
    assert _needs("ListApplications") == (("qbusiness:ListApplications", "*"),)
    assert _needs("CreateApplication") == (("qbusiness:CreateApplication", "*"),)


def test_the_web_experience_policy_allows_the_chat_actions_on_its_application_only() -> None:
    policy = PermissionPolicy.parse(web_experience_permission_policy(
        application_arn=APP_X, region="us-east-1"))  # fmt: skip
    for action in CONVERSATION_ACTIONS:
        operation = action.split(":", 1)[1]
        for app, expected in (("app-x", True), ("app-y", False)):
            for needed_action, resource in _needs(operation, applicationId=app,
                                                  webExperienceId="w", conversationId="c"):
                verdict = evaluate(_request(needed_action, resource), [policy])
                assert verdict.allowed is expected, (needed_action, resource)
