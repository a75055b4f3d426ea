"""The sync record: what ``admin docs sync`` last put into an index, by hash.

Q Business cannot tell an administrator what a document holds: ListDocuments returns
only id, status, error and times, and no admin API returns a document's attributes
(CheckDocumentAccess returns its ACL, not its content or attributes). So the hash of
each document's content and permissions, which sync also sends as the document
attribute ``qbizfed_sync_hash`` for transparency, is kept in a record next to the
index:

* with ``--s3-bucket``, in S3 at ``qbizfed-sync/<application>/<index>/record.json``
  (shared by every administrator and machine, as durable as the documents);
* otherwise in a private local file (``0600``) under the user's state directory, the
  last resort: another machine re-sends everything once, which is harmless (puts
  replace documents with the same id) but costs calls.

The record is written as batches are accepted (at most once a second, and always when
the sync stops, even by an error), so a sync interrupted half-way resumes where it
stopped; after a hard kill at most a second of batches is sent again, which replaces
those documents with themselves. A record that is lost or stale never causes a wrong skip:
a document is skipped only if the record has its current hash, ListDocuments lists it
as indexed, and the index has not updated it since sync recorded it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from qbizfed.errors import ConfigError

RECORD_VERSION = 1
S3_PREFIX = "qbizfed-sync"


@dataclass(frozen=True)
class RecordedDocument:
    sync_hash: str
    updated_at: str | None = None
    """ListDocuments' updatedAt once indexed (ISO-8601), to notice changes made elsewhere."""


@dataclass
class SyncRecord:
    """Document id -> what was put, group name -> members hash."""

    documents: dict[str, RecordedDocument] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = {
            "version": RECORD_VERSION,
            "documents": {
                k: {"hash": v.sync_hash, "updatedAt": v.updated_at}
                for k, v in sorted(self.documents.items())
            },
            "groups": dict(sorted(self.groups.items())),
        }
        # Compact: json's C encoder (indent would use the pure-Python one, 10x slower).
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> SyncRecord:
        try:
            data = json.loads(raw)
            if data.get("version") != RECORD_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            return cls(
                documents={
                    str(k): RecordedDocument(str(v["hash"]), v.get("updatedAt"))
                    for k, v in data["documents"].items()
                },
                groups={str(k): str(v) for k, v in data["groups"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"The sync record {where} is unreadable ({exc}).",
                remedy="Delete it: the next sync re-sends every document once and rewrites it.",
            ) from exc


class RecordStore(Protocol):
    """Where the record lives."""

    @property
    def location(self) -> str: ...

    def load(self) -> SyncRecord: ...

    def save(self, record: SyncRecord) -> None: ...


def parse_timestamp(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


class S3RecordStore:
    """The record as one S3 object in the sync's bucket."""

    def __init__(self, s3: Any, bucket: str, application_id: str, index_id: str) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.key = f"{S3_PREFIX}/{application_id}/{index_id}/record.json"
        self._saved: bytes | None = None

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> SyncRecord:
        from botocore.exceptions import ClientError

        try:
            raw = self._s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return SyncRecord()
            raise
        self._saved = raw
        return SyncRecord.from_json(raw, self.location)

    def save(self, record: SyncRecord) -> None:
        raw = record.to_json()
        if raw == self._saved:
            return  # unchanged: no write (a re-sync makes zero mutating calls)
        self._s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=raw, ContentType="application/json"
        )
        self._saved = raw


def local_record_path(application_id: str, index_id: str) -> str:
    """``$XDG_STATE_HOME/qbizfed/docs-sync/<application>-<index>.json`` (or the OS's)."""
    import platformdirs

    directory = os.path.join(platformdirs.user_state_dir("qbizfed"), "docs-sync")
    return os.path.join(directory, f"{application_id}-{index_id}.json")


class FileRecordStore:
    """The record as a private local file (when no S3 bucket is given)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._saved: bytes | None = None

    @property
    def location(self) -> str:
        return self.path

    def load(self) -> SyncRecord:
        from qbizfed.creds.securefile import check_private

        # Not read_private: its size cap is for credential caches, a record grows with
        # the folder (about 100 bytes a document).
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return SyncRecord()
        check_private(self.path, st, is_dir=False)
        with open(self.path, "rb") as handle:
            raw = handle.read()
        self._saved = raw
        return SyncRecord.from_json(raw, self.location)

    def save(self, record: SyncRecord) -> None:
        from qbizfed.creds.securefile import ensure_private_dir, write_private

        raw = record.to_json()
        if raw == self._saved:
            return
        ensure_private_dir(os.path.dirname(self.path))
        write_private(self.path, raw)
        self._saved = raw
