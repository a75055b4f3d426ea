"""Fix commands and statements, cut from the documents ``admin apply`` writes.

Doctor never keeps a second copy of a policy: every document it proposes comes from
:mod:`qbizfed.aws.provision.desired` (which renders :mod:`qbizfed.policies`) for the
same config and the same identifiers ``admin plan`` sees.
"""

from __future__ import annotations

from typing import Any

from qbizfed.aws.provision import desired
from qbizfed.doctor.facts import (
    DoctorFacts,
)
from qbizfed.doctor.statements import as_list
from qbizfed.settings.stack import Mode, StackConfig


def saml_audiences(config: StackConfig, facts: DoctorFacts) -> list[str]:
    """The ``SAML:aud`` values the trust policy admin writes allows."""
    web = facts.stack.web_experience
    return desired.saml_audiences(config, web.endpoint if web else None)


def _statement_for(document: dict[str, Any], action: str) -> dict[str, Any]:
    for statement in as_list(document.get("Statement")):
        if action in as_list(statement.get("Action")):
            return dict(statement)
    raise LookupError(action)  # pragma: no cover - policies.py always has both


def tag_session_statement(config: StackConfig, facts: DoctorFacts) -> dict[str, Any]:
    return _statement_for(desired.web_role_trust_policy(config, facts.stack), "sts:TagSession")


def assume_action(config: StackConfig) -> str:
    return ("sts:AssumeRoleWithWebIdentity" if config.mode is Mode.OIDC
            else "sts:AssumeRoleWithSAML")


def create_claim_statement(config: StackConfig, facts: DoctorFacts) -> dict[str, Any]:
    return _statement_for(desired.web_role_permission_policy(config, facts.stack),
                          "user-subscriptions:CreateClaim")


def trust_command(role_name: str) -> str:
    return (f"aws iam update-assume-role-policy --role-name {role_name} "
            "--policy-document file://trust-policy.json  # the document below")


def permission_command(role_name: str, policy_name: str) -> str:
    return (f"aws iam put-role-policy --role-name {role_name} --policy-name {policy_name} "
            "--policy-document file://permission-policy.json  # the document below")
