"""Trust policy evaluation: principal, action, condition, and Deny over Allow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qbizfed.iam.conditions import PolicyError, RequestContext
from qbizfed.local.sts.trust_policy import Decision, FederatedRequest, TrustPolicy

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/idp.example.test"
ASSUME = "sts:AssumeRoleWithWebIdentity"


def _request(action: str = ASSUME, **context: str) -> FederatedRequest:
    values = {"idp.example.test:aud": "client-1", **context}
    return FederatedRequest(provider_arn=PROVIDER, action=action, context=RequestContext(values))


def _policy(*statements: dict[str, Any]) -> TrustPolicy:
    return TrustPolicy.parse(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def _allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": ASSUME, **extra}


CASES: list[tuple[str, list[dict[str, Any]], FederatedRequest, Decision]] = [
    ("plain_allow", [_allow()], _request(), Decision.ALLOW),
    (
        "single_statement_object",
        [_allow(Condition={"StringEquals": {"idp.example.test:aud": "client-1"}})],
        _request(),
        Decision.ALLOW,
    ),
    (
        "condition_fails",
        [_allow(Condition={"StringEquals": {"idp.example.test:aud": "other"}})],
        _request(),
        Decision.IMPLICIT_DENY,
    ),
    ("other_action", [_allow()], _request("sts:TagSession"), Decision.IMPLICIT_DENY),
    ("action_wildcard", [_allow(Action="sts:*")], _request("sts:TagSession"), Decision.ALLOW),
    (
        "action_case_insensitive",
        [_allow(Action="STS:assumerolewithwebidentity")],
        _request(),
        Decision.ALLOW,
    ),
    ("action_list", [_allow(Action=["sts:TagSession", ASSUME])], _request(), Decision.ALLOW),
    (
        "not_action",
        [_allow(Action=None) | {"NotAction": "sts:TagSession"}],
        _request(),
        Decision.ALLOW,
    ),
    (
        "other_federated_principal",
        [_allow(Principal={"Federated": PROVIDER + "-other"})],
        _request(),
        Decision.IMPLICIT_DENY,
    ),
    (
        "aws_principal_is_not_federated",
        [_allow(Principal={"AWS": "arn:aws:iam::1:root"})],
        _request(),
        Decision.IMPLICIT_DENY,
    ),
    ("star_principal", [_allow(Principal="*")], _request(), Decision.ALLOW),
    (
        "explicit_deny_wins",
        [_allow(), {**_allow(), "Effect": "Deny"}],
        _request(),
        Decision.EXPLICIT_DENY,
    ),
    (
        "deny_that_does_not_apply",
        [
            _allow(),
            {**_allow(Condition={"StringEquals": {"idp.example.test:aud": "x"}}), "Effect": "Deny"},
        ],
        _request(),
        Decision.ALLOW,
    ),
    ("empty", [], _request(), Decision.IMPLICIT_DENY),
]


@pytest.mark.parametrize(
    ("statements", "request_", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision(
    statements: list[dict[str, Any]], request_: FederatedRequest, expected: Decision
) -> None:
    cleaned = [{k: v for k, v in s.items() if v is not None} for s in statements]
    assert _policy(*cleaned).decide(request_) is expected


@pytest.mark.parametrize(
    "document",
    ["not json", "[]", '{"Statement": [{"Effect": "Maybe"}]}', '{"Statement": ["x"]}', "{}"],
    ids=["not_json", "not_object", "bad_effect", "statement_not_object", "no_statement"],
)
def test_malformed_documents_raise(document: str) -> None:
    with pytest.raises(PolicyError):
        TrustPolicy.parse(document)
