"""A ready Q Business application on the local stack, and a user's client for it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import boto3

from qbizfed.local.stack import LocalAws
from tests.conftest import ACCOUNT_ID, FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.support.chat_permissions import chat_role


def admin_qbusiness(stack: LocalAws) -> Any:
    return boto3.client(
        "qbusiness", endpoint_url=stack.url, region_name=REGION,
        aws_access_key_id=FAKE_ADMIN_KEY, aws_secret_access_key=FAKE_ADMIN_SECRET,
    )  # fmt: skip


def _wait_active(get: Any) -> None:
    deadline = time.monotonic() + 10
    while get()["status"] != "ACTIVE":
        assert time.monotonic() < deadline, "resource never became ACTIVE"
        time.sleep(0.05)


def subscribed_application(
    qb: Any, provider_arn: str, *, name_prefix: str = "t", subscription_type: str = "Q_LITE"
) -> str:
    """An ACTIVE, auto-subscribing SAML-federated application (no index), made with an
    admin ``qbusiness`` client: what a broker test needs to chat as a signed-in user."""
    app = str(
        qb.create_application(
            displayName=name_prefix + uuid.uuid4().hex[:8],
            identityType="AWS_IAM_IDP_SAML",
            iamIdentityProviderArn=provider_arn,
        )["applicationId"]
    )
    _wait_active(lambda: qb.get_application(applicationId=app))
    subscription = {"autoSubscribe": "ENABLED", "defaultSubscriptionType": subscription_type}
    qb.update_application(applicationId=app, autoSubscriptionConfiguration=subscription)
    return app


def ready_application(stack: LocalAws, documents: Iterable[Mapping[str, str]]) -> str:
    """An ACTIVE, auto-subscribing application with an index holding ``documents``
    (each ``{"id", "title", "text"}`` and optional ``"allow_user"``)."""
    qb = admin_qbusiness(stack)
    app = qb.create_application(
        displayName="t" + uuid.uuid4().hex[:8], identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn=f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/idp.example.test",
        clientIdsForOIDC=["client"],
    )["applicationId"]  # fmt: skip
    _wait_active(lambda: qb.get_application(applicationId=app))
    subscription = {"autoSubscribe": "ENABLED", "defaultSubscriptionType": "Q_BUSINESS"}
    qb.update_application(applicationId=app, autoSubscriptionConfiguration=subscription)
    index = qb.create_index(applicationId=app, displayName="docs")["indexId"]
    _wait_active(lambda: qb.get_index(applicationId=app, indexId=index))
    qb.create_retriever(
        applicationId=app, type="NATIVE_INDEX", displayName="docs",
        configuration={"nativeIndexConfiguration": {"indexId": index}},
    )  # fmt: skip
    batch = []
    for doc in documents:
        entry: dict[str, Any] = {
            "id": doc["id"], "title": doc["title"], "contentType": "PLAIN_TEXT",
            "content": {"blob": doc["text"].encode()},
        }  # fmt: skip
        if "allow_user" in doc:
            entry["accessConfiguration"] = {"accessControls": [{"principals": [
                {"user": {"id": doc["allow_user"], "access": "ALLOW", "membershipType": "INDEX"}}
            ]}]}  # fmt: skip
        batch.append(entry)
    result = qb.batch_put_document(applicationId=app, indexId=index, documents=batch)
    assert not result.get("failedDocuments"), result["failedDocuments"]
    return str(app)


def user_qbusiness(stack: LocalAws, email: str, **client_kwargs: Any) -> Any:
    """A qbusiness client with federated credentials carrying ``email`` as the Email tag."""
    session = stack.registry.issue(
        account_id=ACCOUNT_ID, role_arn=chat_role(stack),
        role_id="AROATESTROLE", session_name=email, duration_seconds=3600,
        tags={"Email": email},
    )  # fmt: skip
    return boto3.client(
        "qbusiness", endpoint_url=stack.url, region_name=REGION,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token, **client_kwargs,
    )  # fmt: skip
