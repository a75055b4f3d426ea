"""Library pieces of the managed-experience features: refusals naming the IAM action, chat
controls, what the terminal prints or saves."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from qbizfed.aws.chat import ChatClient, ChatError, Citation, missing_action
from qbizfed.aws.chat_controls import ChatControls
from qbizfed.aws.document_content import DocumentContent
from qbizfed.cli.chat import printable, save_document
from qbizfed.errors import AwsError, ConfigError

APP = "a" * 36
ROLE = "arn:aws:sts::123456789012:assumed-role/web/alice"


def _stubbed() -> tuple[ChatClient, Stubber]:
    qb = boto3.client("qbusiness", region_name="us-east-1", aws_access_key_id="k",
                      aws_secret_access_key="s", endpoint_url="http://127.0.0.1:9")  # fmt: skip
    return ChatClient(qbusiness=qb, application_id=APP), Stubber(qb)


@pytest.mark.parametrize(
    ("method", "call", "action"),
    [
        ("get_document_content",
         lambda c: c.document_content(Citation(1, "t", None, "", document_id="d",
                                               index_id="i" * 36)),
         "qbusiness:GetDocumentContent"),
        ("list_attachments", lambda c: c.list_attachments("c" * 36), "qbusiness:ListAttachments"),
        ("delete_attachment", lambda c: c.delete_attachment("c" * 36, "0" * 8 + "-0000-0000-0000-"
                                                            + "0" * 12),
         "qbusiness:DeleteAttachment"),
        ("get_chat_controls_configuration", lambda c: c.chat_controls(),
         "qbusiness:GetChatControlsConfiguration"),
    ],
)  # fmt: skip
def test_a_missing_iam_action_is_named_in_the_remedy(
    method: str, call: object, action: str
) -> None:
    client, stub = _stubbed()
    stub.add_client_error(
        method, service_error_code="AccessDeniedException", http_status_code=403,
        service_message=f"User: {ROLE} is not authorized to perform: {action} on resource: "
        f"arn:aws:qbusiness:us-east-1:123456789012:application/{APP} because no "
        f"identity-based policy allows the {action} action",
    )  # fmt: skip
    with stub, pytest.raises(AwsError) as refused:
        call(client)  # type: ignore[operator]
    assert refused.value.code == "AccessDeniedException"
    assert f"not allowed {action}" in refused.value.remedy
    assert f"add {action} to the role's policy" in refused.value.remedy


def test_chat_sync_refused_by_iam_names_chat_sync() -> None:
    client, stub = _stubbed()
    stub.add_client_error(
        "chat_sync", service_error_code="AccessDeniedException", http_status_code=403,
        service_message=f"User: {ROLE} is not authorized to perform: qbusiness:ChatSync",
    )  # fmt: skip
    with stub, pytest.raises(ChatError) as refused:
        client.send("hello")
    assert "qbusiness:ChatSync" in refused.value.remedy
    assert refused.value.unsent_message == "hello"


def test_other_access_denied_messages_are_not_taken_for_a_missing_action() -> None:
    assert missing_action("AccessDeniedException",
                          "User does not have a subscription for the given application.",
                          "qbusiness:ChatSync") is None  # fmt: skip
    assert missing_action("AccessDeniedException",
                          "User is not authorized to access the document d, or it does not "
                          "exist.", "qbusiness:GetDocumentContent") is None  # fmt: skip
    assert missing_action("ValidationException", "not authorized to perform: qbusiness:X",
                          None) is None  # fmt: skip


def test_a_citation_without_ids_is_refused_without_a_call() -> None:
    client, stub = _stubbed()
    with stub, pytest.raises(ConfigError, match="no document id"):
        client.document_content(Citation(2, "Wiki", "https://wiki.example/x", ""))


def test_chat_controls_from_the_wire() -> None:
    controls = ChatControls.from_wire({
        "responseScope": "EXTENDED_KNOWLEDGE_ENABLED",
        "creatorModeConfiguration": {"creatorModeControl": "ENABLED"},
        "blockedPhrases": {"blockedPhrases": ["a", "b"]},
        "topicConfigurations": [{"name": "pay"}],
    })  # fmt: skip
    assert controls.creator_mode_allowed
    assert controls.topics == ("pay",)
    assert controls.blocked_phrase_count == 2
    assert "general knowledge" in controls.scope_label
    assert not ChatControls.from_wire({}).creator_mode_allowed


def test_printable_removes_terminal_escape_sequences() -> None:
    assert printable("ok\x1b]0;pwned\x07\x1b[31m red\nnext\tcol") == "ok]0;pwned[31m red\nnext\tcol"


def test_save_document_keeps_a_safe_name_and_0600(tmp_path: Path) -> None:
    content = DocumentContent("../../etc/passwd;rm -rf", "application/pdf", b"%PDF-1.4")
    path = save_document(content, tmp_path)
    assert path.parent == tmp_path
    assert path.name == "passwd_rm_-rf.pdf"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not DocumentContent("x", "application/pdf", b"").is_text
    assert DocumentContent("x", "text/markdown; charset=utf-8", b"").is_text
