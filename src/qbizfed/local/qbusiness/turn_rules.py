"""One chat turn's rules, for ChatSync and streaming chat alike: controls and attachments.

A turn is answered in three steps that every chat transport calls in order:

1. :func:`prepare_turn` (before answering): refuses CREATOR_MODE when the
   application disables it, reads the call's attachments (limits, types, text),
   and decides from the chat controls whether the message is refused (a blocked
   phrase or a topic's CONTENT_BLOCKER_RULE, with the configured message) or its
   retrieval limited (a topic's CONTENT_RETRIEVAL_RULE);
2. :func:`answer_turn`: the refusal, or the data plane's answer with the
   conversation's attachments as context, checked again for blocked phrases;
3. :func:`finish_turn` (after the turn is recorded): keeps the accepted attachments
   with the conversation and returns ``failedAttachments``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qbizfed.local.qbusiness import chat_controls
from qbizfed.local.qbusiness.answers import Answer
from qbizfed.local.qbusiness.attachments import (
    AttachmentStore,
    Intake,
    StoredAttachment,
    attachment_answer,
)

if TYPE_CHECKING:
    from qbizfed.local.qbusiness.dataplane_application import ApplicationDataPlane, ChatRequest


@dataclass(frozen=True)
class TurnContext:
    """What the controls and attachments decided before answering."""

    refusal: str | None
    eligible_sources: tuple[tuple[str, str | None], ...] | None
    intake: Intake
    earlier: tuple[StoredAttachment, ...]


def _groups_of(plane: ApplicationDataPlane) -> Any:
    def groups(user_id: str) -> set[str]:
        found: set[str] = set()
        for index_id in plane.index_ids():
            found |= plane.index(index_id).identity(user_id).groups
        return found

    return groups


def prepare_turn(
    *,
    app_attrs: dict[str, Any],
    plane: ApplicationDataPlane,
    store: AttachmentStore,
    request: ChatRequest,
    attachments: Sequence[dict[str, Any]],
    now: datetime,
) -> TurnContext:
    """Step 1: refuse what the controls refuse; read the attachments."""
    chat_controls.check_chat_mode(app_attrs, request.chat_mode.value)
    intake = store.intake(request.user_id, attachments, now=now)
    earlier = tuple(store.of_conversation(request.user_id, request.conversation_id))
    refusal = chat_controls.blocked_reply(app_attrs, request.user_message)
    eligible = None
    if refusal is None:
        decision = chat_controls.topic_decision(
            app_attrs, request.user_id, request.user_message, _groups_of(plane)
        )
        if decision is not None:
            refusal = decision.blocked_message
            eligible = decision.eligible_sources
    return TurnContext(refusal, eligible, intake, earlier)


def answer_turn(
    context: TurnContext, *, app_attrs: dict[str, Any], plane: ApplicationDataPlane,
    request: ChatRequest,
) -> Answer:  # fmt: skip
    """Step 2: the reply to record and send."""
    if context.refusal is not None:
        return Answer(context.refusal)
    answer = plane.answer(request, eligible_sources=context.eligible_sources)
    answer = attachment_answer(
        answer, request.user_message, context.earlier + context.intake.accepted
    )
    override = chat_controls.blocked_reply(app_attrs, answer.system_message)
    return Answer(override) if override is not None else answer


def finish_turn(
    context: TurnContext, *, store: AttachmentStore, user_id: str, conversation_id: str
) -> list[dict[str, Any]]:
    """Step 3: keep the accepted attachments; ``failedAttachments`` for the output."""
    store.add(user_id, conversation_id, context.intake)
    return context.intake.failed_wire(conversation_id)
