"""Q Business data plane through boto3: documents, groups, subscriptions, identity-aware chat."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.errors import ConfigError
from qbizfed.local.qbusiness.corpus import demo_corpus_path, load_corpus
from qbizfed.local.qbusiness.subscriptions import user_id_for_email
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET
from tests.support.chat_permissions import chat_role

ACCOUNT = "123456789012"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com"
NOT_AUTHORIZED = "User is not authorized for this service call."
NO_SUBSCRIPTION = "User does not have a subscription for the given application."


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def admin(stack: LocalAws, **kw: Any) -> Any:
    return boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=stack.url, **kw)


def user_client(stack: LocalAws, email: str | None, **kw: Any) -> Any:
    s = stack.registry.issue(
        account_id=ACCOUNT,
        role_arn=chat_role(stack, "qbiz-web"),
        role_id="AROAWEB",
        session_name=(email or "anonymous").replace("@", "-"),
        duration_seconds=900,
        tags={"Email": email} if email else {},
        federated_by=OIDC_ARN,
    )
    return boto3.session.Session(
        aws_access_key_id=s.access_key_id,
        aws_secret_access_key=s.secret_access_key,
        aws_session_token=s.session_token,
        region_name="us-east-1",
    ).client("qbusiness", endpoint_url=stack.url, **kw)


def ready_app(qb: Any, *, auto: str = "ENABLED") -> tuple[str, str]:
    app = qb.create_application(
        displayName="dp" + uuid.uuid4().hex[:8],
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
        autoSubscriptionConfiguration={"autoSubscribe": auto, "defaultSubscriptionType": "Q_LITE"},
    )
    return app, index


def chat(client: Any, app: str, message: str, **kw: Any) -> dict[str, Any]:
    """ChatSync with the documented first-call retry."""
    try:
        return dict(client.chat_sync(applicationId=app, userMessage=message, **kw))
    except ClientError as exc:
        if exc.response["Error"]["Message"] != NO_SUBSCRIPTION:
            raise
        return dict(client.chat_sync(applicationId=app, userMessage=message, **kw))


def acl(*allow_users: str, deny_users: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> Any:
    principals: list[dict[str, Any]] = [
        {"user": {"id": u, "access": "ALLOW", "membershipType": "INDEX"}} for u in allow_users
    ]
    principals += [
        {"user": {"id": u, "access": "DENY", "membershipType": "INDEX"}} for u in deny_users
    ]
    principals += [
        {"group": {"name": g, "access": "ALLOW", "membershipType": "INDEX"}} for g in groups
    ]
    return {"accessControls": [{"principals": principals}]}


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws) -> LocalAws:
    return local_aws


@pytest.fixture(scope="module")
def qb(stack: LocalAws) -> Any:
    return admin(stack)


@pytest.fixture(scope="module")
def corpus_app(qb: Any) -> tuple[str, str]:
    app, index = ready_app(qb)
    documents = [
        {
            "id": "salaries",
            "title": "Salary bands",
            "content": {"blob": b"The salary band for engineers is level five compensation."},
            "contentType": "PLAIN_TEXT",
            "accessConfiguration": acl("alice@example.com"),
        },
        {
            "id": "finance-plan",
            "title": "Finance plan",
            "content": {"blob": b"The finance plan budget for the offsite is ten thousand."},
            "contentType": "PLAIN_TEXT",
            "accessConfiguration": acl(groups=("finance",)),
        },
        {
            "id": "handbook",
            "title": "Handbook",
            "content": {"blob": b"<html><body><p>The office opens at nine.</p></body></html>"},
            "contentType": "HTML",
            "attributes": [{"name": "_source_uri", "value": {"stringValue": "https://x.test/h"}}],
        },
        {
            "id": "denied",
            "title": "Merger",
            "content": {"blob": b"The secret merger codename is bluebird."},
            "contentType": "PLAIN_TEXT",
            "accessConfiguration": acl(groups=("finance",), deny_users=("carol@example.com",)),
        },
    ]
    result = qb.batch_put_document(applicationId=app, indexId=index, documents=documents)
    assert result["failedDocuments"] == []
    qb.put_group(
        applicationId=app,
        indexId=index,
        groupName="finance",
        type="INDEX",
        groupMembers={"memberUsers": [{"userId": "carol@example.com", "type": "INDEX"},
                                      {"userId": "dave@example.com", "type": "INDEX"}]},
    )  # fmt: skip
    return app, index


def cited(answer: dict[str, Any]) -> set[str]:
    return {s["documentId"] for s in answer.get("sourceAttributions", [])}


@pytest.mark.parametrize(
    ("email", "question", "visible", "hidden"),
    [
        ("alice@example.com", "salary band for engineers", {"salaries"}, set()),
        ("bob@example.com", "salary band for engineers", set(), {"salaries"}),
        ("ALICE+phone@Example.com", "salary band for engineers", {"salaries"}, set()),
        ("dave@example.com", "finance plan budget offsite", {"finance-plan"}, set()),
        ("bob@example.com", "finance plan budget offsite", set(), {"finance-plan"}),
        ("dave@example.com", "secret merger codename", {"denied"}, set()),
        ("carol@example.com", "secret merger codename", set(), {"denied"}),
        ("bob@example.com", "when does the office open", {"handbook"}, set()),
    ],
    ids=["owner_sees", "stranger_blind", "email_case_and_plus_folded", "group_member_sees",
         "non_member_blind", "group_member_without_deny_sees", "deny_beats_group_allow",
         "public_document_for_all"],
)  # fmt: skip
def test_chat_respects_document_permissions(
    stack: LocalAws,
    corpus_app: tuple[str, str],
    email: str,
    question: str,
    visible: set[str],
    hidden: set[str],
) -> None:
    answer = chat(user_client(stack, email), corpus_app[0], question)
    assert visible <= cited(answer)
    assert not (hidden & cited(answer))
    for doc in hidden:
        assert doc not in answer["systemMessage"]
    if hidden and not visible:
        assert "bluebird" not in answer["systemMessage"]
        assert "level five" not in answer["systemMessage"]


def test_answer_has_markers_segments_and_url(stack: LocalAws, corpus_app: tuple[str, str]) -> None:
    answer = chat(
        user_client(stack, "erin@example.com"), corpus_app[0], "when does the office open"
    )
    source = answer["sourceAttributions"][0]
    assert "[1]" in answer["systemMessage"]
    assert source["url"] == "https://x.test/h"
    segment = source["textMessageSegments"][0]
    assert answer["systemMessage"][segment["beginOffset"] : segment["endOffset"]] == (
        "The office opens at nine."
    )
    assert isinstance(source["updatedAt"], datetime)


def test_documents_listed_and_deleted(qb: Any) -> None:
    app, index = ready_app(qb)
    qb.batch_put_document(
        applicationId=app,
        indexId=index,
        documents=[
            {"id": f"d{n}", "content": {"blob": f"text {n}".encode()}, "contentType": "PLAIN_TEXT"}
            for n in range(3)
        ],
    )
    listed = qb.list_documents(applicationId=app, indexId=index, maxResults=2)
    assert [d["documentId"] for d in listed["documentDetailList"]] == ["d0", "d1"]
    assert listed["documentDetailList"][0]["status"] == "INDEXED"
    rest = qb.list_documents(applicationId=app, indexId=index, nextToken=listed["nextToken"])
    assert [d["documentId"] for d in rest["documentDetailList"]] == ["d2"]
    stats = qb.get_index(applicationId=app, indexId=index)["indexStatistics"]
    assert stats["textDocumentStatistics"]["indexedTextDocumentCount"] == 3
    qb.batch_delete_document(applicationId=app, indexId=index, documents=[{"documentId": "d1"}])
    remaining = qb.list_documents(applicationId=app, indexId=index)["documentDetailList"]
    assert [d["documentId"] for d in remaining] == ["d0", "d2"]


def test_unsupported_document_content_reported_as_failed(qb: Any) -> None:
    app, index = ready_app(qb)
    result = qb.batch_put_document(
        applicationId=app,
        indexId=index,
        documents=[
            {"id": "from-s3", "content": {"s3": {"bucket": "my-bucket", "key": "k"}}},
            {"id": "ok", "content": {"blob": b"fine"}, "contentType": "PLAIN_TEXT"},
            {"id": "broken-xml", "content": {"blob": b"<a><b></a>"}, "contentType": "XML"},
        ],
    )
    failed = {f["id"]: f["error"]["errorCode"] for f in result["failedDocuments"]}
    assert failed == {"from-s3": "InvalidRequest", "broken-xml": "InvalidRequest"}
    listed = qb.list_documents(applicationId=app, indexId=index)["documentDetailList"]
    assert [d["documentId"] for d in listed] == ["ok"]


def test_documents_need_an_existing_index(qb: Any) -> None:
    app, _ = ready_app(qb)
    with pytest.raises(ClientError) as refused:
        qb.batch_put_document(
            applicationId=app,
            indexId=str(uuid.uuid4()),
            documents=[{"id": "x", "content": {"blob": b"x"}}],
        )
    assert code_of(refused) == "ResourceNotFoundException"


def test_groups_put_get_list_delete(qb: Any) -> None:
    app, index = ready_app(qb)
    members = {"memberUsers": [{"userId": "a@example.com"}]}
    for name in ("g1", "g2"):
        qb.put_group(
            applicationId=app, indexId=index, groupName=name, type="INDEX", groupMembers=members
        )
    got = qb.get_group(applicationId=app, indexId=index, groupName="g1")
    assert got["status"]["status"] == "SUCCEEDED"
    later = datetime.now(UTC) + timedelta(minutes=1)
    listed = qb.list_groups(applicationId=app, indexId=index, updatedEarlierThan=later)
    assert [g["groupName"] for g in listed["items"]] == ["g1", "g2"]
    earlier = datetime.now(UTC) - timedelta(hours=1)
    assert (
        qb.list_groups(applicationId=app, indexId=index, updatedEarlierThan=earlier)["items"] == []
    )
    qb.delete_group(applicationId=app, indexId=index, groupName="g1")
    with pytest.raises(ClientError) as gone:
        qb.get_group(applicationId=app, indexId=index, groupName="g1")
    assert code_of(gone) == "ResourceNotFoundException"


def test_first_call_subscribes_when_auto_subscription_enabled(stack: LocalAws, qb: Any) -> None:
    app, _ = ready_app(qb, auto="ENABLED")
    user = user_client(stack, "first@example.com")
    with pytest.raises(ClientError) as first:
        user.chat_sync(applicationId=app, userMessage="hello")
    assert code_of(first) == "AccessDeniedException"
    assert first.value.response["Error"]["Message"] == NO_SUBSCRIPTION
    assert user.chat_sync(applicationId=app, userMessage="hello")["systemMessageId"]
    subs = qb.list_subscriptions(applicationId=app)["subscriptions"]
    assert [s["principal"] for s in subs] == [{"user": user_id_for_email("first@example.com")}]
    assert subs[0]["currentSubscription"] == {"type": "Q_LITE"}


def test_disabled_auto_subscription_needs_create_subscription(stack: LocalAws, qb: Any) -> None:
    app, _ = ready_app(qb, auto="DISABLED")
    user = user_client(stack, "manual@example.com")
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            user.list_conversations(applicationId=app)
        assert refused.value.response["Error"]["Message"] == NO_SUBSCRIPTION
    qb.create_subscription(
        applicationId=app, principal={"user": user_id_for_email("Manual@Example.com")},
        type="Q_BUSINESS",
    )  # fmt: skip
    assert user.list_conversations(applicationId=app)["conversations"] == []


@pytest.mark.parametrize("who", ["admin_long_term_key", "federated_session_without_email"])
def test_identity_aware_calls_need_an_email_session(stack: LocalAws, qb: Any, who: str) -> None:
    app, _ = ready_app(qb)
    client = qb if who == "admin_long_term_key" else user_client(stack, None)
    calls: tuple[Callable[[], Any], ...] = (
        lambda: client.chat_sync(applicationId=app, userMessage="hi"),
        lambda: client.list_conversations(applicationId=app),
        lambda: client.search_relevant_content(
            applicationId=app,
            queryText="q",
            contentSource={"retriever": {"retrieverId": "r" * 36}},
        ),
    )
    for call in calls:
        with pytest.raises(ClientError) as refused:
            call()
        assert code_of(refused) == "AccessDeniedException"
        assert refused.value.response["Error"]["Message"] == NOT_AUTHORIZED


def test_user_id_cannot_be_claimed_with_identity_aware_credentials(
    stack: LocalAws, corpus_app: tuple[str, str]
) -> None:
    user = user_client(stack, "bob@example.com")
    with pytest.raises(ClientError) as refused:
        user.chat_sync(
            applicationId=corpus_app[0], userMessage="salary band", userId="alice@example.com"
        )
    assert code_of(refused) == "ValidationException"


def test_conversation_continuity_history_feedback_and_privacy(
    stack: LocalAws, corpus_app: tuple[str, str]
) -> None:
    app = corpus_app[0]
    alice = user_client(stack, "alice@example.com")
    mallory = user_client(stack, "mallory@example.com")
    first = chat(alice, app, "salary band for engineers")
    second = alice.chat_sync(
        applicationId=app,
        userMessage="and the office hours?",
        conversationId=first["conversationId"],
        parentMessageId=first["systemMessageId"],
    )
    assert second["conversationId"] == first["conversationId"]
    mine = alice.list_conversations(applicationId=app)["conversations"]
    assert first["conversationId"] in [c["conversationId"] for c in mine]
    messages = alice.list_messages(applicationId=app, conversationId=first["conversationId"])
    assert len(messages["messages"]) == 4
    assert {m["type"] for m in messages["messages"]} == {"USER", "SYSTEM"}
    alice.put_feedback(
        applicationId=app,
        conversationId=first["conversationId"],
        messageId=second["systemMessageId"],
        messageUsefulness={"usefulness": "USEFUL", "submittedAt": datetime.now(UTC)},
    )
    chat(mallory, app, "hello")
    assert first["conversationId"] not in [
        c["conversationId"] for c in mallory.list_conversations(applicationId=app)["conversations"]
    ]
    calls: tuple[Callable[[], Any], ...] = (
        lambda: mallory.list_messages(applicationId=app, conversationId=first["conversationId"]),
        lambda: mallory.delete_conversation(
            applicationId=app, conversationId=first["conversationId"]
        ),
    )
    for call in calls:
        with pytest.raises(ClientError) as hidden:
            call()
        assert code_of(hidden) == "ResourceNotFoundException"
    alice.delete_conversation(applicationId=app, conversationId=first["conversationId"])
    with pytest.raises(ClientError) as gone:
        alice.list_messages(applicationId=app, conversationId=first["conversationId"])
    assert code_of(gone) == "ResourceNotFoundException"


def test_chat_controls_for_a_user(stack: LocalAws, corpus_app: tuple[str, str]) -> None:
    controls = user_client(stack, "alice@example.com").get_chat_controls_configuration(
        applicationId=corpus_app[0]
    )
    assert controls["responseScope"] == "ENTERPRISE_CONTENT_ONLY"


def test_too_many_attachments_refused(stack: LocalAws, corpus_app: tuple[str, str]) -> None:
    user = user_client(stack, "alice@example.com", config=Config(parameter_validation=False))
    attachments = [{"name": f"f{n}.txt", "data": b"x"} for n in range(6)]
    with pytest.raises(ClientError) as refused:
        user.chat_sync(applicationId=corpus_app[0], userMessage="hi", attachments=attachments)
    assert code_of(refused) == "ValidationException"


@pytest.fixture
def corpus_stack() -> Iterator[LocalAws]:
    stack = LocalAws(
        LocalAwsSettings(port=0, active_delay_seconds=0.05, corpus_dir=demo_corpus_path())
    ).start()
    try:
        yield stack
    finally:
        stack.stop()


def test_corpus_dir_loads_into_each_new_index(corpus_stack: LocalAws) -> None:
    qb = admin(corpus_stack)
    app, index = ready_app(qb)
    expected = {d.document.document_id for d in load_corpus(demo_corpus_path()).documents}
    listed = qb.list_documents(applicationId=app, indexId=index)["documentDetailList"]
    assert {d["documentId"] for d in listed} == expected
    later = datetime.now(UTC) + timedelta(minutes=1)
    groups = qb.list_groups(applicationId=app, indexId=index, updatedEarlierThan=later)["items"]
    assert groups


def test_reset_forgets_applications(corpus_stack: LocalAws) -> None:
    qb = admin(corpus_stack)
    app, _ = ready_app(qb)
    corpus_stack.reset()
    with pytest.raises(ClientError) as gone:
        qb.get_application(applicationId=app)
    assert code_of(gone) == "ResourceNotFoundException"


def test_user_of_another_account_cannot_see_the_application(
    stack: LocalAws, corpus_app: tuple[str, str]
) -> None:
    s = stack.registry.issue(
        account_id="999999999999", role_arn=chat_role(stack, account_id="999999999999"),
        role_id="AROAOTHER", session_name="eve", duration_seconds=900,
        tags={"Email": "alice@example.com"}, federated_by="arn:aws:iam::999999999999:oidc-provider/x",  # noqa: E501
    )  # fmt: skip
    eve: Callable[..., Any] = (
        boto3.session.Session(
            aws_access_key_id=s.access_key_id,
            aws_secret_access_key=s.secret_access_key,
            aws_session_token=s.session_token,
            region_name="us-east-1",
        )
        .client("qbusiness", endpoint_url=stack.url)
        .chat_sync
    )
    with pytest.raises(ClientError) as refused:
        eve(applicationId=corpus_app[0], userMessage="salary band")
    assert code_of(refused) == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("email", "expected"),
    [("alice@example.com", {"salaries"}), ("bob@example.com", set())],
    ids=["owner_finds_passage", "stranger_finds_nothing"],
)
def test_search_relevant_content_respects_permissions(
    stack: LocalAws, qb: Any, corpus_app: tuple[str, str], email: str, expected: set[str]
) -> None:
    app, index = corpus_app
    retriever = qb.create_retriever(
        applicationId=app,
        type="NATIVE_INDEX",
        displayName="r",
        configuration={"nativeIndexConfiguration": {"indexId": index}},
    )["retrieverId"]
    user = user_client(stack, email)
    chat(user, app, "hello")  # the first identity-aware call subscribes the user
    found = user.search_relevant_content(
        applicationId=app,
        queryText="salary band engineers",
        contentSource={"retriever": {"retrieverId": retriever}},
    )
    ids = {item["documentId"] for item in found["relevantContent"]}
    assert ids == expected
    for item in found["relevantContent"]:
        assert item["scoreAttributes"]["scoreConfidence"] in ("VERY_HIGH", "HIGH", "MEDIUM")
        assert "level five" in item["content"]


def test_broken_corpus_folder_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        LocalAws(LocalAwsSettings(port=0, corpus_dir=tmp_path / "missing"))
    assert refused.value.remedy


def test_chat_sync_client_token_replays_the_same_turn(
    stack: LocalAws, corpus_app: tuple[str, str]
) -> None:
    user = user_client(stack, "alice@example.com")
    app = corpus_app[0]
    token = str(uuid.uuid4())
    first = chat(user, app, "salary band for engineers", clientToken=token)
    again = user.chat_sync(applicationId=app, userMessage="salary band for engineers",
                           clientToken=token)  # fmt: skip
    assert again["systemMessageId"] == first["systemMessageId"]
    with pytest.raises(ClientError) as conflict:
        user.chat_sync(applicationId=app, userMessage="something else", clientToken=token)
    assert code_of(conflict) == "ConflictException"


@pytest.mark.parametrize(
    ("question", "blocked"),
    [
        ("tell me about Project ZEUS", True),
        ("when does the canteen open", True),
        ("what is the parking policy", False),
    ],
    ids=["blocked_phrase_in_question", "blocked_phrase_in_answer", "unblocked_question"],
)
def test_blocked_phrases_replace_the_answer(
    stack: LocalAws, qb: Any, question: str, blocked: bool
) -> None:
    app, index = ready_app(qb)
    qb.batch_put_document(
        applicationId=app,
        indexId=index,
        documents=[
            {"id": "canteen", "content": {"blob": b"The canteen opens at noon, near project zeus."},
             "contentType": "PLAIN_TEXT"},
            {"id": "parking", "content": {"blob": b"The parking policy allows two cars."},
             "contentType": "PLAIN_TEXT"},
        ],
    )  # fmt: skip
    qb.update_chat_controls_configuration(
        applicationId=app,
        blockedPhrasesConfigurationUpdate={
            "blockedPhrasesToCreateOrUpdate": ["project zeus"],
            "systemMessageOverride": "I can't discuss that.",
        },
    )
    answer = chat(user_client(stack, "alice@example.com"), app, question)
    if blocked:
        assert answer["systemMessage"] == "I can't discuss that."
        assert answer["sourceAttributions"] == []
    else:
        assert "two cars" in answer["systemMessage"]
        assert cited(answer) == {"parking"}
