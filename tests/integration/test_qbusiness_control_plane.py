"""Q Business control plane through boto3 against the running local endpoint."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET
from tests.support.chat_permissions import chat_role

ACCOUNT = "123456789012"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com"
SAML_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"
ARN_RE = r"arn:aws:qbusiness:us-east-1:123456789012:application/[0-9a-f-]{36}"


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _admin(local_aws: LocalAws, **kw: Any) -> Any:
    return boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=local_aws.url, **kw)


@pytest.fixture(scope="module")
def qb(local_aws: LocalAws) -> Any:
    return _admin(local_aws)


@pytest.fixture(scope="module")
def raw_qb(local_aws: LocalAws) -> Any:
    """A client that skips botocore's own checks, so the server's validation answers."""
    return _admin(local_aws, config=Config(parameter_validation=False))


def wait_for(
    get: Callable[[], dict[str, Any]], status: str, timeout: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = get()
        if found["status"] == status or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def new_app(qb: Any, name: str, **kw: Any) -> str:
    kw.setdefault("identityType", "AWS_IAM_IDP_OIDC")
    kw.setdefault("iamIdentityProviderArn", OIDC_ARN)
    if kw["identityType"] == "AWS_IAM_IDP_OIDC":
        kw.setdefault("clientIdsForOIDC", ["client-1"])
    return str(qb.create_application(displayName=name, **kw)["applicationId"])


def active_app(qb: Any, name: str, **kw: Any) -> str:
    app = new_app(qb, name, **kw)
    wait_for(lambda: qb.get_application(applicationId=app), "ACTIVE")
    return app


def test_application_is_creating_then_active_and_keeps_identity(qb: Any, unique_name: str) -> None:
    created = qb.create_application(
        displayName=unique_name,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/qbusiness.amazonaws.com/x",
        identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn=OIDC_ARN,
        clientIdsForOIDC=["client-1"],
        description="federated",
    )
    app = created["applicationId"]
    assert re.fullmatch(ARN_RE, created["applicationArn"])
    assert created["applicationArn"].endswith(app)
    assert qb.get_application(applicationId=app)["status"] == "CREATING"
    got = wait_for(lambda: qb.get_application(applicationId=app), "ACTIVE")
    assert got["status"] == "ACTIVE"
    assert got["identityType"] == "AWS_IAM_IDP_OIDC"
    assert got["iamIdentityProviderArn"] == OIDC_ARN
    assert got["clientIdsForOIDC"] == ["client-1"]
    assert got["displayName"] == unique_name
    assert got["createdAt"].tzinfo is not None
    listed = [a for a in qb.list_applications()["applications"] if a["applicationId"] == app]
    assert listed
    assert listed[0]["identityType"] == "AWS_IAM_IDP_OIDC"


@pytest.mark.parametrize(
    ("identity_type", "provider", "extra"),
    [
        ("AWS_IAM_IDP_OIDC", SAML_ARN, {}),
        ("AWS_IAM_IDP_SAML", OIDC_ARN, {}),
        ("AWS_IAM_IDP_SAML", None, {}),
        ("AWS_IAM_IDP_SAML", SAML_ARN, {"clientIdsForOIDC": ["x"]}),
        ("AWS_IAM_IDP_OIDC", "arn:aws:iam::12:oidc-provider/short-account", {}),
    ],
    ids=["oidc_with_saml_arn", "saml_with_oidc_arn", "saml_without_arn", "saml_with_client_ids",
         "bad_account_in_arn"],
)  # fmt: skip
def test_identity_configuration_checked(
    qb: Any, unique_name: str, identity_type: str, provider: str | None, extra: dict[str, Any]
) -> None:
    kw: dict[str, Any] = {"identityType": identity_type, **extra}
    if provider:
        kw["iamIdentityProviderArn"] = provider
    with pytest.raises(ClientError) as refused:
        qb.create_application(displayName=unique_name, **kw)
    assert error_code(refused) == "ValidationException"


def test_auto_subscription_only_after_creating(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name, identityType="AWS_IAM_IDP_SAML", iamIdentityProviderArn=SAML_ARN)
    config = {"autoSubscribe": "ENABLED", "defaultSubscriptionType": "Q_BUSINESS"}
    with pytest.raises(ClientError) as refused:
        qb.update_application(applicationId=app, autoSubscriptionConfiguration=config)
    assert error_code(refused) == "ConflictException"
    wait_for(lambda: qb.get_application(applicationId=app), "ACTIVE")
    qb.update_application(applicationId=app, autoSubscriptionConfiguration=config)
    assert qb.get_application(applicationId=app)["autoSubscriptionConfiguration"] == config


def test_index_lifecycle(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    created = qb.create_index(applicationId=app, displayName="docs", type="ENTERPRISE")
    index = created["indexId"]
    assert created["indexArn"].endswith(f"application/{app}/index/{index}")
    got = wait_for(lambda: qb.get_index(applicationId=app, indexId=index), "ACTIVE")
    assert got["type"] == "ENTERPRISE"
    assert got["indexStatistics"]["textDocumentStatistics"]["indexedTextDocumentCount"] == 0
    qb.update_index(applicationId=app, indexId=index, displayName="docs2")
    assert qb.get_index(applicationId=app, indexId=index)["status"] == "UPDATING"
    got = wait_for(lambda: qb.get_index(applicationId=app, indexId=index), "ACTIVE")
    assert got["displayName"] == "docs2"
    assert [i["indexId"] for i in qb.list_indices(applicationId=app)["indices"]] == [index]
    qb.delete_index(applicationId=app, indexId=index)
    with pytest.raises(ClientError) as gone:
        qb.get_index(applicationId=app, indexId=index)
    assert error_code(gone) == "ResourceNotFoundException"


def test_retriever_needs_its_index_and_protects_it(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as no_index:
        qb.create_retriever(
            applicationId=app, type="NATIVE_INDEX", displayName="r",
            configuration={"nativeIndexConfiguration": {"indexId": missing}},
        )  # fmt: skip
    assert error_code(no_index) == "ResourceNotFoundException"
    index = qb.create_index(applicationId=app, displayName="docs")["indexId"]
    retriever = qb.create_retriever(
        applicationId=app, type="NATIVE_INDEX", displayName="r",
        configuration={"nativeIndexConfiguration": {"indexId": index}},
    )["retrieverId"]  # fmt: skip
    got = wait_for(lambda: qb.get_retriever(applicationId=app, retrieverId=retriever), "ACTIVE")
    assert got["configuration"]["nativeIndexConfiguration"]["indexId"] == index
    assert qb.list_retrievers(applicationId=app)["retrievers"][0]["type"] == "NATIVE_INDEX"
    with pytest.raises(ClientError) as in_use:
        qb.delete_index(applicationId=app, indexId=index)
    assert error_code(in_use) == "ConflictException"
    qb.delete_retriever(applicationId=app, retrieverId=retriever)
    qb.delete_index(applicationId=app, indexId=index)


def test_web_experience_endpoint_and_auth_status(qb: Any, unique_name: str) -> None:
    app = active_app(qb, unique_name)
    pending = qb.create_web_experience(applicationId=app, title="Chat")["webExperienceId"]
    got = wait_for(
        lambda: qb.get_web_experience(applicationId=app, webExperienceId=pending),
        "PENDING_AUTH_CONFIG",
    )
    assert got["status"] == "PENDING_AUTH_CONFIG"
    assert re.fullmatch(
        r"https://[a-z0-9]+\.chat\.qbusiness\.us-east-1\.on\.aws/", got["defaultEndpoint"]
    )
    qb.update_web_experience(
        applicationId=app,
        webExperienceId=pending,
        identityProviderConfiguration={
            "samlConfiguration": {"authenticationUrl": "https://idp.example.com/sso"}
        },
    )
    assert qb.get_web_experience(applicationId=app, webExperienceId=pending)["status"] == "ACTIVE"
    listed = qb.list_web_experiences(applicationId=app)["webExperiences"]
    assert [w["webExperienceId"] for w in listed] == [pending]
    with pytest.raises(ClientError) as plain_http:
        qb.create_web_experience(
            applicationId=app,
            identityProviderConfiguration={
                "samlConfiguration": {"authenticationUrl": "http://idp.example.com/sso"}
            },
        )
    assert error_code(plain_http) == "ValidationException"
    qb.delete_web_experience(applicationId=app, webExperienceId=pending)
    with pytest.raises(ClientError) as gone:
        qb.get_web_experience(applicationId=app, webExperienceId=pending)
    assert error_code(gone) == "ResourceNotFoundException"


def test_tags_on_application_and_index(qb: Any, unique_name: str) -> None:
    created = qb.create_application(
        displayName=unique_name,
        identityType="AWS_IAM_IDP_SAML",
        iamIdentityProviderArn=SAML_ARN,
        tags=[{"key": "team", "value": "search"}],
    )
    app_arn = created["applicationArn"]
    assert qb.list_tags_for_resource(resourceARN=app_arn)["tags"] == [
        {"key": "team", "value": "search"}
    ]
    qb.tag_resource(resourceARN=app_arn, tags=[{"key": "env", "value": "dev"}])
    qb.untag_resource(resourceARN=app_arn, tagKeys=["team"])
    assert qb.list_tags_for_resource(resourceARN=app_arn)["tags"] == [
        {"key": "env", "value": "dev"}
    ]
    index_arn = qb.create_index(
        applicationId=created["applicationId"], displayName="i", tags=[{"key": "k", "value": "v"}]
    )["indexArn"]
    assert qb.list_tags_for_resource(resourceARN=index_arn)["tags"] == [{"key": "k", "value": "v"}]
    with pytest.raises(ClientError) as unknown:
        qb.list_tags_for_resource(resourceARN=app_arn.replace(created["applicationId"], "0" * 36))
    assert error_code(unknown) == "ResourceNotFoundException"


def test_client_token_replays_and_conflicts(qb: Any, unique_name: str) -> None:
    token = str(uuid.uuid4())
    kw = {"identityType": "AWS_IAM_IDP_SAML", "iamIdentityProviderArn": SAML_ARN}
    first = qb.create_application(displayName=unique_name, clientToken=token, **kw)
    again = qb.create_application(displayName=unique_name, clientToken=token, **kw)
    assert again["applicationId"] == first["applicationId"]
    with pytest.raises(ClientError) as conflict:
        qb.create_application(displayName=unique_name + "x", clientToken=token, **kw)
    assert error_code(conflict) == "ConflictException"
    other = qb.create_application(displayName=unique_name, clientToken=str(uuid.uuid4()), **kw)
    assert other["applicationId"] != first["applicationId"]


def test_not_found_names_the_resource(qb: Any) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as refused:
        qb.get_application(applicationId=missing)
    assert error_code(refused) == "ResourceNotFoundException"
    assert refused.value.response["resourceId"] == missing
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_pagination_with_next_token(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    made = [qb.create_index(applicationId=app, displayName=f"i{n}")["indexId"] for n in range(5)]
    first = qb.list_indices(applicationId=app, maxResults=2)
    assert len(first["indices"]) == 2
    assert first["nextToken"]
    seen = [
        i["indexId"]
        for page in qb.get_paginator("list_indices").paginate(
            applicationId=app, PaginationConfig={"PageSize": 2}
        )
        for i in page["indices"]
    ]
    assert seen == made
    with pytest.raises(ClientError) as bad_token:
        qb.list_indices(applicationId=app, nextToken="not-a-token")
    assert error_code(bad_token) == "ValidationException"


VALIDATION_CASES = [
    ("missing_required_member", "create_application", {}, "displayName"),
    ("enum_violation", "create_application",
     {"displayName": "ok", "identityType": "AWS_IAM_IDP_LDAP"}, "identityType"),
    ("pattern_violation", "create_application", {"displayName": "has spaces!"}, "displayName"),
    ("too_long", "create_application", {"displayName": "a" * 1001}, "displayName"),
    ("range_violation", "list_applications", {"maxResults": 0}, "maxResults"),
    ("wrong_type", "create_application", {"displayName": 42}, "displayName"),
    ("bad_id_length", "get_application", {"applicationId": "short"}, "applicationId"),
    ("union_without_member", "create_retriever",
     {"applicationId": "a" * 36, "type": "NATIVE_INDEX", "displayName": "r",
      "configuration": {"nativeIndexConfiguration": {}}},
     "configuration.nativeIndexConfiguration.indexId"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [(m, p, f) for _, m, p, f in VALIDATION_CASES],
    ids=[name for name, *_ in VALIDATION_CASES],
)
def test_server_validation_names_the_field(
    raw_qb: Any, method: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as refused:
        getattr(raw_qb, method)(**params)
    assert error_code(refused) == "ValidationException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"'{field}'" in refused.value.response["Error"]["Message"]
    assert field in [f["name"] for f in refused.value.response.get("fields", [])]


def test_unimplemented_operation_says_so(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    with pytest.raises(ClientError) as refused:
        qb.list_plugins(applicationId=app)
    assert error_code(refused) == "NotImplementedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert refused.value.response["Error"]["Message"] == (
        "ListPlugins is not implemented by qbizfed local"
    )


def test_federated_user_cannot_administer(local_aws: LocalAws, qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    s = local_aws.registry.issue(
        account_id=ACCOUNT, role_arn=chat_role(local_aws), role_id="AROAW",
        session_name="alice", duration_seconds=900, tags={"Email": "alice@example.com"},
        federated_by=OIDC_ARN,
    )  # fmt: skip
    user = boto3.session.Session(
        aws_access_key_id=s.access_key_id,
        aws_secret_access_key=s.secret_access_key,
        aws_session_token=s.session_token,
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=local_aws.url)
    assert user.get_application(applicationId=app)["applicationId"] == app
    with pytest.raises(ClientError) as refused:
        user.create_index(applicationId=app, displayName="x")
    assert error_code(refused) == "AccessDeniedException"
    assert "qbusiness:CreateIndex" in refused.value.response["Error"]["Message"]


def test_deleting_an_application_deletes_its_children(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    index = qb.create_index(applicationId=app, displayName="i")["indexId"]
    qb.delete_application(applicationId=app)
    calls: tuple[Callable[[], Any], ...] = (
        lambda: qb.get_application(applicationId=app),
        lambda: qb.get_index(applicationId=app, indexId=index),
    )
    for call in calls:
        with pytest.raises(ClientError) as gone:
            call()
        assert error_code(gone) == "ResourceNotFoundException"


def test_subscriptions_lifecycle(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    user = str(uuid.uuid4())
    created = qb.create_subscription(applicationId=app, principal={"user": user}, type="Q_LITE")
    assert created["currentSubscription"] == {"type": "Q_LITE"}
    assert created["subscriptionArn"].endswith(f"/subscription/{created['subscriptionId']}")
    with pytest.raises(ClientError) as duplicate:
        qb.create_subscription(applicationId=app, principal={"user": user}, type="Q_LITE")
    assert error_code(duplicate) == "ConflictException"
    upgraded = qb.update_subscription(
        applicationId=app, subscriptionId=created["subscriptionId"], type="Q_BUSINESS"
    )
    assert upgraded["currentSubscription"] == {"type": "Q_BUSINESS"}
    cancelled = qb.cancel_subscription(applicationId=app, subscriptionId=created["subscriptionId"])
    assert "nextSubscription" not in cancelled
    listed = qb.list_subscriptions(applicationId=app)["subscriptions"]
    assert [s["principal"] for s in listed] == [{"user": user}]


def test_plain_assume_role_credentials_work_for_admin_calls(
    local_aws: LocalAws, admin_client: Callable[..., Any], unique_name: str
) -> None:
    iam = admin_client("iam")
    role = iam.create_role(
        RoleName=unique_name,
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}',
    )["Role"]
    creds = admin_client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="admin")[
        "Credentials"
    ]
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    client = session.client("qbusiness", endpoint_url=local_aws.url)
    assert "applications" in client.list_applications()
    forged = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key="x" * 40,
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=local_aws.url)
    with pytest.raises(ClientError) as refused:
        forged.list_applications()
    assert error_code(refused) == "InvalidSignatureException"


def test_concurrent_retries_with_one_client_token_create_one_application(
    local_aws: LocalAws, unique_name: str
) -> None:
    token = str(uuid.uuid4())
    client = _admin(local_aws)  # boto3 clients are thread-safe; calls still overlap

    def create(_: int) -> str:
        return str(
            client.create_application(
                displayName=unique_name,
                identityType="AWS_IAM_IDP_SAML",
                iamIdentityProviderArn=SAML_ARN,
                clientToken=token,
            )["applicationId"]
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(create, range(6)))
    assert len(ids) == 1
    mine = [
        a for a in client.list_applications()["applications"] if a["displayName"] == unique_name
    ]
    assert len(mine) == 1


def test_chat_controls_round_trip(qb: Any, unique_name: str) -> None:
    app = new_app(qb, unique_name)
    defaults = qb.get_chat_controls_configuration(applicationId=app)
    assert defaults["responseScope"] == "ENTERPRISE_CONTENT_ONLY"
    assert defaults["creatorModeConfiguration"] == {"creatorModeControl": "DISABLED"}
    qb.update_chat_controls_configuration(
        applicationId=app,
        responseScope="EXTENDED_KNOWLEDGE_ENABLED",
        blockedPhrasesConfigurationUpdate={
            "blockedPhrasesToCreateOrUpdate": ["project zeus", "salary"],
            "systemMessageOverride": "I cannot talk about that.",
        },
        topicConfigurationsToCreateOrUpdate=[
            {"name": "legal", "rules": [{"ruleType": "CONTENT_BLOCKER_RULE"}]}
        ],
    )
    qb.update_chat_controls_configuration(
        applicationId=app,
        blockedPhrasesConfigurationUpdate={"blockedPhrasesToDelete": ["salary"]},
    )
    got = qb.get_chat_controls_configuration(applicationId=app)
    assert got["responseScope"] == "EXTENDED_KNOWLEDGE_ENABLED"
    assert got["blockedPhrases"] == {
        "blockedPhrases": ["project zeus"],
        "systemMessageOverride": "I cannot talk about that.",
    }
    assert [t["name"] for t in got["topicConfigurations"]] == ["legal"]
