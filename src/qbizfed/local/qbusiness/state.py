"""In-memory state of the Q Business emulator: resources, tags, idempotency, subscriptions.

Resource status is computed lazily from the time of the last change (CREATING or
UPDATING until ``active_delay_seconds`` have passed, then the settled status), so no
background thread is needed and tests can control the clock.

The data-plane engineer's modules keep their own state (documents, groups,
conversations); ``EmulatorState.extensions`` holds those per index/application.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


def new_id() -> str:
    """A 36-character id in the shape of Q Business ids (a UUID)."""
    return str(uuid.uuid4())


def random_host_label(length: int = 8) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Resource:
    """One application, index, retriever or web experience (mutable emulator state)."""

    kind: str
    """"application", "index", "retriever" or "web-experience" (the ARN's resource type)."""
    resource_id: str
    arn: str
    account_id: str
    region: str
    application_id: str
    attrs: dict[str, Any]
    """Input members as the caller gave them (model member names, Python values)."""
    created_at: datetime
    updated_at: datetime
    pending_status: str
    settles_at: datetime
    settled_status: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)
    parent_id: str | None = None

    def status(self, now: datetime) -> str:
        return self.pending_status if now < self.settles_at else self.settled_status

    def change(self, now: datetime, pending: str, delay: timedelta) -> None:
        self.updated_at = now
        self.pending_status = pending
        self.settles_at = now + delay


@dataclass
class Subscription:
    subscription_id: str
    arn: str
    application_id: str
    principal: dict[str, str]
    current_type: str
    next_type: str | None
    started_at: datetime
    cancelled: bool = False


def fingerprint(params: dict[str, Any]) -> str:
    """A stable digest of an operation's input without its ``clientToken``."""
    material = {k: v for k, v in params.items() if k != "clientToken"}
    text = json.dumps(material, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


DEFAULT_APPLICATION_QUOTA = 50
"""AWS's default quota of Q Business applications per account and region."""


class EmulatorState:
    """Everything the emulator remembers; guarded by one re-entrant lock."""

    def __init__(
        self, *, active_delay_seconds: float, application_quota: int = DEFAULT_APPLICATION_QUOTA
    ) -> None:
        self.lock = threading.RLock()
        self.delay = timedelta(seconds=active_delay_seconds)
        self.application_quota = application_quota
        """Applications per account and region (AWS's default quota, adjustable there too)."""
        self.resources: dict[str, Resource] = {}
        """By resource id (ids are UUIDs, unique across kinds)."""
        self.idempotency: dict[tuple[str, ...], tuple[str, dict[str, Any]]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.extensions: dict[str, Any] = {}
        self.index_created_hooks: list[Callable[[Any, Resource], None]] = []
        """Called (under the lock) with ``(ctx, index)`` after CreateIndex (corpus loading)."""
        self.index_deleted_hooks: list[Callable[[Any, Resource], None]] = []
        """Called (under the lock) with ``(ctx, index)`` after DeleteIndex."""
        self.index_statistics: Callable[[Any, Resource], dict[str, Any]] | None = None
        """Reports an index's document statistics, when the data plane is wired."""

    def reset(self) -> None:
        with self.lock:
            self.resources.clear()
            self.idempotency.clear()
            self.subscriptions.clear()
            self.extensions.clear()

    def by_arn(self, arn: str) -> Resource | None:
        for resource in self.resources.values():
            if resource.arn == arn:
                return resource
        return None

    def children(self, application_id: str, kind: str) -> list[Resource]:
        return [
            r
            for r in self.resources.values()
            if r.application_id == application_id and r.kind == kind
        ]
