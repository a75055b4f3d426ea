"""The data plane of one emulated Q Business application, as one object to call.

Ties together, per index: the PutGroup directory, the documents' access
configurations and the BM25 index; per application: the conversations. The wire
layer decodes a request, calls one method here and encodes the result:

    BatchPutDocument    -> ApplicationDataPlane.index(id).put_documents(...)
    BatchDeleteDocument -> .index(id).delete_documents(...)
    PutGroup/DeleteGroup-> .index(id).groups.put_group(...) / delete_group(...)
    ChatSync            -> ApplicationDataPlane.chat(ChatRequest(...))
    ListConversations, ListMessages, DeleteConversation, PutFeedback
                        -> ApplicationDataPlane.conversations.<same name>(...)

A user's groups are resolved from PutGroup data only (federated groups are not a
Q Business feature); ChatSync's ``userGroups``/``userId`` are for the wire layer to
refuse with identity-aware credentials, never trusted here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from qbizfed.local.qbusiness.answers import Answer, compose_answer, creator_mode_answer
from qbizfed.local.qbusiness.answers import SourceAttribution as SourceAttribution
from qbizfed.local.qbusiness.attachments import AttachmentStore
from qbizfed.local.qbusiness.conversations import ConversationStore
from qbizfed.local.qbusiness.corpus import Corpus
from qbizfed.local.qbusiness.dataplane_attributes import AttributeFilter
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError
from qbizfed.local.qbusiness.permissions import (
    AccessConfiguration,
    GroupDirectory,
    PermissionIndex,
    UserIdentity,
)
from qbizfed.local.qbusiness.retrieval import DocumentIndex, Hit, IndexedDocument

_SEARCH_ATTEMPTS = 3


class ChatMode(StrEnum):
    """``ChatMode``."""

    RETRIEVAL_MODE = "RETRIEVAL_MODE"
    CREATOR_MODE = "CREATOR_MODE"
    PLUGIN_MODE = "PLUGIN_MODE"


@dataclass(frozen=True)
class ChatRequest:
    """The parts of ChatSyncInput the data plane acts on (user from the STS Email tag)."""

    user_id: str
    user_message: str
    conversation_id: str | None = None
    parent_message_id: str | None = None
    attribute_filter: AttributeFilter | None = None
    chat_mode: ChatMode = ChatMode.RETRIEVAL_MODE


@dataclass(frozen=True)
class ChatResult:
    """ChatSyncOutput's data-plane fields."""

    conversation_id: str
    system_message: str
    system_message_id: str
    user_message_id: str
    source_attributions: tuple[SourceAttribution, ...]

    def to_wire(self) -> dict[str, Any]:
        """ChatSyncOutput's JSON members (``failedAttachments`` etc. are the caller's)."""
        return {
            "conversationId": self.conversation_id,
            "systemMessage": self.system_message,
            "systemMessageId": self.system_message_id,
            "userMessageId": self.user_message_id,
            "sourceAttributions": [a.to_wire() for a in self.source_attributions],
        }


@dataclass(frozen=True)
class PutDocument:
    """One document of a BatchPutDocument call, text already extracted."""

    document: IndexedDocument
    access: AccessConfiguration | None = None


class IndexDataPlane:
    """Groups, ACLs and searchable documents of one Q Business index."""

    def __init__(self, index_id: str, *, min_coverage: float = 0.5) -> None:
        self.index_id = index_id
        self.groups = GroupDirectory()
        self.permissions = PermissionIndex()
        self.documents = DocumentIndex(min_coverage=min_coverage)
        self._lock = threading.RLock()

    def put_documents(self, documents: Sequence[PutDocument]) -> None:
        """Add or replace documents with their access configuration."""
        with self._lock:
            # Searches run concurrently and read ACLs and text separately, so a replaced
            # document is hidden from everyone while its text changes: nobody can see
            # the old text under the new ACL, or the new text under the old one.
            for item in documents:
                self.permissions.remove(item.document.document_id)
            self.documents.put_many(
                [
                    item.document
                    if item.document.index_id == self.index_id
                    else replace(item.document, index_id=self.index_id)
                    for item in documents
                ]
            )
            for item in documents:
                self.permissions.set_access(item.document.document_id, item.access)

    def load_corpus(self, corpus: Corpus) -> None:
        """Put a corpus folder's groups and documents (``--corpus DIR``, the demo)."""
        with self._lock:
            for name, members in corpus.groups.items():
                self.groups.put_group(name, members)
            self.put_documents([PutDocument(d.document, d.access) for d in corpus.documents])

    def delete_documents(self, document_ids: Iterable[str]) -> None:
        """Remove documents (unknown ids are ignored, as BatchDeleteDocument does)."""
        with self._lock:
            for document_id in document_ids:
                self.permissions.remove(document_id)
                self.documents.delete(document_id)

    def identity(self, user_id: str) -> UserIdentity:
        """The user with its PutGroup groups resolved."""
        return self.groups.identity(user_id)

    def permitted(self, user_id: str) -> frozenset[str]:
        """Ids of the documents ``user_id`` may see."""
        return self.permissions.permitted(self.identity(user_id))

    def search(
        self,
        user_id: str,
        query: str,
        *,
        attribute_filter: AttributeFilter | None = None,
        k: int = 3,
    ) -> list[Hit]:
        """Relevant documents ``user_id`` may see, best first.

        ACLs and texts change while searches run; every hit is checked again
        against the current ACL and text afterwards, and the search is redone
        if one went stale (after a few tries: no hits, the safe answer).
        """
        for _ in range(_SEARCH_ATTEMPTS):
            identity = self.identity(user_id)
            hits = self.documents.search(
                query,
                permitted=self.permissions.permitted(identity),
                attribute_filter=attribute_filter,
                k=k,
            )
            if all(self._still_visible(hit, identity) for hit in hits):
                return hits
        return []

    def _still_visible(self, hit: Hit, identity: UserIdentity) -> bool:
        document_id = hit.document.document_id
        return (
            self.permissions.may_see(document_id, identity)
            and self.documents.get(document_id) is hit.document
        )


class ApplicationDataPlane:
    """Everything data-plane about one application. Thread-safe."""

    def __init__(
        self,
        application_id: str,
        *,
        conversations: ConversationStore | None = None,
        max_sources: int = 3,
    ) -> None:
        self.application_id = application_id
        self.conversations = conversations or ConversationStore()
        self.attachments = AttachmentStore()
        self._indexes: dict[str, IndexDataPlane] = {}
        self._lock = threading.Lock()
        self._max_sources = max_sources

    def index(self, index_id: str) -> IndexDataPlane:
        """The data plane of ``index_id`` (created on first use)."""
        with self._lock:
            plane = self._indexes.get(index_id)
            if plane is None:
                plane = self._indexes[index_id] = IndexDataPlane(index_id)
            return plane

    def index_ids(self) -> list[str]:
        """The ids of the indexes created so far."""
        with self._lock:
            return list(self._indexes)

    def reset(self) -> None:
        """Forget all indexes and conversations."""
        with self._lock:
            self._indexes.clear()
        self.conversations.reset()
        self.attachments.reset()

    def drop_index(self, index_id: str) -> None:
        """Forget an index and all its documents and groups (DeleteIndex)."""
        with self._lock:
            self._indexes.pop(index_id, None)

    def answer(
        self,
        request: ChatRequest,
        *,
        eligible_sources: Sequence[tuple[str, str | None]] | None = None,
    ) -> Answer:
        """The answer for one turn, without recording it.

        ``eligible_sources`` (a topic's CONTENT_RETRIEVAL_RULE) limits retrieval to
        those (index id, data source id or None for any) pairs.
        """
        if request.chat_mode is ChatMode.CREATOR_MODE:
            return creator_mode_answer(request.user_message)
        if request.chat_mode is ChatMode.PLUGIN_MODE:
            raise DataPlaneValidationError(
                "Plugins are not available in the local emulator.",
                remedy="Use RETRIEVAL_MODE or CREATOR_MODE against the local stack.",
            )
        with self._lock:
            indexes = list(self._indexes.values())
        hits: list[Hit] = []
        for plane in indexes:
            hits.extend(
                plane.search(
                    request.user_id,
                    request.user_message,
                    attribute_filter=request.attribute_filter,
                    k=self._max_sources,
                )
            )
        if eligible_sources is not None:
            allowed = set(eligible_sources)
            hits = [
                h
                for h in hits
                if (h.document.index_id, None) in allowed
                or (h.document.index_id, h.document.data_source_id) in allowed
            ]
        hits.sort(key=lambda h: -h.score)
        return compose_answer(hits, max_sources=self._max_sources)

    def chat(self, request: ChatRequest) -> ChatResult:
        """One ChatSync turn: check the continuation, answer, record."""
        self.conversations.check_continuation(
            request.user_id, request.conversation_id, request.parent_message_id
        )
        answer = self.answer(request)
        turn = self.conversations.record_turn(
            request.user_id,
            request.user_message,
            answer,
            conversation_id=request.conversation_id,
            parent_message_id=request.parent_message_id,
        )
        return ChatResult(
            conversation_id=turn.conversation_id,
            system_message=answer.system_message,
            system_message_id=turn.system_message_id,
            user_message_id=turn.user_message_id,
            source_attributions=answer.source_attributions,
        )
