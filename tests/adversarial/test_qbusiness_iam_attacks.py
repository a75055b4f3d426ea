"""Attacks on the local Q Business's IAM authorization, each named after its attack.

Every request is otherwise valid: a federated user signed in through the local STS
(signed ID token, trusted issuer, Email tag), SigV4-signed with the session's real
credentials, to an application that exists and auto-subscribes. Only the role's (or
the session's) policies stand in the way, so each refusal must be IAM's
``AccessDeniedException`` with the reason AWS gives, and nothing of the target
application may come back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from qbizfed.local.stack import LocalAws
from qbizfed.policies import web_experience_permission_policy
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

DOCS = [{"id": "secret", "title": "Plans", "text": "The launch code name is BLUE HERON."}]
ALLOW_ALL = document({"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"})


@dataclass(frozen=True)
class Scene:
    lab: PolicyLab
    mine: str
    target: str


@pytest.fixture(scope="module")
def scene(local_aws: LocalAws) -> Iterator[Scene]:
    with policy_lab(local_aws) as lab:
        yield Scene(lab, ready_application(local_aws, DOCS), ready_application(local_aws, DOCS))


def scoped(app: str) -> dict[str, Any]:
    return web_experience_permission_policy(application_arn=app_arn(app), region=REGION)


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Scene], tuple[Federated, tuple[str, str]]]
    """Performs the attack; returns the attacker and (error code, message) of its refusal."""
    reason: Callable[[Scene, str], str]
    """(scene, assumed-role ARN) -> the message fragment that names the defence."""


def _other_application(s: Scene) -> tuple[Federated, tuple[str, str]]:
    user = s.lab.sign_in(s.lab.role(scoped(s.mine)))
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _widening_session_policy(s: Scene) -> tuple[Federated, tuple[str, str]]:
    user = s.lab.sign_in(s.lab.role(scoped(s.mine)), session_policy=ALLOW_ALL)
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _widening_managed_session_policy(s: Scene) -> tuple[Federated, tuple[str, str]]:
    user = s.lab.sign_in(s.lab.role(scoped(s.mine)),
                         policy_arns=[s.lab.managed_policy(ALLOW_ALL)])  # fmt: skip
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _deny_behind_wildcard_allow(s: Scene) -> tuple[Federated, tuple[str, str]]:
    deny = document({"Effect": "Deny", "Action": "qbusiness:chatsync", "Resource": app_arn(
        s.target)})  # fmt: skip
    user = s.lab.sign_in(s.lab.role(ALLOW_ALL, deny))
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _deny_by_not_action(s: Scene) -> tuple[Federated, tuple[str, str]]:
    deny = document({"Effect": "Deny", "NotAction": "qbusiness:List*", "Resource": "*"})
    user = s.lab.sign_in(s.lab.role(ALLOW_ALL, deny))
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _application_id_in_another_case(s: Scene) -> tuple[Federated, tuple[str, str]]:
    user = s.lab.sign_in(s.lab.role(scoped(s.mine.upper())))
    return user, refusal(lambda: chat(user.qbusiness, s.mine))


def _another_users_tag(s: Scene) -> tuple[Federated, tuple[str, str]]:
    only_ada = document({"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*",
                         "Condition": {"StringEquals": {
                             "aws:PrincipalTag/Email": "ada@example.com"}}})  # fmt: skip
    user = s.lab.sign_in(s.lab.role(only_ada), email="mallory@example.com")
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _credentials_outliving_the_grant(s: Scene) -> tuple[Federated, tuple[str, str]]:
    role = s.lab.role(scoped(s.target))
    user = s.lab.sign_in(role)
    assert chat(user.qbusiness, s.target)["conversationId"]
    s.lab.iam.delete_role_policy(RoleName=role, PolicyName="inline0")
    return user, refusal(lambda: chat(user.qbusiness, s.target))


def _probing_for_applications(s: Scene) -> tuple[Federated, tuple[str, str]]:
    user = s.lab.sign_in(s.lab.role(scoped(s.mine)))
    nonexistent = refusal(lambda: chat(user.qbusiness, "f" * 36))
    existing = refusal(lambda: chat(user.qbusiness, s.target))
    # No existence oracle: both are refused by IAM before any lookup.
    assert nonexistent[0] == existing[0] == "AccessDeniedException"
    assert "ResourceNotFound" not in nonexistent[1]
    return user, existing


def _index_of_another_application(s: Scene) -> tuple[Federated, tuple[str, str]]:
    index = admin_qbusiness(s.lab.stack).list_indices(applicationId=s.target)["indices"][0][
        "indexId"]  # fmt: skip
    own = document({"Effect": "Allow", "Action": "qbusiness:GetIndex",
                    "Resource": [app_arn(s.mine), app_arn(s.mine) + "/index/*"]})  # fmt: skip
    user = s.lab.sign_in(s.lab.role(own))
    return user, refusal(lambda: user.qbusiness.get_index(applicationId=s.target, indexId=index))


def _chat_denied(kind: str = "identity-based") -> Callable[[Scene, str], str]:
    return lambda s, who: implicit_denial(who, "qbusiness:ChatSync", app_arn(s.target), kind)


def _explicit(s: Scene, who: str) -> str:
    return (f"User: {who} is not authorized to perform: qbusiness:ChatSync on resource: "
            f"{app_arn(s.target)} with an explicit deny in an identity-based policy")


ATTACKS = [
    Attack("chat_with_an_application_the_role_is_not_scoped_to", _other_application,
           _chat_denied()),
    Attack("session_policy_that_tries_to_widen_the_role", _widening_session_policy,
           _chat_denied()),
    Attack("managed_session_policy_that_tries_to_widen_the_role",
           _widening_managed_session_policy, _chat_denied()),
    Attack("explicit_deny_behind_a_wildcard_allow", _deny_behind_wildcard_allow, _explicit),
    Attack("explicit_deny_by_not_action", _deny_by_not_action, _explicit),
    Attack("application_id_in_another_case_than_the_policy",
           _application_id_in_another_case,
           lambda s, who: implicit_denial(who, "qbusiness:ChatSync", app_arn(s.mine))),
    Attack("principal_tag_condition_met_by_another_users_email", _another_users_tag,
           _chat_denied()),
    Attack("credentials_kept_after_the_role_policy_was_removed",
           _credentials_outliving_the_grant, _chat_denied()),
    Attack("probing_application_ids_without_permission", _probing_for_applications,
           _chat_denied()),
    Attack("index_of_another_application", _index_of_another_application,
           lambda s, who: implicit_denial(who, "qbusiness:GetIndex", app_arn(s.target))),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused(scene: Scene, attack: Attack) -> None:
    attacker, (code, message) = attack.run(scene)
    assert code == "AccessDeniedException"
    assert message == attack.reason(scene, attacker.assumed_role_arn)
    assert "BLUE HERON" not in message


def test_malformed_session_policy_is_refused_by_sts(scene: Scene) -> None:
    role = scene.lab.role(scoped(scene.mine))
    no_resource = document({"Effect": "Allow", "Action": "qbusiness:*"})
    code, message = refusal(lambda: scene.lab.sign_in(role, session_policy=no_resource))
    assert code == "MalformedPolicyDocument"
    assert "Resource" in message


def test_slash_in_application_id_cannot_forge_a_child_arn(scene: Scene) -> None:
    # The web experience policy allows the chat actions on <app>/web-experience/*, so an
    # application id carrying that suffix builds an ARN the policy matches; the id itself
    # is refused by the model's pattern before any handler runs.
    user = scene.lab.sign_in(scene.lab.role(scoped(scene.mine)))
    forged = f"{scene.mine}/web-experience/x"
    code, message = refusal(lambda: user.qbusiness.chat_sync(
        applicationId=forged, userMessage="launch code?"))  # fmt: skip
    assert code == "ValidationException"
    assert "at 'applicationId' failed to satisfy constraint" in message
    assert "BLUE HERON" not in message


def test_every_attack_has_a_reason() -> None:
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)
