"""Attacks on the managed-experience features: opening sources, attachments, presigned links.

Each case builds input that passes every other check (a signed-in user, a real
conversation, valid ids, a correctly signed link) so that only the named defence can
refuse it, and asserts that defence's reason.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore.exceptions import ClientError

from qbizfed.aws.chat import Attachment
from qbizfed.errors import ConfigError
from qbizfed.local.qbusiness.document_content import LinkClaims, links_of
from qbizfed.local.stack import LocalAws
from tests.browser.chat_stack import ChatStack, admin_client_at, running_chat_stack
from tests.integration.test_serve_chat import answered
from tests.integration.test_serve_end_to_end import sign_in_saml
from tests.support.managed_features import (
    ALICE,
    BOB,
    index_of,
    managed_application,
    subscribed_user,
)
from tests.support.qbusiness_app import admin_qbusiness
from tests.unit.test_web_chat_routes import (
    ANSWER_MESSAGE,
    CONVERSATION,
    ChatApp,
    ScriptedQBusiness,
    chat_app,
)


@pytest.fixture
def app(local_aws: LocalAws) -> str:
    return managed_application(local_aws)


# --- the emulator ------------------------------------------------------------------------


def test_attachment_type_the_service_refuses_is_failed_with_the_reason(
    local_aws: LocalAws, app: str
) -> None:
    qb = subscribed_user(local_aws, app, ALICE)
    turn = qb.chat_sync(applicationId=app, userMessage="What does the tool do?", attachments=[
        {"name": "tool.exe", "data": b"MZ\x90\x00 the tool deletes backups"}])  # fmt: skip
    failed = turn["failedAttachments"]
    assert [f["name"] for f in failed] == ["tool.exe"]
    assert failed[0]["status"] == "FAILED"
    assert failed[0]["error"]["errorCode"] == "InvalidRequest"
    assert "file type of tool.exe is not supported" in failed[0]["error"]["errorMessage"]
    assert "deletes backups" not in turn["systemMessage"]  # its text was not used
    assert qb.list_attachments(applicationId=app, conversationId=turn["conversationId"])[
        "attachments"] == []  # fmt: skip


def test_oversized_attachment_is_refused_for_the_whole_call(local_aws: LocalAws, app: str) -> None:
    qb = subscribed_user(local_aws, app, ALICE)
    big = b"a" * (10 * 1024 * 1024 + 1)
    with pytest.raises(ClientError) as refused:
        qb.chat_sync(applicationId=app, userMessage="Summarise it",
                     attachments=[{"name": "big.txt", "data": big}])  # fmt: skip
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "big.txt is 10485761 bytes" in refused.value.response["Error"]["Message"]


def test_oversized_attachment_is_refused_by_the_library_before_sending(tmp_path: object) -> None:
    from pathlib import Path

    big = Path(str(tmp_path)) / "big.txt"
    big.write_bytes(b"a" * (10 * 1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="Q Business accepts at most 10 MB"):
        Attachment.from_path(big)


def test_another_users_document_id_is_refused(local_aws: LocalAws, app: str) -> None:
    bob = subscribed_user(local_aws, app, BOB)
    index = index_of(local_aws, app)
    with pytest.raises(ClientError) as refused:  # exists, right index, only alice may see it
        bob.get_document_content(applicationId=app, indexId=index,
                                 documentId="plans/alice-roadmap")  # fmt: skip
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "not authorized to access the document plans/alice-roadmap" in (
        refused.value.response["Error"]["Message"]
    )


def _link(local_aws: LocalAws, app: str) -> str:
    alice = subscribed_user(local_aws, app, ALICE)
    return str(alice.get_document_content(
        applicationId=app, indexId=index_of(local_aws, app), documentId="plans/alice-roadmap",
    )["presignedUrl"])  # fmt: skip


def test_presigned_link_altered_to_another_document_is_refused(
    local_aws: LocalAws, app: str
) -> None:
    url = _link(local_aws, app)
    base, token = url.rsplit("/", 1)
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims[2] = "bob-budget"  # same user, index, expiry: only the signature can tell
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    response = httpx.get(f"{base}/{forged.decode().rstrip('=')}.{signature}")
    assert response.status_code == 403
    assert "bad signature" in response.text
    assert "four million" not in response.text


def test_expired_presigned_link_is_refused(local_aws: LocalAws, app: str) -> None:
    url = _link(local_aws, app)
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
    claims = LinkClaims(app, index_of(local_aws, app), "plans/alice-roadmap", ALICE, "RAW", past)
    token = links_of(local_aws.qbusiness.state).token(claims)  # correctly signed, expired
    response = httpx.get(url.rsplit("/", 1)[0] + "/" + token)
    assert response.status_code == 403
    assert "expired" in response.text


def test_presigned_link_does_not_outlive_the_users_access(local_aws: LocalAws, app: str) -> None:
    url = _link(local_aws, app)
    admin_qbusiness(local_aws).batch_put_document(
        applicationId=app, indexId=index_of(local_aws, app), documents=[{
            "id": "plans/alice-roadmap", "title": "Roadmap", "contentType": "PLAIN_TEXT",
            "content": {"blob": b"The roadmap launches the falcon project in spring."},
            "accessConfiguration": {"accessControls": [{"principals": [{"user": {
                "id": BOB, "access": "ALLOW", "membershipType": "INDEX"}}]}]},
        }],
    )  # fmt: skip
    response = httpx.get(url)
    assert response.status_code == 403
    assert "no longer available to this user" in response.text


# --- serve's source route -----------------------------------------------------------------


def _citing_service() -> ScriptedQBusiness:
    return ScriptedQBusiness(sources=[{
        "title": "Runbook", "snippet": "Deploy on Tuesdays.", "citationNumber": 1,
        "documentId": "runbook", "indexId": "i" * 36,
    }])  # fmt: skip


@pytest.fixture
def alice_page() -> Iterator[ChatApp]:
    with chat_app(qbusiness=_citing_service()) as made:
        yield made


@pytest.mark.parametrize(
    "path",
    [
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/..%2F..%2Fetc%2Fpasswd",
        f"/chat/source/..%2F{CONVERSATION}/{ANSWER_MESSAGE}/1",
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/1%2F..",
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/0",
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/-1",
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/101",
        f"/chat/source/{CONVERSATION}%00/{ANSWER_MESSAGE}/1",
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE[:-1]}%2E/1",
        f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/1/extra",
    ],
)
def test_path_tricks_in_the_source_route_are_not_found(alice_page: ChatApp, path: str) -> None:
    response = alice_page.client.get(path)
    assert response.status_code == 404
    assert not any(name == "get_document_content" for name, _ in alice_page.qbusiness.calls)


def test_a_citation_number_the_answer_does_not_have_is_refused(alice_page: ChatApp) -> None:
    response = alice_page.client.get(f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/7")
    assert response.status_code == 400
    assert "no source [7] to open" in html.unescape(response.text)
    assert not any(name == "get_document_content" for name, _ in alice_page.qbusiness.calls)


def test_a_source_with_a_url_is_not_fetched_through_serve() -> None:
    service = ScriptedQBusiness()  # its citation has a URL and no document id
    with chat_app(qbusiness=service) as page:
        response = page.client.get(f"/chat/source/{CONVERSATION}/{ANSWER_MESSAGE}/1")
    assert response.status_code == 400
    assert not any(name == "get_document_content" for name, _ in service.calls)


# --- what a document can do in the browser -----------------------------------------------------


@pytest.fixture(scope="module")
def chat_stack() -> Iterator[ChatStack]:
    with running_chat_stack() as running:
        yield running


def test_an_html_document_with_script_is_served_as_an_inert_download(
    chat_stack: ChatStack,
) -> None:
    qb = admin_client_at(chat_stack.aws, "qbusiness")
    app = chat_stack.saml_application_id
    index = qb.list_indices(applicationId=app)["indices"][0]["indexId"]
    hostile = (
        b"<html><body><p>The zeppelin hangar opens at dawn.</p>"
        b"<script>fetch('/account').then(r=>r.text()).then(alert)</script></body></html>"
    )
    document = {"id": "hangar", "title": "Hangar", "contentType": "HTML",
                "content": {"blob": hostile}}  # fmt: skip
    qb.batch_put_document(applicationId=app, indexId=index, documents=[document])
    with httpx.Client(timeout=30) as browser:
        sign_in_saml(chat_stack, browser, "bob")  # type: ignore[arg-type]
        _, page = answered(chat_stack, browser, "When does the zeppelin hangar open?")
        link = re.search(r'href="(/chat/source/[^"]+)"', page)
        assert link is not None, page[:3000]
        served = browser.get(chat_stack.url + html.unescape(link.group(1)))
    assert served.status_code == 200
    assert served.content == hostile  # the document, unchanged...
    assert served.headers["content-type"] == "application/octet-stream"  # ...but never HTML
    assert served.headers["content-disposition"].startswith("attachment;")
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("sandbox;")
