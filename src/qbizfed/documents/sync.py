"""``qbizfed admin docs sync``: make an index hold exactly what a document folder says.

1. **Observe** (read calls only): the sync record (see :mod:`.sync_record`),
   ListDocuments and ListGroups.
2. **Plan**: every document is *create*, *update* (with the reason) or *unchanged*;
   with ``prune``, documents and groups the folder no longer has are *delete*. A
   document is unchanged only if the record holds its current hash, the index lists it
   as indexed (or still being indexed, sent by a sync that stopped early: it is waited
   for), and the index has not updated it since sync recorded it. Prune only
   deletes what the record says sync put, never a connector's or another tool's. ``dry_run``
   stops here: no mutating call is made.
3. **Apply**: PutGroup for new or changed groups (member groups first), then
   BatchPutDocument in batches within AWS's limits (at most 10 documents; inline
   content at most 5 MB per batch; larger documents need ``--s3-bucket``: with it every
   document is uploaded to S3 and sent as an S3 reference). The record is written after
   accepted batches (at most once a second, and when the sync stops, even by an
   error), so an interrupted sync resumes without sending twice; ids
   come from paths, so a resend replaces, it never duplicates.
4. **Wait** until every sent document reaches a final status in ListDocuments
   (INDEXED/UPDATED, or FAILED with AWS's reason) or the timeout passes.
5. **Prune**: BatchDeleteDocument and DeleteGroup.

Every document AWS refuses (``failedDocuments``) or fails to index is reported with
AWS's reason; none is dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from qbizfed.aws.denied_calls import call
from qbizfed.documents.folder import (
    DocumentFolder,
    FolderDocument,
    FolderError,
    FolderGroup,
    unknown_group_error,
)
from qbizfed.documents.sync_record import (
    S3_PREFIX,
    RecordedDocument,
    RecordStore,
    SyncRecord,
    parse_timestamp,
)
from qbizfed.errors import ConfigError

MAX_BATCH_DOCUMENTS = 10
"""BatchPutDocument's ``documents`` list holds 1 to 10 documents (API model)."""
MAX_INLINE_BATCH_BYTES = 5 * 1024 * 1024
"""Inline content per BatchPutDocument call (see docs/aws-facts.md)."""
MAX_DELETE_BATCH = 10
RECORD_SAVE_SECONDS = 1.0
"""Write the record at most this often while sending (and always at the end)."""
FINAL_OK = frozenset({"INDEXED", "UPDATED"})
FINAL_FAILED = frozenset({"FAILED", "DOCUMENT_FAILED_TO_INDEX"})


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"


@dataclass(frozen=True)
class SyncTarget:
    application_id: str
    index_id: str


@dataclass(frozen=True)
class IndexedEntry:
    """A document as ListDocuments reports it."""

    document_id: str
    status: str
    error: str | None
    updated_at: str | None


@dataclass(frozen=True)
class Change:
    """What sync does to one document or group, and why."""

    kind: str  # "document" | "group"
    name: str
    action: Action
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SyncPlan:
    changes: tuple[Change, ...]

    def of(self, kind: str, action: Action) -> list[str]:
        return [c.name for c in self.changes if c.kind == kind and c.action is action]

    def counts(self, kind: str) -> dict[str, int]:
        return {a.value: len(self.of(kind, a)) for a in Action}

    @property
    def writes(self) -> int:
        return sum(1 for c in self.changes if c.action is not Action.UNCHANGED)


@dataclass(frozen=True)
class Failure:
    """A document or group AWS did not take, with AWS's reason."""

    name: str
    stage: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "stage": self.stage, "reason": self.reason}


@dataclass(frozen=True)
class SyncResult:
    plan: SyncPlan
    failures: tuple[Failure, ...]
    record_location: str
    dry_run: bool
    pending: tuple[str, ...] = ()
    """Documents still not in a final status when the wait timed out."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.pending

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "documents": self.plan.counts("document"),
            "groups": self.plan.counts("group"),
            "changes": [c.as_dict() for c in self.plan.changes if c.action is not Action.UNCHANGED],
            "failures": [f.as_dict() for f in self.failures],
            "pending": list(self.pending),
            "record": self.record_location,
        }


class SyncProgress(Protocol):
    def stage(self, message: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class QuietProgress:
    def stage(self, message: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@dataclass
class SyncOptions:
    s3_bucket: str | None = None
    s3_role_arn: str | None = None
    prune: bool = False
    dry_run: bool = False
    hash_attribute: bool = True
    """Also send the hash as the ``qbizfed_sync_hash`` attribute (for transparency)."""
    timeout_seconds: float = 900.0
    poll_seconds: float = 2.0
    progress: SyncProgress = field(default_factory=QuietProgress)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def _paginate(client: Any, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        doing = client.meta.method_to_api_mapping.get(method, method)
        page = call(client, method, doing, **kwargs, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def observe_documents(qbusiness: Any, target: SyncTarget) -> dict[str, IndexedEntry]:
    """Every document of the index, as ListDocuments reports it."""
    entries = {}
    for item in _paginate(
        qbusiness,
        "list_documents",
        "documentDetailList",
        applicationId=target.application_id,
        indexId=target.index_id,
        maxResults=100,
    ):
        error = item.get("error") or {}
        entries[str(item["documentId"])] = IndexedEntry(
            document_id=str(item["documentId"]),
            status=str(item.get("status", "")),
            error=error.get("errorMessage") or error.get("errorCode"),
            updated_at=parse_timestamp(item.get("updatedAt")),
        )
    return entries


def observe_groups(qbusiness: Any, target: SyncTarget) -> set[str]:
    later = datetime.now(UTC) + timedelta(days=1)
    return {
        str(g["groupName"])
        for g in _paginate(
            qbusiness,
            "list_groups",
            "items",
            applicationId=target.application_id,
            indexId=target.index_id,
            updatedEarlierThan=later,
        )
    }


def _document_change(
    doc: FolderDocument, record: SyncRecord, indexed: Mapping[str, IndexedEntry]
) -> Change:
    entry = indexed.get(doc.document_id)
    recorded = record.documents.get(doc.document_id)
    if entry is None:
        return Change("document", doc.document_id, Action.CREATE, "new")
    if entry.status in FINAL_FAILED:
        return Change(
            "document",
            doc.document_id,
            Action.UPDATE,
            f"{entry.status} in the index: {entry.error or 'no reason given'}",
        )
    if recorded is None:
        return Change("document", doc.document_id, Action.UPDATE, "not in the sync record")
    if recorded.sync_hash != doc.sync_hash:
        return Change("document", doc.document_id, Action.UPDATE, "content or permissions changed")
    if entry.status not in FINAL_OK:
        # Sent with this content by an earlier sync that stopped before it was indexed:
        # sending it again would only duplicate the work; this sync waits for it instead.
        return Change(
            "document", doc.document_id, Action.UNCHANGED, f"{entry.status}: being indexed"
        )
    if recorded.updated_at is not None and entry.updated_at != recorded.updated_at:
        return Change(
            "document", doc.document_id, Action.UPDATE, "changed in the index since the last sync"
        )
    return Change("document", doc.document_id, Action.UNCHANGED)


def plan_sync(
    folder: DocumentFolder,
    record: SyncRecord,
    indexed: Mapping[str, IndexedEntry],
    service_groups: set[str],
    *,
    prune: bool,
) -> SyncPlan:
    """The changes that make the index match the folder (pure)."""
    changes: list[Change] = []
    folder_groups = {g.name for g in folder.groups}
    for group in folder.groups:
        if group.name not in service_groups:
            changes.append(Change("group", group.name, Action.CREATE, "new"))
        elif record.groups.get(group.name) != group.sync_hash:
            changes.append(Change("group", group.name, Action.UPDATE, "members changed"))
        else:
            changes.append(Change("group", group.name, Action.UNCHANGED))
    if prune:
        # Only what sync put (the record's): groups and documents of connectors or other
        # tools in the same index are never deleted.
        managed_groups = service_groups & set(record.groups)
        for name in sorted(managed_groups - folder_groups - set(folder.unknown_groups)):
            changes.append(Change("group", name, Action.DELETE, "not in groups.json"))
    changes += [_document_change(doc, record, indexed) for doc in folder.documents]
    if prune:
        ids = {d.document_id for d in folder.documents}
        for doc_id in sorted((set(indexed) & set(record.documents)) - ids):
            changes.append(Change("document", doc_id, Action.DELETE, "not in the folder"))
    return SyncPlan(tuple(changes))


def check_unknown_groups(folder: DocumentFolder, service_groups: set[str]) -> None:
    """A permission may name a group groups.json lacks only if the index has it."""
    missing = {g: ids for g, ids in folder.unknown_groups.items() if g not in service_groups}
    if missing:
        raise unknown_group_error(missing, where="the index")


def _members_first(groups: Sequence[FolderGroup]) -> list[FolderGroup]:
    by_name = {g.name: g for g in groups}
    ordered: list[FolderGroup] = []
    done: set[str] = set()

    def visit(group: FolderGroup, path: tuple[str, ...]) -> None:
        if group.name in done or group.name in path:
            return
        for sub in group.groups:
            if sub in by_name:
                visit(by_name[sub], (*path, group.name))
        done.add(group.name)
        ordered.append(group)

    for group in groups:
        visit(group, ())
    return ordered


def _batches(docs: Sequence[FolderDocument], *, inline: bool) -> Iterator[list[FolderDocument]]:
    batch: list[FolderDocument] = []
    size = 0
    for doc in docs:
        weight = doc.size if inline else 0
        if batch and (len(batch) == MAX_BATCH_DOCUMENTS or size + weight > MAX_INLINE_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += weight
    if batch:
        yield batch


def _check_inline_sizes(docs: Sequence[FolderDocument]) -> None:
    big = [d for d in docs if d.size > MAX_INLINE_BATCH_BYTES]
    if big:
        raise FolderError(
            [
                f"{d.path.name}: {d.size} bytes is more than the {MAX_INLINE_BATCH_BYTES} bytes "
                "sent inline in one request: pass --s3-bucket BUCKET to send it through S3"
                for d in big
            ]
        )


class FolderSync:
    """One sync of a folder into one index (see the module docstring)."""

    def __init__(
        self,
        folder: DocumentFolder,
        *,
        qbusiness: Any,
        s3: Any | None,
        target: SyncTarget,
        store: RecordStore,
        options: SyncOptions,
    ) -> None:
        if options.s3_bucket and s3 is None:
            raise ConfigError("An S3 client is needed with --s3-bucket.", remedy="internal")
        self.folder = folder
        self.qb = qbusiness
        self.s3 = s3
        self.target = target
        self.store = store
        self.options = options
        self.failures: list[Failure] = []

    @property
    def _ids(self) -> dict[str, str]:
        return {"applicationId": self.target.application_id, "indexId": self.target.index_id}

    def run(self) -> SyncResult:
        record = self.store.load()
        indexed = observe_documents(self.qb, self.target)
        service_groups = observe_groups(self.qb, self.target)
        check_unknown_groups(self.folder, service_groups)
        plan = plan_sync(self.folder, record, indexed, service_groups, prune=self.options.prune)
        by_id = {d.document_id: d for d in self.folder.documents}
        to_send = [by_id[n] for a in (Action.CREATE, Action.UPDATE) for n in plan.of("document", a)]
        if not self.options.s3_bucket:
            _check_inline_sizes(to_send)
        if self.options.dry_run:
            return SyncResult(plan, (), self.store.location, dry_run=True)
        try:
            self._put_groups(plan, record)
            sent = self._put_documents(to_send, record, indexed)
            being_indexed = {
                n: None
                for n in plan.of("document", Action.UNCHANGED)
                if indexed[n].status not in FINAL_OK
            }
            pending = self._wait({**being_indexed, **sent}, record)
            self._prune(plan, record)
        finally:
            self.store.save(record)  # what was done, even when a call failed half-way
        return SyncResult(
            plan, tuple(self.failures), self.store.location, dry_run=False, pending=tuple(pending)
        )

    def _put_groups(self, plan: SyncPlan, record: SyncRecord) -> None:
        names = set(plan.of("group", Action.CREATE)) | set(plan.of("group", Action.UPDATE))
        groups = [g for g in _members_first(self.folder.groups) if g.name in names]
        if not groups:
            return
        self.options.progress.stage("PutGroup", len(groups))
        for group in groups:
            call(
                self.qb,
                "put_group",
                f"PutGroup {group.name}",
                **self._ids,
                groupName=group.name,
                type="INDEX",
                groupMembers=group.to_wire(),
            )
            record.groups[group.name] = group.sync_hash
            self.options.progress.advance(1)
        self.store.save(record)

    def _content(self, doc: FolderDocument) -> dict[str, Any]:
        if not self.options.s3_bucket:
            return {"blob": doc.read()}
        key = f"{S3_PREFIX}/{self.target.application_id}/{self.target.index_id}/documents/" + (
            doc.path.relative_to(self.folder.root).as_posix()
        )
        call(
            self.s3,
            "put_object",
            f"Uploading {doc.document_id} to S3",
            Bucket=self.options.s3_bucket,
            Key=key,
            Body=doc.read(),
        )
        return {"s3": {"bucket": self.options.s3_bucket, "key": key}}

    def _entry(self, doc: FolderDocument) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": doc.document_id,
            "title": doc.title,
            "contentType": doc.content_type,
            "content": self._content(doc),
            "attributes": doc.wire_attributes(with_hash=self.options.hash_attribute),
        }
        if doc.permissions is not None:
            entry["accessConfiguration"] = doc.permissions.to_wire()
        return entry

    def _put_documents(
        self,
        docs: Sequence[FolderDocument],
        record: SyncRecord,
        indexed: Mapping[str, IndexedEntry],
    ) -> dict[str, str | None]:
        """Send ``docs``; the accepted ones -> their updatedAt before this sync (None: new)."""
        sent: dict[str, str | None] = {}
        if not docs:
            return sent
        self.options.progress.stage("BatchPutDocument", len(docs))
        extra = {"roleArn": self.options.s3_role_arn} if self.options.s3_role_arn else {}
        saved_at = self.options.clock()
        for batch in _batches(docs, inline=not self.options.s3_bucket):
            result = call(
                self.qb,
                "batch_put_document",
                "BatchPutDocument",
                **self._ids,
                documents=[self._entry(d) for d in batch],
                **extra,
            )
            refused = {
                str(f.get("id")): f.get("error") or {} for f in result.get("failedDocuments", [])
            }
            for doc in batch:
                error = refused.get(doc.document_id)
                if error is not None:
                    reason = f"{error.get('errorCode', '')}: {error.get('errorMessage', '')}"
                    self.failures.append(Failure(doc.document_id, "BatchPutDocument", reason))
                    record.documents.pop(doc.document_id, None)
                    continue
                previous = indexed.get(doc.document_id)
                sent[doc.document_id] = previous.updated_at if previous else None
                record.documents[doc.document_id] = RecordedDocument(doc.sync_hash)
            if self.options.clock() - saved_at >= RECORD_SAVE_SECONDS:
                self.store.save(record)
                saved_at = self.options.clock()
            self.options.progress.advance(len(batch))
        return sent

    def _wait(self, sent: dict[str, str | None], record: SyncRecord) -> list[str]:
        waiting = dict(sent)
        if not waiting:
            return []
        self.options.progress.stage("Waiting for indexing", len(waiting))
        deadline = self.options.clock() + self.options.timeout_seconds
        while True:
            for doc_id, entry in observe_documents(self.qb, self.target).items():
                if doc_id not in waiting:
                    continue
                fresh = waiting[doc_id] is None or entry.updated_at != waiting[doc_id]
                if not fresh:
                    continue
                if entry.status in FINAL_OK:
                    recorded = record.documents.get(doc_id)
                    if recorded is not None:
                        record.documents[doc_id] = RecordedDocument(
                            recorded.sync_hash, entry.updated_at
                        )
                elif entry.status in FINAL_FAILED:
                    reason = f"{entry.status}: {entry.error or 'no reason given'}"
                    self.failures.append(Failure(doc_id, "indexing", reason))
                    record.documents.pop(doc_id, None)
                else:
                    continue
                del waiting[doc_id]
                self.options.progress.advance(1)
            if not waiting or self.options.clock() >= deadline:
                break
            self.options.sleep(self.options.poll_seconds)
        for doc_id in sorted(waiting):
            self.failures.append(
                Failure(
                    doc_id,
                    "indexing",
                    f"not indexed after {self.options.timeout_seconds:g} s; run sync again later",
                )
            )
        return sorted(waiting)

    def _prune(self, plan: SyncPlan, record: SyncRecord) -> None:
        doomed = plan.of("document", Action.DELETE)
        if doomed:
            self.options.progress.stage("BatchDeleteDocument", len(doomed))
        for start in range(0, len(doomed), MAX_DELETE_BATCH):
            batch = doomed[start : start + MAX_DELETE_BATCH]
            result = call(
                self.qb,
                "batch_delete_document",
                "BatchDeleteDocument",
                **self._ids,
                documents=[{"documentId": d} for d in batch],
            )
            refused = {
                str(f.get("id")): f.get("error") or {} for f in result.get("failedDocuments", [])
            }
            for doc_id in batch:
                error = refused.get(doc_id)
                if error is not None:
                    reason = f"{error.get('errorCode', '')}: {error.get('errorMessage', '')}"
                    self.failures.append(Failure(doc_id, "BatchDeleteDocument", reason))
                else:
                    record.documents.pop(doc_id, None)
            self.store.save(record)
            self.options.progress.advance(len(batch))
        for name in plan.of("group", Action.DELETE):
            call(self.qb, "delete_group", f"DeleteGroup {name}", **self._ids, groupName=name)
            record.groups.pop(name, None)
