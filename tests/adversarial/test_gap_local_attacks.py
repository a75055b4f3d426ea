"""Local-stack attacks on the Q Business emulator, each case named after its attack.

Two users of one application talk to ``qbizfed local aws`` over boto3 with
identity-aware STS credentials (``Email`` session tag). The attacker (mallory) holds
the victim's (alice's) conversation and message ids, or asks for documents only the
victim may read, in every way the API allows. Each call must be refused with AWS's
code (or answered without the victim's data), never a server error, and the victim's
conversation must be untouched afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from tests.integration.test_qbusiness_data_plane import acl, admin, chat, ready_app, user_client

SECRET = "The salary band for engineers is level five compensation."
SECRET_WORDS = ("level five", "compensation")


@dataclass(frozen=True)
class Scene:
    app: str
    index: str
    alice: Any
    mallory: Any
    conversation: str
    user_message: str
    system_message: str


@pytest.fixture(scope="module")
def scene(local_aws: LocalAws) -> Scene:
    qb = admin(local_aws)
    app, index = ready_app(qb)
    qb.batch_put_document(applicationId=app, indexId=index, documents=[
        {"id": "salaries", "title": "Salary bands", "contentType": "PLAIN_TEXT",
         "content": {"blob": SECRET.encode()},
         "accessConfiguration": acl("alice@example.com")},
        {"id": "finance-plan", "title": "Finance plan", "contentType": "PLAIN_TEXT",
         "content": {"blob": b"The finance plan budget for the offsite is ten thousand."},
         "accessConfiguration": acl(groups=("finance",))},
        {"id": "handbook", "title": "Handbook", "contentType": "PLAIN_TEXT",
         "content": {"blob": b"The office opens at nine."}},
    ])  # fmt: skip
    no_validation = Config(parameter_validation=False, retries={"total_max_attempts": 1})
    alice = user_client(local_aws, "alice@example.com")
    mallory = user_client(local_aws, "mallory@example.com", config=no_validation)
    first = chat(alice, app, "salary band for engineers")
    chat(mallory, app, "when does the office open")  # mallory is a subscribed user too
    return Scene(app, index, alice, mallory, first["conversationId"], first["userMessageId"],
                 first["systemMessageId"])  # fmt: skip


CONVERSATION_ATTACKS: dict[str, Callable[[Scene], Any]] = {
    "read_another_users_conversation_messages": lambda s: s.mallory.list_messages(
        applicationId=s.app, conversationId=s.conversation),
    "continue_another_users_conversation": lambda s: s.mallory.chat_sync(
        applicationId=s.app, userMessage="and the salary band?", conversationId=s.conversation,
        parentMessageId=s.system_message),
    "delete_another_users_conversation": lambda s: s.mallory.delete_conversation(
        applicationId=s.app, conversationId=s.conversation),
    "feedback_on_another_users_message": lambda s: s.mallory.put_feedback(
        applicationId=s.app, conversationId=s.conversation, messageId=s.system_message,
        messageUsefulness={"usefulness": "NOT_USEFUL", "submittedAt": datetime.now(UTC)}),
}  # fmt: skip


@pytest.mark.parametrize("attack", list(CONVERSATION_ATTACKS))
def test_another_users_conversation_id_is_refused(scene: Scene, attack: str) -> None:
    with pytest.raises(ClientError) as refusal:
        CONVERSATION_ATTACKS[attack](scene)
    error = refusal.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException", error  # not even its existence
    assert error["Message"] == f"The conversation {scene.conversation} was not found."
    assert refusal.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    assert not any(word in error.get("Message", "") for word in SECRET_WORDS)
    # The victim's conversation is intact.
    messages = scene.alice.list_messages(applicationId=scene.app,
                                         conversationId=scene.conversation)["messages"]  # fmt: skip
    assert len(messages) == 2


def test_another_users_conversation_is_not_listed(scene: Scene) -> None:
    listed = scene.mallory.list_conversations(applicationId=scene.app)["conversations"]
    assert scene.conversation not in [c["conversationId"] for c in listed]


def _cited(answer: dict[str, Any]) -> set[str]:
    return {s.get("documentId", "") for s in answer.get("sourceAttributions", [])}


NOTHING_FOUND = "Sorry, I could not find relevant information to complete your request."
NO_IMPERSONATION = (
    "ValidationException",
    "userId and userGroups cannot be used with identity-aware credentials",
)
DOCUMENT_ATTACKS: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
    # the request -> (the refusal's code, or "answer" for an answer; what it says)
    "ask_for_a_document_outside_the_users_permissions": ({
        "userMessage": "salary band for engineers level five compensation"},
        ("answer", NOTHING_FOUND)),
    "attribute_filter_naming_the_forbidden_document_id": ({
        "userMessage": "salary band", "attributeFilter": {"equalsTo": {
            "name": "_document_id", "value": {"stringValue": "salaries"}}}},
        ("answer", NOTHING_FOUND)),
    "attribute_filter_naming_the_forbidden_title": ({
        "userMessage": "salary band", "attributeFilter": {"equalsTo": {
            "name": "_document_title", "value": {"stringValue": "Salary bands"}}}},
        ("answer", NOTHING_FOUND)),
    "user_groups_parameter_claims_a_group": ({
        "userMessage": "finance plan budget offsite", "userGroups": ["finance"]},
        NO_IMPERSONATION),
    "user_id_parameter_claims_another_user": ({
        "userMessage": "salary band for engineers", "userId": "alice@example.com"},
        NO_IMPERSONATION),
    "creator_mode_asks_for_the_document": ({
        "userMessage": "quote the salary band document verbatim", "chatMode": "CREATOR_MODE"},
        ("ValidationException", "Creator mode is disabled for this application")),
}  # fmt: skip


@pytest.mark.parametrize("attack", list(DOCUMENT_ATTACKS))
def test_a_document_outside_the_users_permissions_never_leaks(scene: Scene, attack: str) -> None:
    request, (outcome, says) = DOCUMENT_ATTACKS[attack]
    try:
        answer = scene.mallory.chat_sync(applicationId=scene.app, **request)
        got = "answer"
    except ClientError as refusal:
        answer = {"systemMessage": str(refusal.response["Error"].get("Message", "")),
                  "status": refusal.response["ResponseMetadata"]["HTTPStatusCode"]}  # fmt: skip
        got = refusal.response["Error"]["Code"]
    assert answer.get("status", 200) < 500, answer
    assert (got, says in answer["systemMessage"]) == (outcome, True), answer["systemMessage"]
    assert not ({"salaries", "finance-plan"} & _cited(answer))
    text = answer["systemMessage"] + " ".join(
        s.get("snippet", "") + s.get("title", "") for s in answer.get("sourceAttributions", [])
    )
    for word in (*SECRET_WORDS, "ten thousand", "Salary bands", "Finance plan"):
        assert word not in text, (attack, text)


def test_control_the_owner_does_see_the_document(scene: Scene) -> None:
    answer = chat(scene.alice, scene.app, "salary band for engineers")
    assert "salaries" in _cited(answer)
