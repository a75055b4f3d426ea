"""A document folder with permissions and nested groups, and an empty index to sync it into.

Who sees what (``groups.json``: engineering = alice + group sre; sre = carol;
finance = bob):

=========================  =====  ===  =====
document                   alice  bob  carol
=========================  =====  ===  =====
handbook (public .md)        x     x     x
eng/runbook (engineering)    x           x    (carol through the nested group sre)
eng/design (.html, eng)      x           x
finance/budget (finance)           x
finance/forecast (.pdf)      x     x          (finance + engineering, carol denied by name)
finance/figures.csv          x     x          (finance + alice by name)
ops/pager.json (sre)                     x
=========================  =====  ===  =====
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.pdf import text_pdf

GROUPS = {
    "engineering": {"users": ["alice@example.com"], "groups": ["sre"]},
    "sre": {"users": ["carol@example.com"]},
    "finance": {"users": ["bob@example.com"]},
}

VISIBLE = {
    "alice@example.com": {
        "handbook",
        "eng/runbook",
        "eng/design",
        "finance/forecast",
        "finance/figures",
    },
    "bob@example.com": {"handbook", "finance/budget", "finance/forecast", "finance/figures"},
    "carol@example.com": {"handbook", "eng/runbook", "eng/design", "ops/pager"},
}


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def _meta(path: Path, **meta: Any) -> None:
    _write(path, json.dumps(meta))


def write_folder(root: Path) -> Path:
    """The folder of the table above; every document mentions the word "zebulon"."""
    _write(root / "groups.json", json.dumps(GROUPS))
    _write(root / "handbook.md", "# Handbook\n\nZebulon handbook: the office opens at nine.\n")
    _write(root / "eng/runbook.md", "# Runbook\n\nZebulon runbook: restart the deploy queue.\n")
    _meta(
        root / "eng/runbook.meta.json",
        permissions={"allow": {"groups": ["engineering"]}},
        attributes={"team": "platform", "tags": ["ops", "deploy"], "revision": 7},
        url="https://intranet.example.com/runbook",
    )
    _write(
        root / "eng/design.html",
        "<html><head><title>Design</title><script>var zebulon_secret=1;</script></head>"
        "<body><h1>Design</h1><p>Zebulon design: services talk over queues.</p></body></html>",
    )
    _meta(
        root / "eng/design.meta.json",
        title="Design notes",
        permissions={"allow": {"groups": ["engineering"]}},
        attributes={"reviewed": {"date": "2026-01-10T00:00:00Z"}},
    )
    _write(root / "finance/budget.md", "# Budget\n\nZebulon budget: 2027 grows by four percent.\n")
    _meta(root / "finance/budget.meta.json", permissions={"allow": {"groups": ["finance"]}})
    _write(root / "finance/forecast.pdf", text_pdf("Zebulon forecast revenue rises next year"))
    _meta(
        root / "finance/forecast.meta.json",
        permissions={
            "allow": {"groups": ["finance", "engineering"]},
            "deny": {"users": ["carol@example.com"]},
        },
    )
    _write(root / "finance/figures.csv", "quarter,zebulon revenue\nQ1,10\nQ2,12\n")
    _meta(
        root / "finance/figures.meta.json",
        permissions={"allow": {"groups": ["finance"], "users": ["alice@example.com"]}},
    )
    _write(root / "ops/pager.json", json.dumps({"zebulon": "pager rotation: carol first"}))
    _meta(root / "ops/pager.meta.json", permissions={"allow": {"groups": ["sre"]}})
    return root


ALL_IDS = set().union(*VISIBLE.values())


def empty_index(qb: Any) -> tuple[str, str]:
    """An ACTIVE auto-subscribing OIDC application with an empty index and a retriever."""
    app = qb.create_application(
        displayName="docs" + uuid.uuid4().hex[:8],
        identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn="arn:aws:iam::123456789012:oidc-provider/idp.example.com",
        clientIdsForOIDC=["client-1"],
    )["applicationId"]
    index = qb.create_index(applicationId=app, displayName="docs")["indexId"]
    deadline = time.monotonic() + 10
    while (
        qb.get_application(applicationId=app)["status"] != "ACTIVE"
        or qb.get_index(applicationId=app, indexId=index)["status"] != "ACTIVE"
    ):
        assert time.monotonic() < deadline, "application never became ACTIVE"
        time.sleep(0.05)
    qb.update_application(
        applicationId=app,
        autoSubscriptionConfiguration={
            "autoSubscribe": "ENABLED",
            "defaultSubscriptionType": "Q_BUSINESS",
        },
    )
    qb.create_retriever(
        applicationId=app,
        type="NATIVE_INDEX",
        displayName="docs",
        configuration={"nativeIndexConfiguration": {"indexId": index}},
    )
    return str(app), str(index)
