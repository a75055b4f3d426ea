"""The chat library's own logic, with botocore's Stubber at the HTTP seam.

End-to-end behaviour against the Q Business emulator is in tests/integration.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from qbizfed.aws.chat import MAX_ATTACHMENTS, Attachment, ChatClient, ChatError
from qbizfed.errors import ConfigError

APP = "a" * 36
C1 = "c" * 35 + "1"
S1, S2, S3 = ("s" * 35 + n for n in "123")


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "qbusiness",
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="fake",
        endpoint_url="http://127.0.0.1:9",
    )
    with Stubber(client) as stubber:
        yield client, stubber


def _answer(conversation: str = C1, system: str = S1) -> dict[str, Any]:
    return {
        "conversationId": conversation,
        "systemMessage": "Travel is booked through the portal [1].",
        "systemMessageId": system,
        "userMessageId": "u" * 36,
        "sourceAttributions": [
            {
                "title": "Travel policy",
                "snippet": "Book travel through the portal.",
                "url": "https://intranet.example.com/travel",
                "citationNumber": 1,
                "documentId": "doc-travel",
                "textMessageSegments": [{"beginOffset": 0, "endOffset": 39}],
            }
        ],
    }


def _subscription_error(stubber: Stubber) -> None:
    stubber.add_client_error(
        "chat_sync",
        service_error_code="AccessDeniedException",
        service_message="User does not have a subscription for the given application.",
        http_status_code=403,
    )


def test_turn_is_typed_and_the_conversation_continues(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("chat_sync", _answer(C1, S1))
    stubber.add_response("chat_sync", _answer(C1, S2))
    conversation = ChatClient(qbusiness=client, application_id=APP).conversation()
    first = conversation.ask("How do I book travel?")
    assert first.citations[0].title == "Travel policy"
    assert first.citations[0].segments[0].end == 39
    assert (conversation.conversation_id, conversation.parent_message_id) == (C1, S1)
    # the second turn must name the conversation and the previous answer
    second_params: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        second_params.update(params)

    client.meta.events.register("provide-client-params.qbusiness.ChatSync", capture)
    conversation.ask("And hotels?")
    assert second_params["conversationId"] == C1
    assert second_params["parentMessageId"] == S1
    assert conversation.parent_message_id == S2


def test_first_call_subscription_error_is_retried_and_announced(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    _subscription_error(stubber)
    _subscription_error(stubber)
    stubber.add_response("chat_sync", _answer())
    notices: list[str] = []
    delays: list[float] = []
    chat = ChatClient(
        qbusiness=client, application_id=APP, on_notice=notices.append, sleep=delays.append
    )
    turn = chat.conversation().ask("hello")
    assert turn.subscription_retries == 2
    assert delays == [1.0, 2.0]
    assert len(notices) == 2
    assert "subscribes you" in notices[0]


def test_subscription_retries_are_bounded(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    for _ in range(3):
        _subscription_error(stubber)
    chat = ChatClient(
        qbusiness=client, application_id=APP, subscription_retries=2, sleep=lambda _: None
    )
    with pytest.raises(ChatError) as info:
        chat.conversation().ask("hello")
    assert "auto-subscription" in info.value.remedy
    assert info.value.unsent_message == "hello"


def test_failed_turn_keeps_the_message_and_the_conversation(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("chat_sync", _answer(C1, S1))
    stubber.add_client_error(
        "chat_sync", service_error_code="InternalServerException", http_status_code=500
    )
    stubber.add_response("chat_sync", _answer(C1, S3))
    conversation = ChatClient(qbusiness=client, application_id=APP).conversation()
    conversation.ask("one")
    with pytest.raises(ChatError) as info:
        conversation.ask("two")
    assert info.value.unsent_message == "two"
    assert conversation.parent_message_id == S1
    assert len(conversation.turns) == 1
    conversation.ask(info.value.unsent_message)
    assert conversation.parent_message_id == S3


def test_a_stale_parent_continues_after_the_answer_the_service_stored(
    stubbed: tuple[Any, Stubber],
) -> None:
    """A streamed answer cut off mid-way may be stored by the service; sending the
    question again then conflicts on the old parent and continues after the stored one."""
    client, stubber = stubbed
    stubber.add_response("chat_sync", _answer(C1, S1))
    stubber.add_client_error(
        "chat_sync", service_error_code="ConflictException", http_status_code=409
    )
    stubber.add_response("list_messages", {"messages": [
        {"messageId": S2, "type": "SYSTEM", "body": "stored", "time": datetime.now(UTC)},
    ]})  # fmt: skip
    stubber.add_response("chat_sync", _answer(C1, S3))
    conversation = ChatClient(qbusiness=client, application_id=APP).conversation()
    conversation.ask("one")
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.qbusiness.ChatSync", lambda params, **_: sent.append(dict(params))
    )
    conversation.ask("two")
    assert [p["parentMessageId"] for p in sent] == [S1, S2]
    assert conversation.parent_message_id == S3


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        ("AccessDeniedException", "User is not authorized for this service call.", "Email"),
        (
            "ExpiredTokenException",
            "The security token included in the request is expired",
            "sign in",
        ),
        ("ThrottlingException", "Rate exceeded", "wait"),
        ("ResourceNotFoundException", "Application not found", "application id"),
    ],
)
def test_errors_say_what_to_do(
    stubbed: tuple[Any, Stubber], code: str, message: str, hint: str
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("chat_sync", service_error_code=code, service_message=message)
    with pytest.raises(ChatError) as info:
        ChatClient(qbusiness=client, application_id=APP).conversation().ask("hi")
    assert hint in info.value.remedy


def test_attachment_limits_are_checked_before_any_call(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed
    chat = ChatClient(qbusiness=client, application_id=APP)
    too_many = [Attachment(name=f"f{i}.txt", data=b"x") for i in range(MAX_ATTACHMENTS + 1)]
    with pytest.raises(ConfigError):
        chat.send("hi", attachments=too_many)
    with pytest.raises(ConfigError):
        chat.send("hi", chat_mode="TELEPATHY_MODE")
    with pytest.raises(ConfigError):
        chat.send("   ")


def test_feedback_validates_reason_and_comment(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    chat = ChatClient(qbusiness=client, application_id=APP)
    with pytest.raises(ConfigError):
        chat.feedback(C1, S1, useful=True, reason="LOVELY")
    with pytest.raises(ConfigError):
        chat.feedback(C1, S1, useful=False, comment="x" * 1001)
    stubber.add_response("put_feedback", {})
    chat.feedback(C1, S1, useful=False, reason="NOT_HELPFUL", comment="missed the point")


def test_missing_application_id_is_a_config_error(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed
    with pytest.raises(ConfigError) as info:
        ChatClient(qbusiness=client, application_id="")
    assert "QBUSINESS_APPLICATION_ID" in info.value.remedy


def _listed(message_id: str, kind: str, at: datetime) -> dict[str, Any]:
    return {"messageId": message_id, "type": kind, "body": message_id, "time": at}


def test_history_is_oldest_first_and_ties_keep_the_conversation_order(
    stubbed: tuple[Any, Stubber],
) -> None:
    """ListMessages lists newest first, in pages; a question and its answer stamped in the
    same instant still come question first, whatever their ids."""
    client, stubber = stubbed
    same = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    later = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    params = {"applicationId": APP, "conversationId": C1}
    stubber.add_response(
        "list_messages",
        {
            "messages": [
                _listed("z-answer-2", "SYSTEM", later),
                _listed("y-question-2", "USER", later),
                _listed("a-answer-1", "SYSTEM", same),
            ],
            "nextToken": "page-2",
        },
        params,
    )
    stubber.add_response(
        "list_messages",
        {"messages": [_listed("b-question-1", "USER", same)]},
        {**params, "nextToken": "page-2"},
    )
    history = ChatClient(qbusiness=client, application_id=APP).history(C1)
    assert [m.message_id for m in history] == [
        "b-question-1", "a-answer-1", "y-question-2", "z-answer-2",
    ]  # fmt: skip
    stubber.assert_no_pending_responses()
