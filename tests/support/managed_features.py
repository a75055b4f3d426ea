"""A local application for the managed web experience's features: who may open what.

alice may open the handbook and the alice-only plan, bob the handbook and the
bob-only budget, carol only the handbook; the admin sets chat controls through
:func:`set_controls`.
"""

from __future__ import annotations

from typing import Any

from qbizfed.local.stack import LocalAws
from tests.support.qbusiness_app import admin_qbusiness, ready_application

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"

DOCUMENTS = [
    {"id": "handbook", "title": "Employee handbook",
     "text": "The office opens at eight. Parking permits come from the front desk."},
    {"id": "plans/alice-roadmap", "title": "Roadmap", "allow_user": ALICE,
     "text": "The roadmap launches the falcon project in spring."},
    {"id": "bob-budget", "title": "Budget", "allow_user": BOB,
     "text": "The budget for the falcon project is four million."},
]  # fmt: skip


def managed_application(stack: LocalAws) -> str:
    return ready_application(stack, DOCUMENTS)


def index_of(stack: LocalAws, app: str) -> str:
    qb = admin_qbusiness(stack)
    return str(qb.list_indices(applicationId=app)["indices"][0]["indexId"])


def set_controls(stack: LocalAws, app: str, **kwargs: Any) -> None:
    admin_qbusiness(stack).update_chat_controls_configuration(applicationId=app, **kwargs)


def block_phrases(stack: LocalAws, app: str, *phrases: str, message: str) -> None:
    set_controls(
        stack, app,
        blockedPhrasesConfigurationUpdate={
            "blockedPhrasesToCreateOrUpdate": list(phrases), "systemMessageOverride": message,
        },
    )  # fmt: skip


def enable_creator_mode(stack: LocalAws, app: str) -> None:
    set_controls(stack, app, creatorModeConfiguration={"creatorModeControl": "ENABLED"})


def subscribed_user(stack: LocalAws, app: str, email: str) -> Any:
    """``user_qbusiness`` after the first-call subscription has gone through."""
    import time

    from botocore.exceptions import ClientError

    from tests.support.qbusiness_app import user_qbusiness

    qb = user_qbusiness(stack, email)
    deadline = time.monotonic() + 10
    while True:
        try:
            qb.list_conversations(applicationId=app)
            return qb
        except ClientError as exc:
            if "subscription" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
