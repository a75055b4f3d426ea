"""The desired state of a stack: what each resource should look like, given the config.

Pure functions of the configuration and of identifiers AWS assigns (account, application
ID, web experience URL). Where an identifier does not exist yet, a visible placeholder
stands in, so a plan can still show the document; ``apply`` recomputes each document
once the identifier exists.
"""

from __future__ import annotations

from typing import Any

from qbizfed import policies
from qbizfed.aws.provision.names import StackNames, service_linked_role_arn
from qbizfed.aws.provision.observed import ObservedStack
from qbizfed.settings.stack import Mode, StackConfig

PENDING_APPLICATION_ID = "<application-id-after-create>"


def identity_type(config: StackConfig) -> str:
    return "AWS_IAM_IDP_OIDC" if config.mode is Mode.OIDC else "AWS_IAM_IDP_SAML"


def provider_arn(config: StackConfig, account_id: str) -> str:
    """The ARN of the IAM identity provider ``apply`` creates for this config."""
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        return f"arn:aws:iam::{account_id}:oidc-provider/{config.oidc.provider_path}"
    return f"arn:aws:iam::{account_id}:saml-provider/{StackNames(config.name).saml_provider}"


def identity_provider_arn(config: StackConfig, observed: ObservedStack) -> str:
    """The IAM identity provider the role and the application must name: the one found,
    else the one ``apply`` creates."""
    if observed.provider is not None:
        return observed.provider.arn
    return provider_arn(config, observed.account_id)


def service_role_arn(config: StackConfig, observed: ObservedStack) -> str:
    return (config.service_role_arn or observed.service_role_arn
            or service_linked_role_arn(observed.account_id))


def application_arn_or_pending(config: StackConfig, observed: ObservedStack) -> str:
    """The application's ARN, or one with a placeholder id before it exists."""
    if observed.application is not None:
        return observed.application.arn
    return policies.application_arn(region=config.region, account_id=observed.account_id,
                                    application_id=PENDING_APPLICATION_ID)


def saml_audiences(config: StackConfig, web_endpoint: str | None) -> list[str]:
    """``SAML:aud`` values: the web experience's ``/saml`` URL, regional sign-in, custom ACS."""
    values = []
    if web_endpoint:
        values.append(web_endpoint.rstrip("/") + "/saml")
    values += list(config.saml_audiences)
    return list(dict.fromkeys(values))


def web_role_trust_policy(config: StackConfig, observed: ObservedStack) -> dict[str, Any]:
    arn = identity_provider_arn(config, observed)
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        return policies.oidc_trust_policy(
            provider_arn=arn, provider_path=config.oidc.provider_path,
            client_id=config.oidc.client_id, require_email_tag=config.require_email_tag,
        )
    endpoint = observed.web_experience.endpoint if observed.web_experience else None
    return policies.saml_trust_policy(
        provider_arn=arn, audiences=saml_audiences(config, endpoint),
        require_email_tag=config.require_email_tag,
    )


def web_role_permission_policy(config: StackConfig, observed: ObservedStack) -> dict[str, Any]:
    return policies.web_experience_permission_policy(
        application_arn=application_arn_or_pending(config, observed), region=config.region,
        kms_key_arn=config.kms_key_arn, q_apps=config.q_apps,
    )


def secrets_role_trust_policy(config: StackConfig, observed: ObservedStack) -> dict[str, Any]:
    return policies.secrets_role_trust_policy(
        account_id=observed.account_id,
        application_arn=application_arn_or_pending(config, observed))


def secrets_role_permission_policy(config: StackConfig, observed: ObservedStack
                                   ) -> dict[str, Any]:
    assert config.oidc is not None
    return policies.secrets_role_permission_policy(
        secret_arn=observed.secret_arn or config.oidc.secret_id, region=config.region,
        kms_key_arn=observed.secret_kms_key_arn,
    )


def web_identity_provider_configuration(config: StackConfig, observed: ObservedStack
                                        ) -> dict[str, Any]:
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        role = observed.secrets_role.arn if observed.secrets_role else "<secrets-role-arn>"
        return {"openIDConnectConfiguration": {
            "secretsArn": observed.secret_arn or config.oidc.secret_id, "secretsRole": role}}
    assert config.saml is not None
    return {"samlConfiguration": {"authenticationUrl": config.saml.idp_sso_url}}
