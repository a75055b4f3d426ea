"""CloudFormation export: the same stack as apply, and cfn-lint finds nothing."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from qbizfed.aws.provision.export.cloudformation import cloudformation_json
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.support.saml_assertions import make_idp

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:idp-AbCdEf"


def configs() -> dict[str, StackConfig]:
    return {
        "oidc": config_from_mapping({
            "name": "demo", "mode": "oidc", "region": "us-east-1",
            "oidc": {"issuer_url": "https://idp.test/oauth2/default", "client_id": "c1",
                     "secret_id": SECRET,
                     "secret_kms_key": "arn:aws:kms:us-east-1:123456789012:key/k1"}}),
        "saml": config_from_mapping({
            "name": "demo", "mode": "saml", "region": "us-west-2",
            "saml": {"metadata_document": make_idp().metadata_xml(),
                     "sso_url": "https://idp.test/sso",
                     "custom_acs_url": "https://app.example.test/saml"},
            "application": {"auto_subscribe": "Q_LITE"}}),
    }


@pytest.mark.parametrize("mode", ["oidc", "saml"])
def test_template_is_cfn_lint_clean(mode: str) -> None:
    config = configs()[mode]
    text = cloudformation_json(config)
    matches = lint(text, config=ManualArgs(regions=[config.region]))
    assert [str(m) for m in matches] == []


def test_cfn_lint_is_live() -> None:
    """The linter catches a wrong enum, so a clean result means something."""
    template = json.loads(cloudformation_json(configs()["oidc"]))
    template["Resources"]["Index"]["Properties"]["Type"] = "PREMIUM"
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
    assert matches


def test_template_matches_the_stack() -> None:
    template = json.loads(cloudformation_json(configs()["oidc"]))
    resources = template["Resources"]
    assert {r["Type"] for r in resources.values()} == {
        "AWS::IAM::OIDCProvider", "AWS::QBusiness::Application", "AWS::QBusiness::Index",
        "AWS::QBusiness::Retriever", "AWS::QBusiness::WebExperience", "AWS::IAM::Role"}
    app = resources["Application"]["Properties"]
    assert app["IdentityType"] == "AWS_IAM_IDP_OIDC"
    assert app["ClientIdsForOIDC"] == ["c1"]
    assert app["AutoSubscriptionConfiguration"] == {"AutoSubscribe": "ENABLED",
                                                    "DefaultSubscriptionType": "Q_BUSINESS"}
    trust = resources["WebExperienceRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert [s["Action"] for s in trust["Statement"]] == ["sts:AssumeRoleWithWebIdentity",
                                                         "sts:TagSession"]
    assert trust["Statement"][0]["Principal"] == {"Federated": {"Fn::Sub":
                                                                "${IdentityProvider.Arn}"}}
    assert {"Key": "qbizfed:stack", "Value": "demo"} in app["Tags"]


def test_saml_template_names_the_role_attribute() -> None:
    template = json.loads(cloudformation_json(configs()["saml"]))
    web = template["Resources"]["WebExperience"]["Properties"]
    assert web["IdentityProviderConfiguration"] == {
        "SamlConfiguration": {"AuthenticationUrl": "https://idp.test/sso"}}
    assert template["Outputs"]["SamlRoleAttribute"]["Value"] == {
        "Fn::Sub": "${WebExperienceRole.Arn},${IdentityProvider.Arn}"}
