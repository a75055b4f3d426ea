"""``qbizfed admin docs sync`` on 1,000 generated documents: throughput and re-sync cost.

Against ``qbizfed local aws`` (in process, loopback HTTP): a folder of ``--docs``
Markdown documents, each with a sidecar (attributes, permissions on one of ten nested
groups). Two measures:

* **throughput** (documents/s) of a first sync into an empty index, everything
  included (reading the folder, planning, PutGroup, BatchPutDocument in batches of 10,
  the sync record, waiting for INDEXED), against the **baseline**: the same documents
  put with bare boto3 BatchPutDocument batches of 10 (no plan, no record, no wait),
  what a hand-written script does. Phases alternate (baseline, sync, baseline, sync),
  each into a fresh index, so both see the same machine load.
* **re-sync cost**: the calls a second sync of the unchanged folder makes (goal: 0
  mutating), against the baseline script's calls, which re-sends everything each run.

Run: ``.venv/bin/python -m bench.docs_sync [--docs 1000] [--phases 2]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.stack import REGION, admin_session
from qbizfed.aws.provision import CallLog
from qbizfed.documents.folder import DocumentFolder, read_folder
from qbizfed.documents.sync import FolderSync, SyncOptions, SyncTarget
from qbizfed.documents.sync_record import FileRecordStore
from qbizfed.local.stack import LocalAws, LocalAwsSettings

GROUPS = 10
WORDS = (
    "policy", "budget", "deploy", "vacation", "expense", "laptop", "badge", "oncall",
    "runbook", "design", "forecast", "travel", "parking", "security", "review",
)  # fmt: skip


@dataclass(frozen=True)
class DocsSyncResult:
    docs: int
    phases: int
    sync_docs_per_second: float
    baseline_docs_per_second: float
    first_sync_calls: int
    resync_calls: int
    resync_mutating_calls: int
    resync_seconds: float
    baseline_calls_per_run: int

    @property
    def throughput_ratio(self) -> float:
        return self.sync_docs_per_second / self.baseline_docs_per_second

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "throughput_ratio": self.throughput_ratio}


def write_folder(root: Path, docs: int) -> Path:
    groups = {
        f"team{g}": {
            "users": [f"user{g}@example.com"],
            "groups": [f"team{g + 1}"] if g + 1 < GROUPS else [],
        }
        for g in range(GROUPS)
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "groups.json").write_text(json.dumps(groups))
    for n in range(docs):
        folder = root / f"area{n % 20:02d}"
        folder.mkdir(exist_ok=True)
        words = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(60))
        (folder / f"doc{n:05d}.md").write_text(f"# Document {n}\n\n{words}\n")
        meta = {
            "attributes": {"number": n, "area": f"area{n % 20}"},
            "permissions": {"allow": {"groups": [f"team{n % GROUPS}"]}},
        }
        (folder / f"doc{n:05d}.meta.json").write_text(json.dumps(meta))
    return root


def _fresh_index(qb: Any) -> SyncTarget:
    app = qb.create_application(
        displayName="bench" + uuid.uuid4().hex[:8],
        identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn="arn:aws:iam::123456789012:oidc-provider/x",
        clientIdsForOIDC=["c"],
    )["applicationId"]
    index = qb.create_index(applicationId=app, displayName="docs")["indexId"]
    while qb.get_index(applicationId=app, indexId=index)["status"] != "ACTIVE":
        time.sleep(0.01)
    return SyncTarget(app, index)


def _baseline(qb: Any, target: SyncTarget, folder: DocumentFolder) -> int:
    """Bare BatchPutDocument, 10 at a time; returns the calls made."""
    calls = 0
    docs = list(folder.documents)
    for start in range(0, len(docs), 10):
        batch = [
            {
                "id": d.document_id,
                "title": d.title,
                "contentType": d.content_type,
                "content": {"blob": d.read()},
                "attributes": d.wire_attributes(),
                "accessConfiguration": d.permissions.to_wire() if d.permissions else None,
            }
            for d in docs[start : start + 10]
        ]
        for entry in batch:
            if entry["accessConfiguration"] is None:
                del entry["accessConfiguration"]
        qb.batch_put_document(
            applicationId=target.application_id, indexId=target.index_id, documents=batch
        )
        calls += 1
    return calls


def run(*, docs: int, phases: int) -> DocsSyncResult:
    with (
        LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.0)) as aws,
        tempfile.TemporaryDirectory() as tmp,
    ):
        qb = admin_session().client("qbusiness", endpoint_url=aws.url, region_name=REGION)
        log = CallLog()
        qb.meta.events.register("before-call.*.*", log.record)
        root = write_folder(Path(tmp) / "docs", docs)
        sync_rates: list[float] = []
        base_rates: list[float] = []
        baseline_calls = first_calls = 0
        last: tuple[SyncTarget, FileRecordStore] | None = None
        for phase in range(phases):
            target = _fresh_index(qb)
            started = time.perf_counter()
            baseline_calls = _baseline(qb, target, read_folder(root))
            base_rates.append(docs / (time.perf_counter() - started))

            target = _fresh_index(qb)
            store = FileRecordStore(str(Path(tmp) / f"record{phase}.json"))
            log.clear()
            started = time.perf_counter()
            result = FolderSync(
                read_folder(root),
                qbusiness=qb,
                s3=None,
                target=target,
                store=store,
                options=SyncOptions(poll_seconds=0.05),
            ).run()
            sync_rates.append(docs / (time.perf_counter() - started))
            assert result.ok, result.failures[:3]
            first_calls = len(log.calls)
            last = (target, store)
        assert last is not None
        log.clear()
        started = time.perf_counter()
        again = FolderSync(
            read_folder(root),
            qbusiness=qb,
            s3=None,
            target=last[0],
            store=FileRecordStore(last[1].path),
            options=SyncOptions(),
        ).run()
        resync_seconds = time.perf_counter() - started
        assert again.ok
    return DocsSyncResult(
        docs=docs,
        phases=phases,
        sync_docs_per_second=statistics.median(sync_rates),
        baseline_docs_per_second=statistics.median(base_rates),
        first_sync_calls=first_calls,
        resync_calls=len(log.calls),
        resync_mutating_calls=len(log.mutating),
        resync_seconds=resync_seconds,
        baseline_calls_per_run=baseline_calls,
    )


def describe(result: DocsSyncResult) -> list[str]:
    return [
        f"admin docs sync, {result.docs} documents ({result.phases} alternating phases)",
        f"  first sync: {result.sync_docs_per_second:.0f} documents/s (plan, groups, batches, "
        f"record, wait for INDEXED), {result.first_sync_calls} calls",
        f"  baseline (bare BatchPutDocument x10): {result.baseline_docs_per_second:.0f} "
        f"documents/s, {result.baseline_calls_per_run} calls every run",
        f"  re-sync of the unchanged folder: {result.resync_calls} calls "
        f"({result.resync_mutating_calls} mutating) in {result.resync_seconds * 1000:.0f} ms",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--phases", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(docs=args.docs, phases=args.phases)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print("\n".join(describe(result)))


if __name__ == "__main__":
    main()
