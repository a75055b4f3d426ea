"""Files attached to a conversation: ChatSync ``attachments``, ListAttachments, DeleteAttachment.

What AWS documents (docs/aws-facts.md, "Attachments"): at most 5 files per ChatSync
call, 10 MB each; chat upload takes PDF, HTML, XML, XSLT, Markdown, CSV, Excel, JSON,
RTF, PowerPoint, Word, plain text and JPEG/PNG images; an attachment the service
cannot use comes back in ``failedAttachments`` (``AttachmentOutput``: ``status``
FAILED and an ``ErrorDetail``), the turn itself still answers.

The emulator extracts text from ``.txt .md .csv .json .html .htm .xml .pdf`` (PDF
with pypdf) and keeps it as context for every later answer in that conversation.
A type AWS accepts but the emulator cannot read (Word, Excel, images...) and a type
AWS does not accept are both FAILED with ``InvalidRequest``, the message saying
which. Over 10 MB -> ValidationException for the whole call (*unconfirmed* code).
An attachment belongs to the user's conversation: another user's conversation or
attachment id behaves as one that does not exist (ResourceNotFoundException), as
conversations do. ``copyFrom`` reuses one of the same user's earlier attachments.

The answer hook (:func:`attachment_answer`) is deterministic: the paragraph of the
attached text sharing the most words with the question is quoted after the
retrieval answer (or replaces "could not find").
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from qbizfed.local.qbusiness.answers import NO_ANSWER, Answer
from qbizfed.local.qbusiness.api_errors import NotFoundError, ValidationError
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError
from qbizfed.local.qbusiness.permissions import normalize_user_id

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_LIST_RESULTS = 50

# File name extension -> (fileType as ListAttachments reports it, emulator content type)
READABLE_TYPES: dict[str, tuple[str, str]] = {
    "txt": ("text/plain", "PLAIN_TEXT"),
    "text": ("text/plain", "PLAIN_TEXT"),
    "md": ("text/markdown", "MD"),
    "markdown": ("text/markdown", "MD"),
    "csv": ("text/csv", "CSV"),
    "json": ("application/json", "JSON"),
    "html": ("text/html", "HTML"),
    "htm": ("text/html", "HTML"),
    "xml": ("application/xml", "XML"),
    "pdf": ("application/pdf", "PDF"),
}
# Accepted by AWS's chat upload, but the emulator has no text extractor for them.
AWS_ONLY_TYPES = frozenset({"doc", "docx", "ppt", "pptx", "xls", "xlsx", "rtf", "xslt",
                            "jpg", "jpeg", "png"})  # fmt: skip

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "me", "my", "of", "on", "or", "our", "the", "this", "to", "was",
    "we", "what", "when", "where", "which", "who", "why", "with", "you", "your",
})  # fmt: skip


def _stem(word: str) -> str:
    # A plural "s" is the only inflection folded: "permits" matches "permit".
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> set[str]:
    """Content words of a text, case-folded, plural "s" dropped (shared by the topic
    matcher)."""
    folded = (m.casefold() for m in _WORD.findall(text))
    return {_stem(w) for w in folded if w not in _STOPWORDS}


@dataclass(frozen=True)
class StoredAttachment:
    """One attachment of a conversation (``Attachment``), with its extracted text."""

    attachment_id: str
    conversation_id: str
    name: str
    file_type: str
    file_size: int
    md5: str
    created_at: datetime
    text: str = field(repr=False)

    def to_wire(self) -> dict[str, Any]:
        """The model's ``Attachment`` shape."""
        return {
            "attachmentId": self.attachment_id,
            "conversationId": self.conversation_id,
            "name": self.name,
            "fileType": self.file_type,
            "fileSize": self.file_size,
            "md5chksum": self.md5,
            "createdAt": self.created_at,
            "status": "SUCCESS",
        }


@dataclass(frozen=True)
class Intake:
    """A ChatSync call's attachments, read: what counts as context, what failed."""

    accepted: tuple[StoredAttachment, ...]
    failed: tuple[tuple[str, str], ...]
    """(name, reason) of each attachment refused."""

    def failed_wire(self, conversation_id: str) -> list[dict[str, Any]]:
        """``failedAttachments`` of ChatSyncOutput (``AttachmentOutput``)."""
        return [
            {
                "name": name,
                "status": "FAILED",
                "conversationId": conversation_id,
                "error": {"errorCode": "InvalidRequest", "errorMessage": reason},
            }
            for name, reason in self.failed
        ]


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].casefold() if "." in name else ""


def _read(name: str, data: bytes) -> tuple[str, str]:
    """(fileType, text) of an attachment, or ValueError with the reason it is refused."""
    from qbizfed.local.qbusiness.dataplane_content import extract_text

    extension = _extension(name)
    known = READABLE_TYPES.get(extension)
    if known is None:
        if extension in AWS_ONLY_TYPES:
            raise ValueError(
                f"qbizfed local cannot read .{extension} attachments (Amazon Q Business "
                "can); attach text, Markdown, CSV, JSON, HTML or PDF to the local stack."
            )
        raise ValueError(
            f"The file type of {name} is not supported. Attach PDF, HTML, XML, Markdown, "
            "CSV, JSON, plain text, Word, PowerPoint, Excel, RTF, JPEG or PNG files."
        )
    file_type, content_type = known
    try:
        text = extract_text(data, content_type)
    except DataPlaneError as exc:
        raise ValueError(f"{name} could not be read: {exc.message}") from exc
    if not text.strip():
        raise ValueError(f"No text could be extracted from {name}.")
    return file_type, text


class AttachmentStore:
    """Attachments of every conversation of one application, per user. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # user -> conversation id -> attachments in upload order
        self._by_user: dict[str, dict[str, list[StoredAttachment]]] = {}

    def intake(self, user_id: str, raw: Sequence[dict[str, Any]], *, now: datetime) -> Intake:
        """Read a ChatSync call's ``attachments`` (limits checked first, for the whole call)."""
        if len(raw) > MAX_ATTACHMENTS:
            raise ValidationError(
                f"At most {MAX_ATTACHMENTS} attachments can be sent in one ChatSync call.",
                fields=[("attachments",
                         f"Member must have length less than or equal to {MAX_ATTACHMENTS}")],
            )  # fmt: skip
        for item in raw:
            data = item.get("data")
            if data is not None and len(data) > MAX_ATTACHMENT_BYTES:
                raise ValidationError(
                    f"The attachment {item.get('name')} is {len(data)} bytes; "
                    f"each attachment can be at most {MAX_ATTACHMENT_BYTES} bytes (10 MB).",
                    fields=[("attachments.data", "Member must be at most 10 MB")],
                )
        accepted: list[StoredAttachment] = []
        failed: list[tuple[str, str]] = []
        for item in raw:
            copy = (item.get("copyFrom") or {}).get("conversation")
            if copy is not None:
                found = self._find(user_id, copy["conversationId"], copy["attachmentId"])
                if found is None:
                    missing = str(copy["attachmentId"])
                    failed.append((str(item.get("name") or missing),
                                   f"The attachment {missing} was not found."))  # fmt: skip
                else:
                    accepted.append(replace(found, attachment_id=str(uuid.uuid4()),
                                            created_at=now))  # fmt: skip
                continue
            name = str(item.get("name") or "")
            data = bytes(item.get("data") or b"")
            if not name or not data:
                failed.append((name or "attachment", "An attachment needs a name and data."))
                continue
            try:
                file_type, text = _read(name, data)
            except ValueError as exc:
                failed.append((name, str(exc)))
                continue
            accepted.append(
                StoredAttachment(
                    attachment_id=str(uuid.uuid4()),
                    conversation_id="",
                    name=name,
                    file_type=file_type,
                    file_size=len(data),
                    md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                    created_at=now,
                    text=text,
                )
            )
        return Intake(tuple(accepted), tuple(failed))

    def of_conversation(self, user_id: str, conversation_id: str | None) -> list[StoredAttachment]:
        """The attachments already in a conversation (none for a new one)."""
        if conversation_id is None:
            return []
        with self._lock:
            return list(self._by_user.get(normalize_user_id(user_id), {}).get(conversation_id, []))

    def add(self, user_id: str, conversation_id: str, intake: Intake) -> None:
        """Keep a turn's accepted attachments with the conversation the turn landed in."""
        if not intake.accepted:
            return
        with self._lock:
            items = self._by_user.setdefault(normalize_user_id(user_id), {}).setdefault(
                conversation_id, []
            )
            items.extend(replace(a, conversation_id=conversation_id) for a in intake.accepted)

    def list(self, user_id: str, conversation_id: str | None) -> list[StoredAttachment]:
        """The user's attachments, newest first; of one conversation when given."""
        with self._lock:
            threads = self._by_user.get(normalize_user_id(user_id), {})
            if conversation_id is not None:
                chosen = list(threads.get(conversation_id, []))
            else:
                chosen = [a for items in threads.values() for a in items]
        return sorted(chosen, key=lambda a: a.created_at, reverse=True)

    def delete(self, user_id: str, conversation_id: str, attachment_id: str) -> None:
        """Remove one attachment; unknown (or another user's) -> ResourceNotFoundException."""
        with self._lock:
            items = self._by_user.get(normalize_user_id(user_id), {}).get(conversation_id, [])
            for position, item in enumerate(items):
                if item.attachment_id == attachment_id:
                    del items[position]
                    return
        raise NotFoundError(
            f"The attachment {attachment_id} was not found in conversation {conversation_id}.",
            resource_id=attachment_id,
            resource_type="AWS::QBusiness::Attachment",
        )

    def drop_conversation(self, user_id: str, conversation_id: str) -> None:
        """Forget a deleted conversation's attachments."""
        with self._lock:
            self._by_user.get(normalize_user_id(user_id), {}).pop(conversation_id, None)

    def reset(self) -> None:
        with self._lock:
            self._by_user.clear()

    def _find(
        self, user_id: str, conversation_id: str, attachment_id: str
    ) -> StoredAttachment | None:
        for item in self.of_conversation(user_id, conversation_id):
            if item.attachment_id == attachment_id:
                return item
        return None


def _best_paragraph(question: set[str], text: str) -> tuple[int, str]:
    best = (0, "")
    for paragraph in re.split(r"\n\s*\n|\r\n\s*\r\n", text):
        clean = " ".join(paragraph.split())
        if not clean:
            continue
        overlap = len(question & words(clean))
        if overlap > best[0]:
            best = (overlap, clean)
    return best


def attachment_answer(
    answer: Answer, question: str, attachments: Sequence[StoredAttachment]
) -> Answer:
    """The answer with the best-matching passage of the conversation's attachments.

    Appended after the retrieval answer so its citation offsets stay right; it
    replaces the "could not find" reply. No attachment shares a word with the
    question -> the answer is unchanged.
    """
    asked = words(question)
    scored = [(*_best_paragraph(asked, a.text), a.name) for a in attachments]
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return answer
    _, passage, name = max(scored, key=lambda s: s[0])
    if len(passage) > 1000:
        passage = passage[:999].rstrip() + "…"
    quoted = f"From your attached file {name}: {passage}"
    if answer.system_message == NO_ANSWER or not answer.system_message:
        return Answer(quoted)
    return Answer(answer.system_message + "\n\n" + quoted, answer.source_attributions)
