"""What a chat page showed, kept per browser session so the page after a turn needs no listing.

A turn is a POST (ChatSync) then, as the browser follows the redirect, the conversation
page. Listing the conversations and the history again for that page would triple the
Q Business calls of every turn, so the POST extends the page the user last saw (kept
here) with its own question and answer, and marks it *fresh*: the one page load that
follows renders from it. Every other page load (a reload, another conversation, a new
tab) lists from Q Business as before and refreshes the entry, so a change made outside
this session (the CLI, another device) shows on the next reload.

Entries live in the broker's :class:`~qbizfed.web.sessions.SessionStore` (Redis when
configured), keyed by session id, so the page after a POST renders the same whichever
instance serves it: no sticky sessions. History is kept for one conversation only, in
reading order, and capped, so an entry stays small.

Every entry written gets a new random *nonce*, and a small second key (the entry's state)
names the current nonce and whether the page is fresh. Each instance remembers, per
session, the last entry it wrote or read with the page it stands for: when the state
names that nonce (the usual case: the page after a POST, the POST after a page) the
entry is neither read nor decoded again, showing a fresh page only rewrites the state,
and a turn's entry re-encodes only the two messages it adds. An entry written by another
instance has another nonce, so it is read and decoded; an entry that does not carry the
nonce its state names (written between the two keys) is treated as absent.

An entry also remembers what the page showed beside the conversation: the application's
chat controls, and whether the conversation had no attached files. The page that follows
a turn shows those again instead of asking Q Business (GetChatControlsConfiguration,
ListAttachments), unless the turn attached files; every other load asks again. A turn
that starts a conversation is that conversation's whole history, so its page needs only
the titles (ListConversations), not ListMessages.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from qbizfed.aws.chat import (
    Citation,
    CitedSegment,
    ConversationAttachment,
    ConversationSummary,
    HistoryMessage,
)
from qbizfed.aws.chat_controls import ChatControls
from qbizfed.web.sessions import JsonObject, SessionStore

KEY_PREFIX = "chat-page:"
STATE_PREFIX = "chat-page-state:"
TTL_SECONDS = 600.0
"""An unused entry goes after ten minutes; the next page load lists again."""
MAX_CACHED_MESSAGES = 200
"""A longer conversation is listed from Q Business on every page load (no entry kept)."""
SESSIONS_REMEMBERED = 1024
"""Sessions whose last entry this instance keeps decoded; the least recently used go."""


@dataclass(frozen=True)
class CachedPage:
    """The conversation list and one conversation's history (oldest first), as last shown."""

    conversation_id: str | None
    conversations: tuple[ConversationSummary, ...]
    history: tuple[HistoryMessage, ...]
    fresh: bool = False
    """Extended by a turn and not shown yet: the next load of this conversation may use it."""
    attachments: tuple[ConversationAttachment, ...] | None = None
    """The conversation's attached files as listed; ``None``: not known, list them. Only
    an empty list is kept in the store (a file's status may change, an absence may not
    without a turn that attaches one)."""
    controls: ChatControls | None = None
    """The application's chat controls as last shown; ``None``: not known, ask."""
    titles_known: bool = True
    """False after a turn started a conversation: its title only ListConversations knows."""

    @property
    def complete(self) -> bool:
        """Everything the page shows is known: it renders without a Q Business call."""
        return (
            self.titles_known
            and self.controls is not None
            and (self.attachments is not None or self.conversation_id is None)
        )

    def after_turn(
        self,
        conversation_id: str,
        question: HistoryMessage,
        answer: HistoryMessage,
        *,
        attached: bool = False,
        started: bool = False,
    ) -> CachedPage | None:
        """This page with a turn of ``conversation_id`` added; None if it cannot say what
        the page now shows (a turn in a conversation this page did not show). A turn
        that ``attached`` files makes the attachments unknown; one that ``started`` the
        conversation is its whole history, and makes the titles unknown."""
        if started:
            return replace(
                self,
                conversation_id=conversation_id,
                history=(question, answer),
                fresh=True,
                attachments=None if attached else (),
                titles_known=False,
            )
        if conversation_id != self.conversation_id:
            return None
        if not any(c.conversation_id == conversation_id for c in self.conversations):
            return None
        return replace(
            self,
            history=(*self.history, question, answer),
            fresh=True,
            attachments=None if attached else self.attachments,
        )


def _citation_json(citation: Citation) -> JsonObject:
    return {
        "n": citation.number,
        "title": citation.title,
        "url": citation.url,
        "snippet": citation.snippet,
        "doc": citation.document_id,
        "updated": citation.updated_at.isoformat() if citation.updated_at else None,
        "seg": [[s.begin, s.end, s.excerpt] for s in citation.segments],
        "index": citation.index_id,
        "ds": citation.datasource_id,
    }


def _citation(data: Mapping[str, Any]) -> Citation:
    updated = data.get("updated")
    return Citation(
        number=int(data["n"]),
        title=str(data["title"]),
        url=data.get("url"),
        snippet=str(data["snippet"]),
        document_id=data.get("doc"),
        updated_at=datetime.fromisoformat(updated) if updated else None,
        segments=tuple(CitedSegment(int(b), int(e), str(x)) for b, e, x in data.get("seg", [])),
        index_id=data.get("index"),
        datasource_id=data.get("ds"),
    )


def _message_json(message: HistoryMessage) -> JsonObject:
    return {
        "id": message.message_id,
        "kind": message.kind,
        "body": message.body,
        "time": message.time.isoformat() if message.time else None,
        "cites": [_citation_json(c) for c in message.citations],
    }


def _message(data: Mapping[str, Any]) -> HistoryMessage:
    when = data.get("time")
    return HistoryMessage(
        message_id=str(data["id"]),
        kind=str(data["kind"]),
        body=str(data["body"]),
        time=datetime.fromisoformat(when) if when else None,
        citations=tuple(_citation(c) for c in data.get("cites", [])),
    )


def _controls_json(controls: ChatControls | None) -> JsonObject | None:
    if controls is None:
        return None
    return {
        "scope": controls.response_scope,
        "creator": controls.creator_mode_allowed,
        "topics": list(controls.topics),
        "blocked": controls.blocked_phrase_count,
    }


def _controls(data: Mapping[str, Any] | None) -> ChatControls | None:
    if data is None:
        return None
    return ChatControls(
        response_scope=str(data["scope"]),
        creator_mode_allowed=bool(data["creator"]),
        topics=tuple(str(t) for t in data["topics"]),
        blocked_phrase_count=int(data["blocked"]),
    )


def _page_json(page: CachedPage, known: tuple[JsonObject, CachedPage] | None = None) -> JsonObject:
    """The entry of ``page``; the parts that ``known`` (an entry and its page) shares with
    it by identity (the same immutable objects: a turn's page reuses its base's list and
    messages) are taken from ``known``'s entry instead of being encoded again."""
    base_json, base = known if known is not None else ({}, None)
    if base is not None and page.conversations is base.conversations:
        listed = base_json["list"]
    else:
        listed = [
            [c.conversation_id, c.title, c.start_time.isoformat() if c.start_time else None]
            for c in page.conversations
        ]
    shared = 0
    if base is not None:
        for ours, theirs in zip(page.history, base.history, strict=False):
            if ours is not theirs:
                break
            shared += 1
    history = base_json["history"][:shared] if shared else []
    history.extend(_message_json(m) for m in page.history[shared:])
    return {
        "conversation": page.conversation_id,
        "list": listed,
        "history": history,
        "no_attachments": page.attachments == (),
        "controls": _controls_json(page.controls),
        "titles": page.titles_known,
    }


def _page(data: Mapping[str, Any]) -> CachedPage:
    return CachedPage(
        conversation_id=data.get("conversation"),
        conversations=tuple(
            ConversationSummary(str(i), str(t), datetime.fromisoformat(s) if s else None)
            for i, t, s in data["list"]
        ),
        history=tuple(_message(m) for m in data["history"]),
        attachments=() if data.get("no_attachments") else None,
        controls=_controls(data.get("controls")),
        titles_known=bool(data.get("titles", True)),
    )


def _as_stored(page: CachedPage) -> CachedPage:
    """``page`` as its entry reads back, not fresh (only an absence of attachments is kept)."""
    return replace(page, fresh=False, attachments=None if page.attachments else page.attachments)


@dataclass(frozen=True)
class _Known:
    """The last entry this instance wrote or read for a session, and its page (not fresh)."""

    nonce: str
    data: JsonObject
    page: CachedPage


class ChatPageCache:
    """``CachedPage`` per session id in a :class:`SessionStore`."""

    def __init__(
        self,
        store: SessionStore,
        *,
        ttl_seconds: float = TTL_SECONDS,
        remembered: int = SESSIONS_REMEMBERED,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._remembered = remembered
        self._lock = threading.Lock()

    def _recall(self, session_id: str) -> _Known | None:
        with self._lock:
            known = self._known.get(session_id)
            if known is not None:
                self._known.move_to_end(session_id)
            return known

    def _remember(self, session_id: str, known: _Known) -> None:
        with self._lock:
            self._known[session_id] = known
            self._known.move_to_end(session_id)
            while len(self._known) > self._remembered:
                self._known.popitem(last=False)

    def _drop(self, session_id: str) -> None:
        with self._lock:
            self._known.pop(session_id, None)

    async def get(self, session_id: str) -> CachedPage | None:
        state = await self._store.get(STATE_PREFIX + session_id)
        nonce = state.get("nonce") if state is not None else None
        fresh = bool(state.get("fresh")) if state is not None else False
        known = self._recall(session_id)
        if known is None or nonce is None or known.nonce != nonce:
            data = await self._store.get(KEY_PREFIX + session_id)
            if data is None or data.get("nonce") != nonce:  # absent, or not the one named
                self._drop(session_id)
                return None
            try:
                known = _Known(str(nonce), data, _page(data))
            except (KeyError, TypeError, ValueError):  # written by another version: list again
                self._drop(session_id)
                return None
            self._remember(session_id, known)
        return replace(known.page, fresh=True) if fresh else known.page

    async def put(self, session_id: str, page: CachedPage) -> None:
        if len(page.history) > MAX_CACHED_MESSAGES:
            await self.forget(session_id)
            return
        known = self._recall(session_id)
        nonce = secrets.token_hex(8)
        data = _page_json(page, (known.data, known.page) if known is not None else None)
        data["nonce"] = nonce
        await self._store.set(KEY_PREFIX + session_id, data, ttl_seconds=self._ttl)
        self._remember(session_id, _Known(nonce, data, _as_stored(page)))
        await self._store.set(STATE_PREFIX + session_id, {"nonce": nonce, "fresh": page.fresh},
                              ttl_seconds=self._ttl)  # fmt: skip

    async def shown(self, session_id: str) -> None:
        """The fresh page was shown: the next load lists again (only the state changes)."""
        known = self._recall(session_id)
        if known is None:
            await self.forget(session_id)
            return
        await self._store.set(STATE_PREFIX + session_id, {"nonce": known.nonce, "fresh": False},
                              ttl_seconds=self._ttl)  # fmt: skip

    async def forget(self, session_id: str) -> None:
        self._drop(session_id)
        await self._store.delete(STATE_PREFIX + session_id)
        await self._store.delete(KEY_PREFIX + session_id)


def last_answer_id(history: Sequence[HistoryMessage]) -> str | None:
    """The id of the last answer (the next turn's parent), if any."""
    return next((m.message_id for m in reversed(history) if m.kind != "USER"), None)
