"""Policy documents: shapes AWS documents, and parliament finds nothing unexpected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from qbizfed import policies

ACCOUNT = "123456789012"
REGION = "us-east-1"
APP_ARN = policies.application_arn(region=REGION, account_id=ACCOUNT,
                                   application_id="a1b2c3d4-0000-4000-8000-000000000000")
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.test/oauth2/default"
SAML_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/qbizfed-demo"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:idp-client-secret-AbCdEf"

# Findings parliament 1.6.4 reports on documents that follow AWS's documentation,
# each with why it is a false positive (its IAM database predates these keys, and it
# lints identity policies, so trust policies have no Resource by design).
KNOWN_FALSE_POSITIVES: dict[str, str] = {
    "UNKNOWN_CONDITION_FOR_ACTION": "user-subscriptions:CreateForSelf and qapps session keys "
    "are documented by AWS but missing from parliament's database",
    "UNKNOWN_FEDERATION_SOURCE": "parliament knows only Cognito/Google/Amazon/Facebook",
}
TRUST_ONLY = {"MALFORMED": "trust policies have no Resource element"}
# Actions newer than parliament's database (the operation is in botocore's qbusiness
# model; each Q Business operation is authorized by the action of the same name).
NEWER_ACTIONS = {"Unknown action qbusiness:GetDocumentContent"}


def findings(document: dict[str, Any], *, trust: bool = False) -> list[tuple[str, Any]]:
    allowed = dict(KNOWN_FALSE_POSITIVES)
    if trust:
        allowed.update(TRUST_ONLY)
    result = analyze_policy_string(json.dumps(document))
    return [
        (f.issue, f.detail)
        for f in result.findings
        if f.issue not in allowed
        and not (f.issue == "UNKNOWN_ACTION" and str(f.detail) in NEWER_ACTIONS)
    ]


@pytest.mark.parametrize("kms", [None, KMS], ids=["aws-managed-key", "customer-key"])
@pytest.mark.parametrize("q_apps", [True, False], ids=["q-apps", "no-q-apps"])
def test_web_experience_permission_policy_is_clean(kms: str | None, q_apps: bool) -> None:
    doc = policies.web_experience_permission_policy(
        application_arn=APP_ARN, region=REGION, kms_key_arn=kms, q_apps=q_apps)
    assert findings(doc) == []
    sids = [s["Sid"] for s in doc["Statement"]]
    assert ("QBusinessKMSDecryptPermissions" in sids) is (kms is not None)
    assert any(s.startswith("QApps") for s in sids) is q_apps


def test_web_experience_policy_grants_the_documented_conversation_actions() -> None:
    doc = policies.web_experience_permission_policy(application_arn=APP_ARN, region=REGION)
    statement = doc["Statement"][0]
    assert set(statement["Action"]) >= {"qbusiness:ChatSync", "qbusiness:ListConversations",
                                        "qbusiness:PutFeedback", "qbusiness:DeleteConversation"}
    assert APP_ARN in statement["Resource"]
    claim = next(s for s in doc["Statement"] if s["Sid"] == "QBusinessAutoSubscriptionPermission")
    assert claim["Condition"]["Bool"] == {"user-subscriptions:CreateForSelf": "true"}
    assert claim["Condition"]["StringEquals"] == {"aws:CalledViaLast": "qbusiness.amazonaws.com"}


def test_permission_policy_is_scoped_to_one_application() -> None:
    doc = policies.web_experience_permission_policy(application_arn=APP_ARN, region=REGION)
    for statement in doc["Statement"]:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        if statement["Action"] == ["user-subscriptions:CreateClaim"]:
            continue  # AWS documents Resource "*" with CreateForSelf + CalledViaLast
        assert all("a1b2c3d4" in r for r in resources), statement["Sid"]


@pytest.mark.parametrize("require_email", [True, False], ids=["email-required", "email-optional"])
def test_oidc_trust_policy(require_email: bool) -> None:
    doc = policies.oidc_trust_policy(provider_arn=OIDC_ARN,
                                     provider_path="idp.example.test/oauth2/default",
                                     client_id="client-1", require_email_tag=require_email)
    assert findings(doc, trust=True) == []
    assume, tag = doc["Statement"]
    assert assume["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert assume["Principal"] == {"Federated": OIDC_ARN}
    assert assume["Condition"]["StringEquals"] == {"idp.example.test/oauth2/default:aud":
                                                   "client-1"}
    assert ("StringLike" in assume["Condition"]) is require_email
    assert tag["Action"] == "sts:TagSession"
    assert tag["Condition"] == {"StringLike": {"aws:RequestTag/Email": "*"}}


def test_saml_trust_policy_lists_every_audience_once() -> None:
    doc = policies.saml_trust_policy(
        provider_arn=SAML_ARN,
        audiences=["https://x.chat.qbusiness.us-east-1.on.aws/saml",
                   "https://us-east-1.signin.aws.amazon.com/saml",
                   "https://us-east-1.signin.aws.amazon.com/saml"])
    assert findings(doc, trust=True) == []
    assume, tag = doc["Statement"]
    assert assume["Action"] == "sts:AssumeRoleWithSAML"
    assert assume["Condition"]["StringEquals"]["SAML:aud"] == [
        "https://x.chat.qbusiness.us-east-1.on.aws/saml",
        "https://us-east-1.signin.aws.amazon.com/saml"]
    assert assume["Condition"]["StringLike"] == {"aws:RequestTag/Email": "*"}
    assert tag["Action"] == "sts:TagSession"


def test_saml_trust_policy_needs_an_audience() -> None:
    with pytest.raises(ValueError, match="audience"):
        policies.saml_trust_policy(provider_arn=SAML_ARN, audiences=[])


@pytest.mark.parametrize("kms", [None, KMS], ids=["aws-managed-key", "customer-key"])
def test_secrets_role_policies(kms: str | None) -> None:
    trust = policies.secrets_role_trust_policy(account_id=ACCOUNT, application_arn=APP_ARN)
    assert findings(trust, trust=True) == []
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"Service": "application.qbusiness.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert statement["Condition"]["ArnEquals"] == {"aws:SourceArn": APP_ARN}
    permission = policies.secrets_role_permission_policy(secret_arn=SECRET, region=REGION,
                                                         kms_key_arn=kms)
    assert findings(permission) == []
    actions = [a for s in permission["Statement"] for a in s["Action"]]
    assert actions == (["secretsmanager:GetSecretValue"] +
                       (["kms:Decrypt"] if kms else []))


def test_parliament_does_flag_a_bad_policy() -> None:
    """The checker is live: a wildcard-resource typo'd action is reported."""
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "qbusiness:ChatSyncc", "Resource": "*"}]}
    assert findings(bad) != []


def test_policies_equal_ignores_iam_reformatting() -> None:
    doc = policies.web_experience_permission_policy(application_arn=APP_ARN, region=REGION)
    reformatted = json.loads(json.dumps(doc))
    reformatted["Statement"][2]["Resource"] = "*"  # IAM may collapse ["*"] to "*"
    reformatted["Statement"][0]["Action"] = list(reversed(reformatted["Statement"][0]["Action"]))
    assert policies.policies_equal(doc, reformatted)
    reformatted["Statement"][0]["Action"].pop()
    assert not policies.policies_equal(doc, reformatted)
