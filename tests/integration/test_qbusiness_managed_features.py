"""The emulator's managed-experience features over the wire: open a source, attachments,
chat controls, each as alice, bob and carol with federated (Email-tagged) credentials."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from tests.support.managed_features import (
    ALICE,
    BOB,
    CAROL,
    block_phrases,
    enable_creator_mode,
    index_of,
    managed_application,
    set_controls,
    subscribed_user,
)


@pytest.fixture
def app(local_aws: LocalAws) -> str:
    return managed_application(local_aws)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.mark.parametrize(
    ("user", "document", "allowed"),
    [
        (ALICE, "plans/alice-roadmap", True), (ALICE, "bob-budget", False),
        (BOB, "bob-budget", True), (BOB, "plans/alice-roadmap", False),
        (CAROL, "handbook", True), (CAROL, "bob-budget", False),
        (CAROL, "plans/alice-roadmap", False), (CAROL, "no-such-document", False),
    ],
)  # fmt: skip
def test_each_user_opens_only_what_they_may(
    local_aws: LocalAws, app: str, user: str, document: str, allowed: bool
) -> None:
    qb = subscribed_user(local_aws, app, user)
    index = index_of(local_aws, app)
    if not allowed:
        with pytest.raises(ClientError) as refused:
            qb.get_document_content(applicationId=app, indexId=index, documentId=document)
        assert _code(refused) == "AccessDeniedException"
        assert document in refused.value.response["Error"]["Message"]
        return
    out = qb.get_document_content(applicationId=app, indexId=index, documentId=document)
    assert out["mimeType"] == "text/plain"
    fetched = httpx.get(out["presignedUrl"])
    assert fetched.status_code == 200
    assert fetched.headers["content-disposition"] == "attachment"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.content.decode().startswith(("The office", "The roadmap", "The budget"))


def test_a_citation_carries_what_get_document_content_needs(local_aws: LocalAws, app: str) -> None:
    qb = subscribed_user(local_aws, app, ALICE)
    turn = qb.chat_sync(applicationId=app, userMessage="When does the office open?")
    source = turn["sourceAttributions"][0]
    assert source["documentId"] == "handbook"
    out = qb.get_document_content(
        applicationId=app, indexId=source["indexId"], documentId=source["documentId"],
        outputFormat="EXTRACTED",
    )  # fmt: skip
    assert httpx.get(out["presignedUrl"]).text.startswith("The office opens at eight")


def test_an_attachment_changes_the_answer(local_aws: LocalAws, app: str) -> None:
    qb = subscribed_user(local_aws, app, ALICE)
    question = "What is the codename of the moon mission?"
    without = qb.chat_sync(applicationId=app, userMessage=question)["systemMessage"]
    assert "Artemis" not in without
    notes = b"# Notes\n\nThe moon mission codename is Artemis Blue.\n\nUnrelated line."
    turn = qb.chat_sync(
        applicationId=app, userMessage=question, attachments=[{"name": "notes.md", "data": notes}]
    )
    assert "Artemis Blue" in turn["systemMessage"]
    assert turn["failedAttachments"] == []
    # the attachment stays context for the rest of the conversation
    later = qb.chat_sync(
        applicationId=app, userMessage="Remind me: the moon mission codename?",
        conversationId=turn["conversationId"], parentMessageId=turn["systemMessageId"],
    )  # fmt: skip
    assert "Artemis Blue" in later["systemMessage"]


def test_pdf_csv_json_and_html_attachments_are_read(local_aws: LocalAws, app: str) -> None:
    from tests.support.pdf import text_pdf

    qb = subscribed_user(local_aws, app, ALICE)
    files = {
        "q3.pdf": text_pdf("Quarterly revenue grew by seventeen percent."),
        "table.csv": b"region,manager\nnorth,Ingrid Holm\n",
        "data.json": b'{"mascot": "a purple walrus"}',
        "page.html": b"<html><body><p>The wifi password rotates weekly.</p></body></html>",
    }
    turn = qb.chat_sync(
        applicationId=app, userMessage="How much did quarterly revenue grow?",
        attachments=[{"name": n, "data": d} for n, d in files.items()],
    )  # fmt: skip
    assert turn["failedAttachments"] == []
    assert "seventeen percent" in turn["systemMessage"]
    listed = qb.list_attachments(applicationId=app, conversationId=turn["conversationId"])
    assert sorted(a["name"] for a in listed["attachments"]) == sorted(files)
    types = {a["name"]: a["fileType"] for a in listed["attachments"]}
    assert types["q3.pdf"] == "application/pdf"
    for name in ("mascot", "wifi password", "manager of the north region"):
        reply = qb.chat_sync(
            applicationId=app, userMessage=f"What about the {name}?",
            conversationId=turn["conversationId"],
            parentMessageId=turn["systemMessageId"],
        )  # fmt: skip
        turn = {**turn, "systemMessageId": reply["systemMessageId"]}
        assert "From your attached file" in reply["systemMessage"]


def test_list_and_delete_attachments_only_in_ones_own_conversation(
    local_aws: LocalAws, app: str
) -> None:
    alice, bob = subscribed_user(local_aws, app, ALICE), subscribed_user(local_aws, app, BOB)
    turn = alice.chat_sync(
        applicationId=app, userMessage="hello",
        attachments=[{"name": "a.txt", "data": b"first"}, {"name": "b.txt", "data": b"second"}],
    )  # fmt: skip
    conversation = turn["conversationId"]
    listed = alice.list_attachments(applicationId=app, conversationId=conversation)["attachments"]
    assert {a["status"] for a in listed} == {"SUCCESS"}
    assert all(len(a["md5chksum"]) == 32 for a in listed)
    with pytest.raises(ClientError) as other:
        bob.list_attachments(applicationId=app, conversationId=conversation)
    assert _code(other) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as other_delete:
        bob.delete_attachment(
            applicationId=app, conversationId=conversation, attachmentId=listed[0]["attachmentId"]
        )
    assert _code(other_delete) == "ResourceNotFoundException"
    alice.delete_attachment(
        applicationId=app, conversationId=conversation, attachmentId=listed[0]["attachmentId"]
    )
    left = alice.list_attachments(applicationId=app, conversationId=conversation)["attachments"]
    assert [a["attachmentId"] for a in left] == [listed[1]["attachmentId"]]
    with pytest.raises(ClientError) as gone:
        alice.delete_attachment(
            applicationId=app, conversationId=conversation, attachmentId=listed[0]["attachmentId"]
        )
    assert _code(gone) == "ResourceNotFoundException"
    assert bob.list_attachments(applicationId=app)["attachments"] == []


def test_blocked_phrases_are_refused_with_the_configured_message(
    local_aws: LocalAws, app: str
) -> None:
    block_phrases(local_aws, app, "Falcon", message="We cannot talk about that project.")
    qb = subscribed_user(local_aws, app, ALICE)
    turn = qb.chat_sync(applicationId=app, userMessage="When does the FALCON project launch?")
    assert turn["systemMessage"] == "We cannot talk about that project."
    assert turn["sourceAttributions"] == []
    allowed = qb.chat_sync(applicationId=app, userMessage="When does the office open?")
    assert "eight" in allowed["systemMessage"]


def _topic(name: str, rule: Mapping[str, object], examples: list[str]) -> dict[str, object]:
    return {"name": name, "exampleChatMessages": examples, "rules": [rule]}


def test_a_topic_blocker_answers_with_its_message_for_the_users_it_names(
    local_aws: LocalAws, app: str
) -> None:
    rule = {
        "ruleType": "CONTENT_BLOCKER_RULE",
        "includedUsersAndGroups": {"userIds": [CAROL]},
        "ruleConfiguration": {"contentBlockerRule": {"systemMessageOverride": "Ask HR instead."}},
    }
    set_controls(local_aws, app, topicConfigurationsToCreateOrUpdate=[
        _topic("parking", rule, ["Where do I get a parking permit?"])])  # fmt: skip
    carol, alice = subscribed_user(local_aws, app, CAROL), subscribed_user(local_aws, app, ALICE)
    question = "Who hands out parking permits?"
    assert carol.chat_sync(applicationId=app, userMessage=question)["systemMessage"] == (
        "Ask HR instead."
    )
    assert "front desk" in alice.chat_sync(applicationId=app, userMessage=question)["systemMessage"]


def test_a_topic_retrieval_rule_limits_retrieval_to_its_sources(
    local_aws: LocalAws, app: str
) -> None:
    rule = {
        "ruleType": "CONTENT_RETRIEVAL_RULE",
        "ruleConfiguration": {"contentRetrievalRule": {"eligibleDataSources": [
            {"indexId": "0" * 36}]}},
    }  # fmt: skip
    set_controls(local_aws, app, topicConfigurationsToCreateOrUpdate=[
        _topic("office", rule, ["When does the office open?"])])  # fmt: skip
    qb = subscribed_user(local_aws, app, CAROL)
    turn = qb.chat_sync(applicationId=app, userMessage="When does the office open?")
    assert turn["sourceAttributions"] == []


def test_creator_mode_is_refused_until_enabled(local_aws: LocalAws, app: str) -> None:
    qb = subscribed_user(local_aws, app, ALICE)
    with pytest.raises(ClientError) as refused:
        qb.chat_sync(applicationId=app, userMessage="Write a haiku", chatMode="CREATOR_MODE")
    assert _code(refused) == "ValidationException"
    assert "Creator mode is disabled" in refused.value.response["Error"]["Message"]
    enable_creator_mode(local_aws, app)
    turn = qb.chat_sync(applicationId=app, userMessage="Write a haiku", chatMode="CREATOR_MODE")
    assert "creator mode" in turn["systemMessage"]
    controls = qb.get_chat_controls_configuration(applicationId=app)
    assert controls["creatorModeConfiguration"]["creatorModeControl"] == "ENABLED"
