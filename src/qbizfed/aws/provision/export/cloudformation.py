"""The stack as a CloudFormation template, built from the same policy functions as apply.

Resources: the IAM identity provider (``AWS::IAM::OIDCProvider`` or ``SAMLProvider``),
``AWS::QBusiness::Application`` / ``Index`` / ``Retriever`` / ``WebExperience``, the web
experience role and, for OIDC, the secrets role. Identifiers that only exist at deploy
time are written as ``${Logical.Attribute}`` placeholders in the policy documents and
the strings holding them wrapped in ``Fn::Sub``.

One difference from ``apply``: a SAML trust policy cannot name the web experience's own
``/saml`` URL here (the web experience needs the role first: a cycle), so it lists the
configured audiences (regional sign-in URL, custom ACS URL) only; the Outputs say so.
"""

from __future__ import annotations

import json
from typing import Any

from qbizfed import policies
from qbizfed.aws.provision.kms_keys import template_key_arn
from qbizfed.aws.provision.names import STACK_TAG, StackNames
from qbizfed.settings.stack import Mode, StackConfig

ACCOUNT = "${AWS::AccountId}"
APP_ARN = "${Application.ApplicationArn}"


def _sub(value: Any) -> Any:
    """Wrap every string holding a ``${...}`` placeholder in ``Fn::Sub``."""
    if isinstance(value, dict):
        return {k: _sub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sub(v) for v in value]
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": value}
    return value


def _tags(names: StackNames) -> list[dict[str, str]]:
    return [{"Key": STACK_TAG, "Value": names.stack}]


def _secret_kms_key_arn(config: StackConfig, parameters: dict[str, Any]) -> str | None:
    """The secret's KMS key ARN in the template; an alias becomes a parameter to fill in."""
    assert config.oidc is not None
    reference = config.oidc.secret_kms_key
    if not reference:
        return None
    arn = template_key_arn(reference)
    if arn is not None:
        return arn
    parameters["SecretKmsKeyArn"] = {
        "Type": "String",
        "Description": f"ARN of the KMS key that {reference} names (aws kms describe-key "
        f"--key-id {reference}): IAM policies need the key's ARN, not an alias",
    }
    return "${SecretKmsKeyArn}"


def cloudformation_template(config: StackConfig) -> dict[str, Any]:
    """A CloudFormation template (as a dict) that creates the same stack as ``apply``."""
    names = StackNames(config.name)
    resources: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    region = config.region
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        resources["IdentityProvider"] = {
            "Type": "AWS::IAM::OIDCProvider",
            "Properties": {"Url": config.oidc.issuer,
                           "ClientIdList": [config.oidc.client_id], "Tags": _tags(names)},
        }
        trust = policies.oidc_trust_policy(
            provider_arn="${IdentityProvider.Arn}", provider_path=config.oidc.provider_path,
            client_id=config.oidc.client_id, require_email_tag=config.require_email_tag)
        parameters["IdpClientSecretArn"] = {
            "Type": "String",
            "Description": "ARN of the Secrets Manager secret holding the IdP client secret",
            **({"Default": config.oidc.secret_id}
               if config.oidc.secret_id.startswith("arn:") else {}),
        }
    else:
        assert config.saml is not None
        resources["IdentityProvider"] = {
            "Type": "AWS::IAM::SAMLProvider",
            "Properties": {"Name": names.saml_provider,
                           "SamlMetadataDocument": config.saml.metadata_document,
                           "Tags": _tags(names)},
        }
        trust = policies.saml_trust_policy(
            provider_arn="${IdentityProvider.Arn}", audiences=list(config.saml_audiences),
            require_email_tag=config.require_email_tag)
    service_role = (config.service_role_arn or
                    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/qbusiness.amazonaws.com/"
                    "AWSServiceRoleForQBusiness")
    app_props: dict[str, Any] = {
        "DisplayName": names.application,
        "Description": f"IAM-federated ({config.mode.value}) application managed by qbizfed",
        "RoleArn": service_role,
        "IdentityType": "AWS_IAM_IDP_OIDC" if config.mode is Mode.OIDC else "AWS_IAM_IDP_SAML",
        "IamIdentityProviderArn": "${IdentityProvider.Arn}",
        "Tags": _tags(names),
    }
    if config.oidc is not None:
        app_props["ClientIdsForOIDC"] = [config.oidc.client_id]
    if config.auto_subscribe is not None:
        app_props["AutoSubscriptionConfiguration"] = {
            "AutoSubscribe": "ENABLED",
            "DefaultSubscriptionType": config.auto_subscribe.value,
        }
    resources["Application"] = {"Type": "AWS::QBusiness::Application",
                                "Properties": app_props}
    resources["Index"] = {
        "Type": "AWS::QBusiness::Index",
        "Properties": {"ApplicationId": {"Fn::GetAtt": ["Application", "ApplicationId"]},
                       "DisplayName": names.index, "Type": "ENTERPRISE", "Tags": _tags(names)},
    }
    resources["Retriever"] = {
        "Type": "AWS::QBusiness::Retriever",
        "Properties": {
            "ApplicationId": {"Fn::GetAtt": ["Application", "ApplicationId"]},
            "DisplayName": names.retriever, "Type": "NATIVE_INDEX",
            "Configuration": {"NativeIndexConfiguration": {
                "IndexId": {"Fn::GetAtt": ["Index", "IndexId"]}}},
            "Tags": _tags(names),
        },
    }
    permission = policies.web_experience_permission_policy(
        application_arn=APP_ARN, region=region, kms_key_arn=config.kms_key_arn,
        q_apps=config.q_apps)
    resources["WebExperienceRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": names.web_role,
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": names.web_policy, "PolicyDocument": permission}],
            "Tags": _tags(names),
        },
    }
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        resources["SecretsRole"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": names.secrets_role,
                "AssumeRolePolicyDocument": policies.secrets_role_trust_policy(
                    account_id=ACCOUNT, application_arn=APP_ARN),
                "Policies": [{
                    "PolicyName": names.secrets_policy,
                    "PolicyDocument": policies.secrets_role_permission_policy(
                        # A template parameter reference, not a secret.
                        secret_arn="${IdpClientSecretArn}",  # noqa: S106
                        region=region,
                        kms_key_arn=_secret_kms_key_arn(config, parameters)),
                }],
                "Tags": _tags(names),
            },
        }
        idp: dict[str, Any] = {"OpenIDConnectConfiguration": {
            "SecretsArn": {"Ref": "IdpClientSecretArn"},
            "SecretsRole": {"Fn::GetAtt": ["SecretsRole", "Arn"]}}}
    else:
        assert config.saml is not None
        idp = {"SamlConfiguration": {"AuthenticationUrl": config.saml.idp_sso_url}}
    web_props: dict[str, Any] = {
        "ApplicationId": {"Fn::GetAtt": ["Application", "ApplicationId"]},
        "RoleArn": {"Fn::GetAtt": ["WebExperienceRole", "Arn"]},
        "IdentityProviderConfiguration": idp,
        "Tags": _tags(names),
    }
    if config.title:
        web_props["Title"] = config.title
    resources["WebExperience"] = {"Type": "AWS::QBusiness::WebExperience",
                                  "Properties": web_props}
    outputs: dict[str, Any] = {
        "ApplicationId": {"Value": {"Fn::GetAtt": ["Application", "ApplicationId"]}},
        "WebExperienceEndpoint": {"Value": {"Fn::GetAtt": ["WebExperience", "DefaultEndpoint"]}},
        "WebExperienceRoleArn": {"Value": {"Fn::GetAtt": ["WebExperienceRole", "Arn"]}},
        "IdentityProviderArn": {"Value": {"Fn::GetAtt": ["IdentityProvider", "Arn"]}},
    }
    if config.mode is Mode.OIDC:
        outputs["IdpSignInRedirectUri"] = {
            "Description": "Add to the IdP app integration's sign-in redirect URIs",
            "Value": {"Fn::Sub": "${WebExperience.DefaultEndpoint}authorization-code/callback"},
        }
    else:
        outputs["SamlRoleAttribute"] = {
            "Description": "Value of https://aws.amazon.com/SAML/Attributes/Role",
            "Value": {"Fn::Sub": "${WebExperienceRole.Arn},${IdentityProvider.Arn}"},
        }
        outputs["SamlAcsUrl"] = {
            "Description": "ACS URL; after deploying, add it to SAML:aud in the role's trust "
            "policy (or re-run `qbizfed admin apply`)",
            "Value": {"Fn::Sub": "${WebExperience.DefaultEndpoint}saml"},
        }
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"qbizfed stack {names.stack}: IAM-federated ({config.mode.value}) "
        "Amazon Q Business application",
    }
    if parameters:
        template["Parameters"] = parameters
    template["Resources"] = _sub(resources)
    template["Outputs"] = outputs
    return template


def cloudformation_json(config: StackConfig) -> str:
    return json.dumps(cloudformation_template(config), indent=2) + "\n"
