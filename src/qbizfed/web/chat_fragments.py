"""Parts of the chat page rendered once per browser session, then reused as HTML.

A turn's page shows the same sidebar (up to 50 conversations, each with its own delete
form) and the same earlier messages as the page before it; only the new turn differs.
Rendering all of it again escapes every title, id and token each time, which was most of
the CPU a page cost. So each sidebar entry and each message is rendered by its Jinja macro
(``chat_conversations.html``, ``chat_message.html``: the markup lives there, and the
templates escape exactly as before) and kept, per session id, under *all* the inputs it
was rendered from: a renamed conversation, another current conversation, another CSRF
token or an earlier answer's changed anchors are other keys, rendered afresh. A session
keeps only the fragments of the last page rendered for it. Nothing is shared between
sessions (they are keyed as the page cache is); fragments live in this process only,
the least recently used session's first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from qbizfed.aws.chat import ConversationSummary

SESSIONS_KEPT = 512
"""Sessions whose fragments are kept; the least recently used beyond go. A session keeps
the fragments of the last page rendered for it only (so at most about one page of HTML)."""


class _Kept:
    """A session's fragments: those of the last page rendered for it, by their inputs."""

    def __init__(self) -> None:
        self.conversations: dict[Hashable, Markup] = {}
        self.messages: dict[Hashable, Markup] = {}


class ChatFragments:
    """The chat page's sidebar entries and messages as HTML, per session."""

    def __init__(self, env: Environment, *, sessions: int = SESSIONS_KEPT) -> None:
        # The templates' macros (Jinja types a module's exports as nothing in particular).
        self._conversations: Any = env.get_template("chat_conversations.html").module
        self._messages: Any = env.get_template("chat_message.html").module
        self._sessions: OrderedDict[str, _Kept] = OrderedDict()
        self._size = sessions
        # Pages render on the event loop, but a cache must not depend on that to stay whole.
        self._lock = threading.Lock()

    def _of(self, session_id: str) -> _Kept:
        with self._lock:
            kept = self._sessions.get(session_id)
            if kept is None:
                kept = self._sessions[session_id] = _Kept()
                while len(self._sessions) > self._size:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(session_id)
            return kept

    def conversation_items(
        self,
        session_id: str,
        conversations: Sequence[ConversationSummary],
        conversation_id: str | None,
        csrf_token: str,
    ) -> list[Markup]:
        """Each conversation's ``<li>`` of the sidebar, the current one marked."""
        kept = self._of(session_id)
        before, now = kept.conversations, dict[Hashable, Markup]()
        items: list[Markup] = []
        for summary in conversations:
            current = summary.conversation_id == conversation_id
            # What the macro reads, as plain strings (hashed and compared in C, unlike
            # the dataclass): 50 entries a page.
            key = (summary.conversation_id, summary.title, current, csrf_token)
            html = before.get(key)
            if html is None:
                html = Markup(  # noqa: S704 - the macro's output, autoescaped by the template
                    self._conversations.conversation_item(summary, current, csrf_token)
                )
            now[key] = html
            items.append(html)
        kept.conversations = now
        return items

    def message_items(
        self,
        session_id: str,
        messages: Sequence[Hashable],
        conversation_id: str | None,
        csrf_token: str,
        reasons: Mapping[str, str],
    ) -> list[Markup]:
        """Each message's ``<li>`` (``chat_message.html``), the last one marked latest.
        ``reasons`` (the feedback reasons) must not change while the process runs."""
        kept = self._of(session_id)
        before, now = kept.messages, dict[Hashable, Markup]()
        items: list[Markup] = []
        last = len(messages) - 1
        for number, message in enumerate(messages):
            latest = number == last
            key = (message, conversation_id, csrf_token, latest)
            html = before.get(key)
            if html is None:
                html = Markup(  # noqa: S704 - the macro's output, autoescaped by the template
                    self._messages.message_item(
                        message, conversation_id, csrf_token, reasons, latest
                    )
                )
            now[key] = html
            items.append(html)
        kept.messages = now
        return items

    def forget(self, session_id: str) -> None:
        """Drop the session's fragments (its page cache entry went)."""
        with self._lock:
            self._sessions.pop(session_id, None)
