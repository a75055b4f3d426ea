"""``admin docs sync`` against the local stack: sync, zero-write re-sync, dry run, prune,
resume after a half-way failure, S3 content, and what alice, bob and carol then see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from qbizfed.aws.chat import ChatClient
from qbizfed.aws.provision.clients import CallLog
from qbizfed.documents.folder import FolderError, read_folder
from qbizfed.documents.sync import (
    FolderSync,
    SyncOptions,
    SyncResult,
    SyncTarget,
)
from qbizfed.documents.sync_record import FileRecordStore, RecordStore, S3RecordStore
from qbizfed.errors import AwsError
from qbizfed.local.stack import LocalAws
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.support.document_folder import ALL_IDS, VISIBLE, empty_index, write_folder
from tests.support.qbusiness_app import user_qbusiness

FEW_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 2})


@dataclass
class Admin:
    stack: LocalAws
    qb: Any
    s3: Any
    log: CallLog
    app: str
    index: str

    @property
    def target(self) -> SyncTarget:
        return SyncTarget(self.app, self.index)

    def listed(self) -> dict[str, str]:
        pages = self.qb.get_paginator("list_documents").paginate(
            applicationId=self.app, indexId=self.index
        )
        return {d["documentId"]: d["status"] for p in pages for d in p["documentDetailList"]}

    def groups(self) -> set[str]:
        from datetime import UTC, datetime, timedelta

        later = datetime.now(UTC) + timedelta(days=1)
        pages = self.qb.get_paginator("list_groups").paginate(
            applicationId=self.app, indexId=self.index, updatedEarlierThan=later
        )
        return {g["groupName"] for p in pages for g in p["items"]}


def _admin(stack: LocalAws) -> Admin:
    session = boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name=REGION,
    )
    qb = session.client("qbusiness", endpoint_url=stack.url, config=FEW_RETRIES)
    s3 = session.client("s3", endpoint_url=stack.url, config=FEW_RETRIES)
    app, index = empty_index(qb)
    log = CallLog()
    for client in (qb, s3):
        client.meta.events.register("before-call.*.*", log.record)
    return Admin(stack, qb, s3, log, app, index)


@pytest.fixture
def admin(local_aws: LocalAws) -> Admin:
    return _admin(local_aws)


def run_sync(admin: Admin, folder_dir: Path, store: RecordStore, **options: Any) -> SyncResult:
    options.setdefault("poll_seconds", 0.05)
    options.setdefault("timeout_seconds", 20)
    return FolderSync(
        read_folder(folder_dir),
        qbusiness=admin.qb,
        s3=admin.s3,
        target=admin.target,
        store=store,
        options=SyncOptions(**options),
    ).run()


def file_store(tmp_path: Path) -> FileRecordStore:
    return FileRecordStore(str(tmp_path / "state" / "record.json"))


def test_folder_syncs_then_resyncs_with_zero_writes(admin: Admin, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "docs")
    first = run_sync(admin, folder, file_store(tmp_path))
    assert first.ok, first.failures
    assert first.plan.counts("document")["create"] == len(ALL_IDS)
    assert first.plan.counts("group")["create"] == 3
    assert admin.listed() == dict.fromkeys(ALL_IDS, "INDEXED")
    assert admin.groups() == {"engineering", "sre", "finance"}
    sent = [op for _, op in admin.log.mutating]
    assert sent.count("BatchPutDocument") == 1  # 7 documents fit one batch of 10
    assert sent.count("PutGroup") == 3

    admin.log.clear()
    again = run_sync(admin, folder, file_store(tmp_path))
    assert again.ok
    assert again.plan.counts("document")["unchanged"] == len(ALL_IDS)
    assert again.plan.counts("group")["unchanged"] == 3
    assert admin.log.mutating == []
    assert {op for _, op in admin.log.calls} == {"ListDocuments", "ListGroups"}


def test_a_changed_document_alone_is_sent_again(admin: Admin, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "docs")
    assert run_sync(admin, folder, file_store(tmp_path)).ok
    meta = folder / "finance/budget.meta.json"
    meta.write_text(json.dumps({"permissions": {"allow": {"groups": ["finance", "sre"]}}}))
    admin.log.clear()
    result = run_sync(admin, folder, file_store(tmp_path))
    assert result.ok
    assert result.plan.of("document", _action("update")) == ["finance/budget"]
    assert [op for _, op in admin.log.mutating] == ["BatchPutDocument"]


def _action(name: str) -> Any:
    from qbizfed.documents.sync import Action

    return Action(name)


def test_dry_run_shows_the_plan_and_makes_no_mutating_call(admin: Admin, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "docs")
    assert run_sync(admin, folder, file_store(tmp_path)).ok
    (folder / "handbook.md").write_text("# Handbook\n\nZebulon: the office now opens at ten.\n")
    (folder / "new.txt").write_text("A new zebulon note.")
    (folder / "ops/pager.json").unlink()
    admin.log.clear()
    plan = run_sync(admin, folder, file_store(tmp_path), dry_run=True, prune=True)
    assert plan.dry_run
    assert plan.plan.of("document", _action("update")) == ["handbook"]
    assert plan.plan.of("document", _action("create")) == ["new"]
    assert plan.plan.of("document", _action("delete")) == ["ops/pager"]
    assert admin.log.mutating == []
    assert "new" not in admin.listed()


def test_prune_deletes_documents_and_groups_the_folder_no_longer_has(
    admin: Admin, tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "docs")
    assert run_sync(admin, folder, file_store(tmp_path)).ok
    (folder / "ops/pager.json").unlink()
    (folder / "ops/pager.meta.json").unlink()
    groups = json.loads((folder / "groups.json").read_text())
    groups["engineering"]["groups"] = []
    groups["engineering"]["users"].append("carol@example.com")
    del groups["sre"]
    (folder / "groups.json").write_text(json.dumps(groups))
    without_prune = run_sync(admin, folder, file_store(tmp_path))
    assert without_prune.ok
    assert "ops/pager" in admin.listed()
    assert "sre" in admin.groups()
    admin.log.clear()
    pruned = run_sync(admin, folder, file_store(tmp_path), prune=True)
    assert pruned.ok
    assert "ops/pager" not in admin.listed()
    assert admin.groups() == {"engineering", "finance"}
    assert sorted(op for _, op in admin.log.mutating) == ["BatchDeleteDocument", "DeleteGroup"]


class _FailAfterFirstBatch:
    """Progress hook: once the first batch is accepted, BatchPutDocument starts failing."""

    def __init__(self, stack: LocalAws) -> None:
        self.stack = stack
        self.armed = False

    def stage(self, message: str, total: int) -> None:
        self.armed = message == "BatchPutDocument"

    def advance(self, count: int) -> None:
        if self.armed:
            rule = {"kind": "error", "service": "qbusiness", "operation": "BatchPutDocument"}
            httpx.post(f"{self.stack.url}/_qbizfed/faults", json={"rules": [rule]})
            self.armed = False


def test_a_sync_failing_half_way_resumes_without_duplicates(
    fresh_local_aws: LocalAws, tmp_path: Path
) -> None:
    admin = _admin(fresh_local_aws)
    folder = tmp_path / "docs"
    for n in range(25):
        (folder / f"d{n:02d}.txt").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"d{n:02d}.txt").write_text(f"Document {n} about zebulon number {n}.")
    with pytest.raises(AwsError) as broke:
        run_sync(admin, folder, file_store(tmp_path), progress=_FailAfterFirstBatch(admin.stack))
    assert "BatchPutDocument failed" in broke.value.message
    assert len(admin.listed()) == 10  # the first batch made it

    httpx.post(f"{fresh_local_aws.url}/_qbizfed/faults", json={"rules": []})
    sent: list[int] = []
    admin.qb.meta.events.register(
        "provide-client-params.qbusiness.BatchPutDocument",
        lambda params, **_: sent.append(len(params["documents"])),
    )
    resumed = run_sync(admin, folder, file_store(tmp_path))
    assert resumed.ok, resumed.failures
    assert resumed.plan.counts("document")["unchanged"] == 10
    assert resumed.plan.counts("document")["create"] == 15
    assert sum(sent) == 15
    assert admin.listed() == {f"d{n:02d}": "INDEXED" for n in range(25)}


def test_documents_go_through_s3_with_the_record_in_the_bucket(
    admin: Admin, tmp_path: Path
) -> None:
    bucket = "qbz-docs-" + admin.index[:8].lower()
    admin.s3.create_bucket(Bucket=bucket)
    folder = write_folder(tmp_path / "docs")
    store = S3RecordStore(admin.s3, bucket, admin.app, admin.index)
    result = run_sync(admin, folder, store, s3_bucket=bucket)
    assert result.ok, result.failures
    assert admin.listed() == dict.fromkeys(ALL_IDS, "INDEXED")
    keys = {o["Key"] for o in admin.s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"qbizfed-sync/{admin.app}/{admin.index}/record.json" in keys
    assert f"qbizfed-sync/{admin.app}/{admin.index}/documents/finance/forecast.pdf" in keys
    admin.log.clear()
    store_again = S3RecordStore(admin.s3, bucket, admin.app, admin.index)
    assert run_sync(admin, folder, store_again, s3_bucket=bucket).ok
    assert admin.log.mutating == []


def test_each_user_sees_only_what_the_permissions_allow(
    admin: Admin, local_aws: LocalAws, tmp_path: Path
) -> None:
    assert run_sync(admin, write_folder(tmp_path / "docs"), file_store(tmp_path)).ok
    questions = {
        "handbook": "When does the office open at nine?",
        "eng/runbook": "How do I restart the deploy queue?",
        "eng/design": "Do services talk over queues?",
        "finance/budget": "Does the 2027 budget grow by four percent?",
        "finance/forecast": "Does the forecast revenue rise next year?",
        "finance/figures": "What is the zebulon revenue per quarter?",
        "ops/pager": "Who is first in the pager rotation?",
    }
    for email, visible in VISIBLE.items():
        chat = _user_chat(local_aws, admin.app, email)
        for doc_id, question in questions.items():
            turn = chat.conversation().ask(question)
            cited = {c.document_id for c in turn.citations}
            assert cited <= visible, (email, question, cited)
            assert (doc_id in cited) == (doc_id in visible), (email, doc_id, cited)


def _user_chat(stack: LocalAws, app: str, email: str) -> ChatClient:
    """The chat library with identity-aware credentials for ``email`` (chat role policy)."""
    return ChatClient(
        qbusiness=user_qbusiness(stack, email), application_id=app, subscription_backoff=0.05
    )


# ------------------------------------------------------------------ bad input during sync


def test_a_permission_naming_an_unknown_group_is_an_error(admin: Admin, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "docs")
    (folder / "legal.md").write_text("# Legal\n\nZebulon contracts.")
    (folder / "legal.meta.json").write_text(
        json.dumps({"permissions": {"allow": {"groups": ["legal"]}}})
    )
    with pytest.raises(FolderError) as refused:
        run_sync(admin, folder, file_store(tmp_path))
    assert "legal: permissions name group 'legal'" in refused.value.message
    assert "add it to groups.json" in refused.value.message
    assert admin.log.mutating == []


def test_a_group_that_exists_only_in_the_index_is_accepted(admin: Admin, tmp_path: Path) -> None:
    admin.qb.put_group(
        applicationId=admin.app,
        indexId=admin.index,
        groupName="legal",
        type="INDEX",
        groupMembers={"memberUsers": [{"userId": "dan@example.com"}]},
    )
    folder = write_folder(tmp_path / "docs")
    (folder / "legal.md").write_text("# Legal\n\nZebulon contracts.")
    (folder / "legal.meta.json").write_text(
        json.dumps({"permissions": {"allow": {"groups": ["legal"]}}})
    )
    result = run_sync(admin, folder, file_store(tmp_path), prune=True)
    assert result.ok, result.failures
    assert "legal" in admin.groups()  # named by a permission: never pruned


def test_a_document_too_big_to_send_inline_needs_s3(admin: Admin, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "big.txt").write_bytes(b"z" * (6 * 1024 * 1024))
    with pytest.raises(FolderError) as refused:
        run_sync(admin, folder, file_store(tmp_path))
    assert "big.txt" in refused.value.message
    assert "--s3-bucket" in refused.value.message
    assert admin.log.mutating == []


def test_a_document_aws_fails_to_index_is_reported_with_the_reason(
    admin: Admin, tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "docs")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")
    result = run_sync(admin, folder, file_store(tmp_path))
    assert not result.ok
    assert [(f.name, f.stage) for f in result.failures] == [("broken", "indexing")]
    assert "PDF document could not be parsed" in result.failures[0].reason
    assert admin.listed()["handbook"] == "INDEXED"
    retry = run_sync(admin, folder, file_store(tmp_path))
    assert retry.plan.of("document", _action("update")) == ["broken"]  # retried, not forgotten


def test_a_caller_without_the_permission_is_told_which_iam_action_to_add(
    admin: Admin, local_aws: LocalAws, tmp_path: Path
) -> None:
    """Credentials whose policy allows chatting only: sync names the action to grant."""
    chat_only = user_qbusiness(local_aws, "alice@example.com")
    folder = write_folder(tmp_path / "docs")
    with pytest.raises(AwsError) as refused:
        FolderSync(
            read_folder(folder),
            qbusiness=chat_only,
            s3=None,
            target=admin.target,
            store=file_store(tmp_path),
            options=SyncOptions(),
        ).run()
    assert refused.value.code == "AccessDeniedException"
    assert "does not allow qbusiness:ListDocuments" in refused.value.message
    assert refused.value.remedy.startswith("Add qbusiness:ListDocuments to the IAM policy")


def test_doctor_access_check_without_the_permission_names_the_action(
    admin: Admin, local_aws: LocalAws, tmp_path: Path
) -> None:
    from qbizfed.doctor.document_access import check_document_access

    assert run_sync(admin, write_folder(tmp_path / "docs"), file_store(tmp_path)).ok
    with pytest.raises(AwsError) as refused:
        check_document_access(
            user_qbusiness(local_aws, "alice@example.com"),
            application_id=admin.app,
            index_id=admin.index,
            user="alice@example.com",
            document_id="handbook",
        )
    assert "qbusiness:CheckDocumentAccess" in refused.value.remedy


def test_check_document_access_answers_with_the_aws_shapes(admin: Admin, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    assert run_sync(admin, write_folder(tmp_path / "docs"), file_store(tmp_path)).ok
    ids = {"applicationId": admin.app, "indexId": admin.index}
    carol = admin.qb.check_document_access(
        **ids, userId="carol@example.com", documentId="finance/forecast"
    )
    assert carol["hasAccess"] is False
    assert carol["userGroups"] == [
        {"name": "engineering", "type": "INDEX"},
        {"name": "sre", "type": "INDEX"},
    ]
    allow = carol["documentAcl"]["allowlist"]["conditions"][0]
    assert [g["name"] for g in allow["groups"]] == ["finance", "engineering"]
    deny = carol["documentAcl"]["denyList"]["conditions"][0]
    assert deny["users"] == [{"id": "carol@example.com", "type": "INDEX"}]
    public = admin.qb.check_document_access(**ids, userId="x@example.com", documentId="handbook")
    assert public["hasAccess"] is True
    assert public["documentAcl"]["allowlist"]["conditions"] == []
    with pytest.raises(ClientError) as missing:
        admin.qb.check_document_access(**ids, userId="x@example.com", documentId="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_prune_never_deletes_what_another_tool_put(admin: Admin, tmp_path: Path) -> None:
    ids = {"applicationId": admin.app, "indexId": admin.index}
    admin.qb.batch_put_document(
        **ids,
        documents=[
            {"id": "connector/ticket-1", "contentType": "PLAIN_TEXT", "content": {"blob": b"x"}}
        ],
    )
    admin.qb.put_group(
        **ids,
        groupName="from-idp-sync",
        type="INDEX",
        groupMembers={"memberUsers": [{"userId": "dan@example.com"}]},
    )
    result = run_sync(admin, write_folder(tmp_path / "docs"), file_store(tmp_path), prune=True)
    assert result.ok, result.failures
    assert result.plan.of("document", _action("delete")) == []
    assert "connector/ticket-1" in admin.listed()
    assert "from-idp-sync" in admin.groups()
