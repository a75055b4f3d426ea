"""Conversations, messages and feedback of one application, per user. Thread-safe.

Maps to botocore's ``Conversation``, ``Message``, ``MessageUsefulnessFeedback`` and
the ChatSync/ListConversations/ListMessages/DeleteConversation/PutFeedback rules:

* Users are keyed by their normalised id (emails case-insensitive, as Q does).
  Another user's conversation behaves exactly like one that does not exist
  (ResourceNotFoundException), so ids cannot be probed.
* A turn starts a conversation (no ``conversationId``) or continues one with
  ``conversationId`` + ``parentMessageId``, where the parent must be the
  conversation's latest system message. *Unconfirmed* which error AWS gives for a
  bad parent; here: missing half of the pair or a parent id that is not in the
  conversation -> ValidationException; a parent that exists but is no longer the
  latest system message (a concurrent or stale continuation) -> ConflictException.
* Lists are newest first (conversations by start time, messages by time) with
  opaque ``nextToken`` paging that stays correct when items are added or deleted.
  *Unconfirmed* for ListMessages; newest first is what Q's web experience shows
  when it loads history.
* Feedback: only on a system message of the user's own conversation; ``comment``
  at most 1000 characters; later feedback replaces earlier.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from qbizfed.local.qbusiness.answers import Answer, SourceAttribution
from qbizfed.local.qbusiness.dataplane_errors import (
    DataPlaneConflictError,
    DataPlaneValidationError,
    ResourceNotFoundError,
)
from qbizfed.local.qbusiness.permissions import normalize_user_id

T = TypeVar("T")

MAX_RESULTS = 100
MAX_COMMENT = 1000
MAX_TITLE = 100


class MessageType(StrEnum):
    """``MessageType``."""

    USER = "USER"
    SYSTEM = "SYSTEM"


class Usefulness(StrEnum):
    """``MessageUsefulness``."""

    USEFUL = "USEFUL"
    NOT_USEFUL = "NOT_USEFUL"


class UsefulnessReason(StrEnum):
    """``MessageUsefulnessReason``."""

    NOT_FACTUALLY_CORRECT = "NOT_FACTUALLY_CORRECT"
    HARMFUL_OR_UNSAFE = "HARMFUL_OR_UNSAFE"
    INCORRECT_OR_MISSING_SOURCES = "INCORRECT_OR_MISSING_SOURCES"
    NOT_HELPFUL = "NOT_HELPFUL"
    FACTUALLY_CORRECT = "FACTUALLY_CORRECT"
    COMPLETE = "COMPLETE"
    RELEVANT_SOURCES = "RELEVANT_SOURCES"
    HELPFUL = "HELPFUL"
    NOT_BASED_ON_DOCUMENTS = "NOT_BASED_ON_DOCUMENTS"
    NOT_COMPLETE = "NOT_COMPLETE"
    NOT_CONCISE = "NOT_CONCISE"
    OTHER = "OTHER"


@dataclass(frozen=True)
class Message:
    """``Message``."""

    message_id: str
    body: str
    time: datetime
    type: MessageType
    source_attribution: tuple[SourceAttribution, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The model's ``Message`` shape (``time`` stays a datetime for the codec)."""
        return {
            "messageId": self.message_id,
            "body": self.body,
            "time": self.time,
            "type": self.type.value,
            "sourceAttribution": [a.to_wire() for a in self.source_attribution],
        }


@dataclass(frozen=True)
class Conversation:
    """``Conversation``."""

    conversation_id: str
    title: str
    start_time: datetime

    def to_wire(self) -> dict[str, Any]:
        """The model's ``Conversation`` shape."""
        return {
            "conversationId": self.conversation_id,
            "title": self.title,
            "startTime": self.start_time,
        }


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the token for the next (None at the end)."""

    items: tuple[T, ...]
    next_token: str | None = None


@dataclass(frozen=True)
class Turn:
    """The ids a ChatSync turn produced."""

    conversation_id: str
    user_message_id: str
    system_message_id: str


@dataclass(frozen=True)
class Feedback:
    """``MessageUsefulnessFeedback`` plus ``messageCopiedAt`` of PutFeedback."""

    usefulness: Usefulness | None
    submitted_at: datetime | None
    reason: UsefulnessReason | None = None
    comment: str | None = None
    message_copied_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.comment is not None and len(self.comment) > MAX_COMMENT:
            raise DataPlaneValidationError(
                f"1 validation error detected: Value at 'messageUsefulness.comment' failed to "
                f"satisfy constraint: Member must have length less than or equal to {MAX_COMMENT}"
            )

    @classmethod
    def from_wire(
        cls, usefulness: dict[str, object] | None, message_copied_at: datetime | None = None
    ) -> Feedback:
        """Build from PutFeedback's ``messageUsefulness`` (enums checked here)."""
        if usefulness is None:
            return cls(None, None, message_copied_at=message_copied_at)
        try:
            value = Usefulness(str(usefulness["usefulness"]))
            reason_raw = usefulness.get("reason")
            reason = UsefulnessReason(str(reason_raw)) if reason_raw is not None else None
        except (KeyError, ValueError) as exc:
            raise DataPlaneValidationError(f"Invalid messageUsefulness: {exc}") from exc
        submitted = usefulness.get("submittedAt")
        comment = usefulness.get("comment")
        return cls(
            usefulness=value,
            submitted_at=submitted if isinstance(submitted, datetime) else None,
            reason=reason,
            comment=str(comment) if comment is not None else None,
            message_copied_at=message_copied_at,
        )


@dataclass
class _Thread:
    conversation: Conversation
    seq: int
    messages: list[tuple[int, Message]] = field(default_factory=list)
    feedback: dict[str, Feedback] = field(default_factory=dict)


def _title(user_message: str) -> str:
    text = " ".join(user_message.split())
    if len(text) <= MAX_TITLE:
        return text
    cut = text.rfind(" ", 0, MAX_TITLE)
    return text[: cut if cut > 0 else MAX_TITLE]


def _encode_token(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def _decode_token(kind: str, token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        got, _, number = raw.partition(":")
        if got != kind:
            raise ValueError(got)
        return int(number)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise DataPlaneValidationError("The nextToken is not valid.") from exc


def _limit(max_results: int | None) -> int:
    if max_results is None:
        return MAX_RESULTS
    if not 1 <= max_results <= MAX_RESULTS:
        raise DataPlaneValidationError(
            "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: "
            f"Member must have value between 1 and {MAX_RESULTS}"
        )
    return max_results


class ConversationStore:
    """All conversations of one application. ``clock`` and ``new_id`` are injectable."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._new_id = new_id
        self._seq = 0
        self._users: dict[str, dict[str, _Thread]] = {}

    def check_continuation(
        self, user_id: str, conversation_id: str | None, parent_message_id: str | None
    ) -> None:
        """Raise what ChatSync would raise for this conversation/parent pair."""
        with self._lock:
            self._continued(normalize_user_id(user_id), conversation_id, parent_message_id)

    def record_turn(
        self,
        user_id: str,
        user_message: str,
        answer: Answer,
        *,
        conversation_id: str | None = None,
        parent_message_id: str | None = None,
    ) -> Turn:
        """Append a user message and its answer, starting a conversation if needed.

        The continuation is checked again atomically, so of two concurrent turns
        on the same parent exactly one succeeds and the other gets a conflict.
        """
        user = normalize_user_id(user_id)
        with self._lock:
            thread = self._continued(user, conversation_id, parent_message_id)
            now = self._clock()
            if thread is None:
                conversation = Conversation(self._new_id(), _title(user_message), now)
                thread = _Thread(conversation, self._next())
                self._users.setdefault(user, {})[conversation.conversation_id] = thread
            asked = Message(self._new_id(), user_message, now, MessageType.USER)
            replied = Message(
                self._new_id(),
                answer.system_message,
                now,
                MessageType.SYSTEM,
                answer.source_attributions,
            )
            thread.messages.append((self._next(), asked))
            thread.messages.append((self._next(), replied))
            return Turn(thread.conversation.conversation_id, asked.message_id, replied.message_id)

    def list_conversations(
        self, user_id: str, *, max_results: int | None = None, next_token: str | None = None
    ) -> Page[Conversation]:
        """The user's conversations, newest first."""
        limit = _limit(max_results)
        before = _decode_token("c", next_token) if next_token else None
        with self._lock:
            threads = sorted(
                self._users.get(normalize_user_id(user_id), {}).values(),
                key=lambda t: t.seq,
                reverse=True,
            )
        if before is not None:
            threads = [t for t in threads if t.seq < before]
        page = threads[:limit]
        token = _encode_token("c", page[-1].seq) if len(threads) > limit else None
        return Page(tuple(t.conversation for t in page), token)

    def list_messages(
        self,
        user_id: str,
        conversation_id: str,
        *,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> Page[Message]:
        """The messages of one of the user's conversations, newest first."""
        limit = _limit(max_results)
        before = _decode_token("m", next_token) if next_token else None
        with self._lock:
            thread = self._thread(normalize_user_id(user_id), conversation_id)
            messages = list(reversed(thread.messages))
        if before is not None:
            messages = [m for m in messages if m[0] < before]
        page = messages[:limit]
        token = _encode_token("m", page[-1][0]) if len(messages) > limit else None
        return Page(tuple(m for _, m in page), token)

    def require(self, user_id: str, conversation_id: str) -> None:
        """ResourceNotFound unless ``conversation_id`` is one of the user's conversations."""
        with self._lock:
            self._thread(normalize_user_id(user_id), conversation_id)

    def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete one of the user's conversations."""
        user = normalize_user_id(user_id)
        with self._lock:
            self._thread(user, conversation_id)
            del self._users[user][conversation_id]

    def put_feedback(
        self, user_id: str, conversation_id: str, message_id: str, feedback: Feedback
    ) -> None:
        """Record feedback on a system message of the user's own conversation."""
        with self._lock:
            thread = self._thread(normalize_user_id(user_id), conversation_id)
            message = next((m for _, m in thread.messages if m.message_id == message_id), None)
            if message is None:
                raise ResourceNotFoundError(
                    f"The message {message_id} was not found in conversation {conversation_id}.",
                    remedy="Give feedback on a systemMessageId returned by ChatSync.",
                )
            if message.type is not MessageType.SYSTEM:
                raise DataPlaneValidationError(
                    "Feedback can only be given on a system message.",
                    remedy="Use the systemMessageId of a ChatSync response.",
                )
            thread.feedback[message_id] = feedback

    def feedback_of(self, user_id: str, conversation_id: str, message_id: str) -> Feedback | None:
        """The feedback last put on a message (for tests and admin views)."""
        with self._lock:
            return self._thread(normalize_user_id(user_id), conversation_id).feedback.get(
                message_id
            )

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self._users.clear()

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _thread(self, user: str, conversation_id: str) -> _Thread:
        thread = self._users.get(user, {}).get(conversation_id)
        if thread is None:
            raise ResourceNotFoundError(
                f"The conversation {conversation_id} was not found.",
                remedy="Use a conversationId returned to this user by ChatSync or "
                "ListConversations.",
            )
        return thread

    def _continued(
        self, user: str, conversation_id: str | None, parent_message_id: str | None
    ) -> _Thread | None:
        if conversation_id is None and parent_message_id is None:
            return None
        if conversation_id is None or parent_message_id is None:
            raise DataPlaneValidationError(
                "conversationId and parentMessageId must be given together to continue a "
                "conversation.",
                remedy="Pass both, parentMessageId being the last systemMessageId.",
            )
        thread = self._thread(user, conversation_id)
        ids = {m.message_id: m for _, m in thread.messages}
        if parent_message_id not in ids:
            raise DataPlaneValidationError(
                f"The parentMessageId {parent_message_id} is not a message of conversation "
                f"{conversation_id}.",
                remedy="Pass the systemMessageId of the conversation's last ChatSync response.",
            )
        last_system = next(
            (m for _, m in reversed(thread.messages) if m.type is MessageType.SYSTEM), None
        )
        if last_system is None or last_system.message_id != parent_message_id:
            raise DataPlaneConflictError(
                f"The parentMessageId {parent_message_id} is not the latest system message of "
                f"conversation {conversation_id}.",
                remedy="Continue from the latest systemMessageId (ListMessages shows it).",
            )
        return thread
