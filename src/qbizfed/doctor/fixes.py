"""Fix documents, rendered by the same :mod:`qbizfed.policies` functions ``admin apply`` uses.

Doctor never keeps a second copy of a policy: the trust policy, the TagSession
statement and the permission policy it proposes are what ``qbizfed admin apply``
would write for the same config and the same identifiers.
"""

from __future__ import annotations

from typing import Any

from qbizfed import policies
from qbizfed.aws.provision.desired import saml_audiences
from qbizfed.aws.provision.names import StackNames
from qbizfed.doctor.facts import (
    ApplicationFacts,
    OidcProviderFacts,
    SamlProviderFacts,
    StackFacts,
    WebExperienceFacts,
)
from qbizfed.doctor.statements import as_list
from qbizfed.settings.stack import Mode, StackConfig


def account_of(facts: StackFacts) -> str:
    return facts.account_id or "<account-id>"


def exact_oidc_provider(config: StackConfig, facts: StackFacts) -> OidcProviderFacts | None:
    """The IAM OIDC provider whose URL equals the issuer without its scheme, byte for byte."""
    assert config.oidc is not None
    wanted = config.oidc.issuer.split("://", 1)[-1]
    if not isinstance(facts.oidc_providers, tuple):
        return None
    for provider in facts.oidc_providers:
        if provider.url == wanted:
            return provider
    return None


def expected_provider_arn(config: StackConfig, facts: StackFacts) -> str:
    """The IAM identity provider the role and the application should both name."""
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        found = exact_oidc_provider(config, facts)
        if found is not None:
            return found.arn
        return f"arn:aws:iam::{account_of(facts)}:oidc-provider/{config.oidc.provider_path}"
    if isinstance(facts.saml_provider, SamlProviderFacts):
        return facts.saml_provider.arn
    if isinstance(facts.application, ApplicationFacts) and facts.application.provider_arn:
        return facts.application.provider_arn
    return (f"arn:aws:iam::{account_of(facts)}:saml-provider/"
            f"{StackNames(config.name).saml_provider}")


def web_experience(facts: StackFacts) -> WebExperienceFacts | None:
    if isinstance(facts.web_experiences, tuple) and facts.web_experiences:
        return facts.web_experiences[0]
    return None


def expected_saml_audiences(config: StackConfig, facts: StackFacts) -> list[str]:
    web = web_experience(facts)
    return saml_audiences(config, web.endpoint if web else None)


def recommended_trust_policy(config: StackConfig, facts: StackFacts) -> dict[str, Any]:
    provider_arn = expected_provider_arn(config, facts)
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        return policies.oidc_trust_policy(
            provider_arn=provider_arn, provider_path=config.oidc.provider_path,
            client_id=config.oidc.client_id, require_email_tag=config.require_email_tag)
    return policies.saml_trust_policy(
        provider_arn=provider_arn, audiences=expected_saml_audiences(config, facts),
        require_email_tag=config.require_email_tag)


def _statement_for(document: dict[str, Any], action: str) -> dict[str, Any]:
    for statement in as_list(document.get("Statement")):
        if action in as_list(statement.get("Action")):
            return dict(statement)
    raise LookupError(action)  # pragma: no cover - policies.py always has both


def tag_session_statement(config: StackConfig, facts: StackFacts) -> dict[str, Any]:
    return _statement_for(recommended_trust_policy(config, facts), "sts:TagSession")


def assume_action(config: StackConfig) -> str:
    return ("sts:AssumeRoleWithWebIdentity" if config.mode is Mode.OIDC
            else "sts:AssumeRoleWithSAML")


def application_arn(config: StackConfig, facts: StackFacts) -> str:
    if isinstance(facts.application, ApplicationFacts):
        return facts.application.arn
    return policies.application_arn(region=config.region, account_id=account_of(facts),
                                    application_id="<application-id>")


def recommended_permission_policy(config: StackConfig, facts: StackFacts) -> dict[str, Any]:
    return policies.web_experience_permission_policy(
        application_arn=application_arn(config, facts), region=config.region,
        kms_key_arn=config.kms_key_arn, q_apps=config.q_apps)


def create_claim_statement(config: StackConfig, facts: StackFacts) -> dict[str, Any]:
    return _statement_for(recommended_permission_policy(config, facts),
                          "user-subscriptions:CreateClaim")


def trust_command(role_name: str) -> str:
    return (f"aws iam update-assume-role-policy --role-name {role_name} "
            "--policy-document file://trust-policy.json  # the document below")


def permission_command(role_name: str, policy_name: str) -> str:
    return (f"aws iam put-role-policy --role-name {role_name} --policy-name {policy_name} "
            "--policy-document file://permission-policy.json  # the document below")
