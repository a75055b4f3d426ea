"""IAM policy documents for an IAM-federated Q Business application, as pure functions.

Each function takes identifiers and returns a JSON-ready ``dict``; nothing here calls
AWS. The same documents are applied by ``qbizfed admin apply``, compared against what
IAM holds to detect drift, and embedded in the CloudFormation export.

* :func:`oidc_trust_policy` / :func:`saml_trust_policy`: who may assume the web
  experience role. Both allow ``sts:TagSession`` (without it, STS refuses any session
  tags: "is not authorized to perform: sts:TagSession") and, by default, require the
  ``Email`` request tag on the assume statement too, so STS rejects a token or an
  assertion without an email instead of Q Business failing later.
* :func:`web_experience_permission_policy`: what a signed-in user's session may do
  (AWS's documented policy for IAM federation, scoped to one application).
* :func:`secrets_role_trust_policy` / :func:`secrets_role_permission_policy`: the role
  Q Business assumes to read the OIDC client secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PolicyDocument = dict[str, Any]

VERSION = "2012-10-17"
EMAIL_REQUEST_TAG = "aws:RequestTag/Email"
QBUSINESS_APPLICATION_PRINCIPAL = "application.qbusiness.amazonaws.com"


def _tag_session_statement(provider_arn: str) -> dict[str, Any]:
    return {
        "Sid": "AllowSessionTags",
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:TagSession",
        "Condition": {"StringLike": {EMAIL_REQUEST_TAG: "*"}},
    }


def oidc_trust_policy(
    *, provider_arn: str, provider_path: str, client_id: str, require_email_tag: bool = True
) -> PolicyDocument:
    """Trust for AssumeRoleWithWebIdentity from one OIDC provider and one client ID.

    ``provider_path`` is the issuer without ``https://`` (IAM's condition-key prefix).
    """
    condition: dict[str, Any] = {"StringEquals": {f"{provider_path}:aud": client_id}}
    if require_email_tag:
        condition["StringLike"] = {EMAIL_REQUEST_TAG: "*"}
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AllowWebIdentityFederation",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            },
            _tag_session_statement(provider_arn),
        ],
    }


def saml_trust_policy(
    *, provider_arn: str, audiences: Sequence[str], require_email_tag: bool = True
) -> PolicyDocument:
    """Trust for AssumeRoleWithSAML from one SAML provider, for the given ``SAML:aud`` URLs."""
    if not audiences:
        raise ValueError("a SAML trust policy needs at least one audience (ACS URL)")
    unique = list(dict.fromkeys(audiences))
    condition: dict[str, Any] = {
        "StringEquals": {"SAML:aud": unique[0] if len(unique) == 1 else unique}
    }
    if require_email_tag:
        condition["StringLike"] = {EMAIL_REQUEST_TAG: "*"}
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AllowSamlFederation",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": condition,
            },
            _tag_session_statement(provider_arn),
        ],
    }


CONVERSATION_ACTIONS = (
    "qbusiness:Chat",
    "qbusiness:ChatSync",
    "qbusiness:ListMessages",
    "qbusiness:ListConversations",
    "qbusiness:PutFeedback",
    "qbusiness:DeleteConversation",
    "qbusiness:GetWebExperience",
    "qbusiness:GetApplication",
    "qbusiness:ListPlugins",
    "qbusiness:GetChatControlsConfiguration",
    "qbusiness:ListRetrievers",
    # Added to AWS's documented web-experience policy later (docs/aws-facts.md, "Web
    # experience role"): recent files, deleting attachments, media.
    "qbusiness:ListAttachments",
    "qbusiness:DeleteAttachment",
    "qbusiness:GetMedia",
    # The plugin actions added at the same time (ListPluginActions on a plugin,
    # ListPluginTypeMetadata and ListPluginTypeActions on "*") are left out: qbizfed
    # uses no plugins and keeps the policy scoped to the application.
    # What qbizfed's own interfaces call besides: search passages (mcp); opening a
    # cited source (GetDocumentContent) has its own statement: it is authorized on the
    # document's index as well.
    "qbusiness:SearchRelevantContent",
)

Q_APPS_APPLICATION_ACTIONS = (
    "qapps:CreateQApp",
    "qapps:PredictQApp",
    "qapps:PredictProblemStatementFromConversation",
    "qapps:PredictQAppFromProblemStatement",
    "qapps:ListQApps",
    "qapps:ListLibraryItems",
    "qapps:CreateSubscriptionToken",
    "qapps:ListCategories",
)

Q_APPS_OWNER_ACTIONS = (
    "qapps:UpdateQApp",
    "qapps:DeleteQApp",
    "qapps:CopyQApp",
    "qapps:ImportDocument",
    "qapps:CreateLibraryItem",
    "qapps:UpdateLibraryItem",
    "qapps:StartQAppSession",
    "qapps:DescribeQAppPermissions",
    "qapps:UpdateQAppPermissions",
)

Q_APPS_VISIBLE_ACTIONS = (
    "qapps:GetQApp",
    "qapps:CopyQApp",
    "qapps:AssociateQAppWithUser",
    "qapps:GetLibraryItem",
    "qapps:CreateLibraryItemReview",
    "qapps:AssociateLibraryItemReview",
    "qapps:DisassociateLibraryItemReview",
    "qapps:StartQAppSession",
    "qapps:DescribeQAppPermissions",
)


def application_arn(*, region: str, account_id: str, application_id: str) -> str:
    return f"arn:aws:qbusiness:{region}:{account_id}:application/{application_id}"


def web_experience_permission_policy(
    *,
    application_arn: str,
    region: str,
    kms_key_arn: str | None = None,
    q_apps: bool = True,
) -> PolicyDocument:
    """AWS's permission policy for a web experience with IAM federation, for one application.

    ``application_arn`` is ``arn:aws:qbusiness:<region>:<account>:application/<id>``.
    """
    qapps_arn = application_arn.replace(":qbusiness:", ":qapps:", 1)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "QBusinessConversationPermission",
            "Effect": "Allow",
            "Action": list(CONVERSATION_ACTIONS),
            # GetWebExperience is authorised on the web experience's own ARN.
            "Resource": [application_arn, f"{application_arn}/web-experience/*"],
        },
        {
            "Sid": "QBusinessRetrieverPermission",
            "Effect": "Allow",
            "Action": ["qbusiness:GetRetriever"],
            "Resource": [application_arn, f"{application_arn}/retriever/*"],
        },
        {
            "Sid": "QBusinessAutoSubscriptionPermission",
            "Effect": "Allow",
            "Action": ["user-subscriptions:CreateClaim"],
            "Resource": ["*"],
            "Condition": {
                "Bool": {"user-subscriptions:CreateForSelf": "true"},
                "StringEquals": {"aws:CalledViaLast": "qbusiness.amazonaws.com"},
            },
        },
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "QBusinessKMSDecryptPermissions",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [kms_key_arn],
                "Condition": {
                    "StringLike": {
                        "kms:ViaService": [
                            f"qbusiness.{region}.amazonaws.com",
                            f"qapps.{region}.amazonaws.com",
                        ]
                    }
                },
            }
        )
    if q_apps:
        statements += [
            {
                "Sid": "QAppsResourceAgnosticPermissions",
                "Effect": "Allow",
                "Action": list(Q_APPS_APPLICATION_ACTIONS),
                "Resource": application_arn,
            },
            {
                "Sid": "QAppsAppUniversalPermissions",
                "Effect": "Allow",
                "Action": ["qapps:DisassociateQAppFromUser"],
                "Resource": f"{qapps_arn}/qapp/*",
            },
            {
                "Sid": "QAppsAppOwnerPermissions",
                "Effect": "Allow",
                "Action": list(Q_APPS_OWNER_ACTIONS),
                "Resource": f"{qapps_arn}/qapp/*",
                "Condition": {"StringEqualsIgnoreCase": {"qapps:UserIsAppOwner": "true"}},
            },
            {
                "Sid": "QAppsPublishedAppPermissions",
                "Effect": "Allow",
                "Action": list(Q_APPS_VISIBLE_ACTIONS),
                "Resource": f"{qapps_arn}/qapp/*",
                "Condition": {"StringEqualsIgnoreCase": {"qapps:AppIsPublished": "true"}},
            },
            {
                "Sid": "QAppsAppSessionModeratorPermissions",
                "Effect": "Allow",
                "Action": [
                    "qapps:ImportDocument",
                    "qapps:GetQAppSession",
                    "qapps:GetQAppSessionMetadata",
                    "qapps:UpdateQAppSession",
                    "qapps:UpdateQAppSessionMetadata",
                    "qapps:StopQAppSession",
                    "qapps:ListQAppSessionData",
                    "qapps:ExportQAppSessionData",
                ],
                "Resource": f"{qapps_arn}/qapp/*/session/*",
                "Condition": {"StringEqualsIgnoreCase": {"qapps:UserIsSessionModerator": "true"}},
            },
            {
                "Sid": "QAppsSharedAppSessionPermissions",
                "Effect": "Allow",
                "Action": [
                    "qapps:ImportDocument",
                    "qapps:GetQAppSession",
                    "qapps:GetQAppSessionMetadata",
                    "qapps:UpdateQAppSession",
                    "qapps:ListQAppSessionData",
                ],
                "Resource": f"{qapps_arn}/qapp/*/session/*",
                "Condition": {"StringEqualsIgnoreCase": {"qapps:SessionIsShared": "true"}},
            },
        ]
    statements.append(
        {
            # Opening a cited source (chat, serve) is authorized on the document's
            # index as well as on the application.
            "Sid": "QBusinessDocumentContentPermission",
            "Effect": "Allow",
            "Action": ["qbusiness:GetDocumentContent"],
            "Resource": [application_arn, f"{application_arn}/index/*"],
        }
    )
    return {"Version": VERSION, "Statement": statements}


def secrets_role_trust_policy(
    *, account_id: str, application_arn: str
) -> PolicyDocument:
    """Trust for Q Business (this application only) to assume the secret-reading role."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "QBusinessApplicationTrustPolicy",
                "Effect": "Allow",
                "Principal": {"Service": QBUSINESS_APPLICATION_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {"aws:SourceArn": application_arn},
                },
            }
        ],
    }


def secrets_role_permission_policy(
    *, secret_arn: str, region: str, kms_key_arn: str | None = None
) -> PolicyDocument:
    """Read the one secret holding the IdP client secret (and decrypt it via Secrets Manager)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AllowGetSecretValue",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [secret_arn],
        }
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "AllowKmsDecryptViaSecretsManager",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [kms_key_arn],
                "Condition": {
                    "StringLike": {"kms:ViaService": [f"secretsmanager.{region}.amazonaws.com"]}
                },
            }
        )
    return {"Version": VERSION, "Statement": statements}


def _normalise(value: Any) -> Any:
    """Make two policies comparable: IAM may turn 1-element lists into strings, reorder keys."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_normalise(v) for v in value]
        if len(items) == 1 and not isinstance(items[0], dict | list):
            return items[0]
        if all(isinstance(i, str) for i in items):
            return sorted(items)
        return items
    return value


def policies_equal(left: PolicyDocument, right: PolicyDocument) -> bool:
    """True when two policy documents grant the same thing, ignoring IAM's reformatting."""
    return bool(_normalise(left) == _normalise(right))
