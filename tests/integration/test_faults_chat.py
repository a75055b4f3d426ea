"""Q Business faults in the middle of a conversation, through the chat library.

A real conversation runs against ``qbizfed local aws`` (``fresh_local_aws``: faults are
per stack) with identity-aware credentials from the local session registry. Faults
come from the control endpoint (``POST /_qbizfed/faults``) as a user's network would
see them. What must hold: a throttled or failed turn is retried by botocore with
backoff; when retries run out the user gets a clear ``ChatError`` carrying the unsent
message, the conversation is unchanged, and sending the same message again continues
the very same conversation. Expired credentials mid-chat are reported as such, and a
new sign-in picks the conversation up again.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from qbizfed.aws.chat import ChatClient, ChatError
from qbizfed.local.sessions import IssuedSession
from qbizfed.local.stack import LocalAws
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET
from tests.support.chat_permissions import chat_role

ACCOUNT = "123456789012"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com"
EMAIL = "alice@example.com"
MIN_SESSION_SECONDS = 900  # AWS's minimum DurationSeconds
# Three attempts in all keep a fully failing turn near a second; the product's own
# client (ChatClient.from_session) uses adaptive mode with six retries.
FEW_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3})


def set_faults(stack: LocalAws, *rules: dict[str, Any]) -> None:
    response = httpx.post(f"{stack.url}/_qbizfed/faults", json={"rules": list(rules)})
    assert response.status_code == 200, response.text


def remaining_hits(stack: LocalAws) -> list[int | None]:
    rules = httpx.get(f"{stack.url}/_qbizfed/faults").json()["rules"]
    return [rule["count"] for rule in rules]


def ready_application(stack: LocalAws) -> str:
    qb = boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY, aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=stack.url)  # fmt: skip
    app = qb.create_application(
        displayName="faults" + uuid.uuid4().hex[:8],
        identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn=OIDC_ARN,
        clientIdsForOIDC=["client-1"],
    )["applicationId"]
    index = qb.create_index(applicationId=app, displayName="docs")["indexId"]
    deadline = time.monotonic() + 5
    while qb.get_application(applicationId=app)["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    qb.update_application(
        applicationId=app,
        autoSubscriptionConfiguration={"autoSubscribe": "ENABLED",
                                       "defaultSubscriptionType": "Q_LITE"},
    )  # fmt: skip
    qb.batch_put_document(applicationId=app, indexId=index, documents=[{
        "id": "handbook", "title": "Handbook", "contentType": "PLAIN_TEXT",
        "content": {"blob": b"The office opens at nine. Lunch is served at noon."}}])  # fmt: skip
    return str(app)


def user_session(stack: LocalAws, *, issued_at: datetime | None = None) -> IssuedSession:
    """Identity-aware credentials as the local STS issues them (Email session tag)."""
    return stack.registry.issue(
        account_id=ACCOUNT,
        role_arn=chat_role(stack, "qbiz-web"),
        role_id="AROAWEB",
        session_name=EMAIL,
        duration_seconds=MIN_SESSION_SECONDS,
        tags={"Email": EMAIL},
        federated_by=OIDC_ARN,
        now=issued_at,
    )


def chat_client(stack: LocalAws, app: str, session: IssuedSession) -> ChatClient:
    client = boto3.session.Session(
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=stack.url, config=FEW_RETRIES)
    return ChatClient(qbusiness=client, application_id=app, subscription_backoff=0.05)


@dataclass
class Chat:
    stack: LocalAws
    app: str
    client: ChatClient


@pytest.fixture
def chat(fresh_local_aws: LocalAws) -> Chat:
    stack = fresh_local_aws
    app = ready_application(stack)
    return Chat(stack, app, chat_client(stack, app, user_session(stack)))


@pytest.mark.parametrize("kind", ["throttle", "error"], ids=["throttling", "server_error"])
def test_transient_fault_mid_conversation_is_retried_transparently(chat: Chat, kind: str) -> None:
    conversation = chat.client.conversation()
    first = conversation.ask("When does the office open?")
    set_faults(chat.stack, {"kind": kind, "service": "qbusiness", "operation": "ChatSync",
                            "count": 2})  # fmt: skip
    second = conversation.ask("When is lunch served?")
    assert remaining_hits(chat.stack) == []  # both injected failures were hit, then served
    assert second.conversation_id == first.conversation_id
    assert "noon" in second.text
    assert sorted(m.kind for m in conversation.history()) == ["SYSTEM", "SYSTEM", "USER", "USER"]


@pytest.mark.parametrize(
    ("kind", "code", "advice"),
    [
        ("throttle", "ThrottlingException", "wait a few seconds"),
        ("error", "InternalServerException", "send the message again"),
    ],
    ids=["throttling", "server_error"],
)
def test_persistent_fault_keeps_the_message_and_the_conversation_continues(
    chat: Chat, kind: str, code: str, advice: str
) -> None:
    conversation = chat.client.conversation()
    first = conversation.ask("When does the office open?")
    set_faults(chat.stack, {"kind": kind, "service": "qbusiness", "operation": "ChatSync",
                            "count": 50})  # fmt: skip
    question = "When is lunch served?"
    started = time.monotonic()
    with pytest.raises(ChatError) as failure:
        conversation.ask(question)
    elapsed = time.monotonic() - started
    assert failure.value.code == code
    assert failure.value.unsent_message == question
    assert advice in failure.value.remedy
    assert remaining_hits(chat.stack) == [47], "botocore should have tried three times"
    assert elapsed < 15
    # Nothing moved: the failed turn left no trace in the conversation.
    assert conversation.conversation_id == first.conversation_id
    assert conversation.parent_message_id == first.system_message_id
    assert len(conversation.turns) == 1

    set_faults(chat.stack)  # the service recovers
    again = conversation.ask(failure.value.unsent_message)
    assert again.conversation_id == first.conversation_id
    assert "noon" in again.text
    history = conversation.history()
    assert sorted(m.kind for m in history) == ["SYSTEM", "SYSTEM", "USER", "USER"]
    asked = [m.body for m in history if m.kind == "USER"]
    assert sorted(asked) == sorted(["When does the office open?", question])  # sent once


def test_credentials_expiring_mid_chat_say_so_and_a_new_sign_in_continues(
    fresh_local_aws: LocalAws,
) -> None:
    stack = fresh_local_aws
    app = ready_application(stack)
    # A minimum-length (900 s) session issued 897 s ago: it expires a few seconds from now.
    issued = datetime.now(UTC) - timedelta(seconds=MIN_SESSION_SECONDS - 3)
    short = user_session(stack, issued_at=issued)
    conversation = chat_client(stack, app, short).conversation()
    first = conversation.ask("When does the office open?")
    time.sleep(max(0.0, (short.expiration - datetime.now(UTC)).total_seconds()) + 0.3)

    with pytest.raises(ChatError) as failure:
        conversation.ask("When is lunch served?")
    assert failure.value.code == "ExpiredTokenException"
    assert "sign in again" in failure.value.remedy
    assert failure.value.unsent_message == "When is lunch served?"
    assert short.session_token not in str(failure.value)
    assert short.secret_access_key not in failure.value.diagnostics()

    renewed = chat_client(stack, app, user_session(stack))  # the user signs in again
    resumed = renewed.conversation(first.conversation_id)
    answer = resumed.ask(failure.value.unsent_message)
    assert answer.conversation_id == first.conversation_id
    assert "noon" in answer.text


def test_the_products_own_retry_configuration_rides_out_a_throttling_burst(
    fresh_local_aws: LocalAws,
) -> None:
    """``ChatClient.from_session`` (what ``qbizfed chat`` uses), not this file's client."""
    stack = fresh_local_aws
    app = ready_application(stack)
    session = user_session(stack)
    boto = boto3.session.Session(
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        region_name="us-east-1",
    )
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = stack.url
    try:
        client = ChatClient.from_session(boto, app, subscription_backoff=0.05)
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
    conversation = client.conversation()
    first = conversation.ask("When does the office open?")
    set_faults(stack, {"kind": "throttle", "service": "qbusiness", "operation": "ChatSync",
                       "count": 2})  # fmt: skip
    second = conversation.ask("When is lunch served?")
    assert remaining_hits(stack) == []
    assert second.conversation_id == first.conversation_id
