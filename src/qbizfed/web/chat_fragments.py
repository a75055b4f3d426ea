"""Parts of the chat page rendered once per browser session, then reused as HTML.

A turn's page shows the same sidebar (up to 50 conversations, each with its own delete
form) and the same earlier messages as the page before it; only the new turn differs.
Rendering all of it again escapes every title, id and token each time, which was most of
the CPU a page cost. So each sidebar entry and each message is rendered by its Jinja macro
(``chat_conversations.html``, ``chat_message.html``: the markup lives there, and the
templates escape exactly as before) and kept, per session id, under *all* the inputs it
was rendered from: a renamed conversation, another current conversation, another CSRF
token or an earlier answer's changed anchors are other keys, rendered afresh. Nothing is
shared between sessions (they are keyed as the page cache is); entries live in this
process only, the least recently used session's first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from qbizfed.aws.chat import ConversationSummary

SESSIONS_KEPT = 1024
"""Sessions whose fragments are kept; the least recently used beyond go."""
FRAGMENTS_KEPT = 512
"""Fragments kept per session: a page shows 50 conversations and at most 200 messages."""


class ChatFragments:
    """The chat page's sidebar entries and messages as HTML, per session."""

    def __init__(self, env: Environment, *, sessions: int = SESSIONS_KEPT) -> None:
        # The templates' macros (Jinja types a module's exports as nothing in particular).
        self._conversations: Any = env.get_template("chat_conversations.html").module
        self._messages: Any = env.get_template("chat_message.html").module
        self._sessions: OrderedDict[str, OrderedDict[Hashable, Markup]] = OrderedDict()
        self._size = sessions
        # Pages render on the event loop, but a cache must not depend on that to stay whole.
        self._lock = threading.Lock()

    def _of(self, session_id: str) -> OrderedDict[Hashable, Markup]:
        with self._lock:
            fragments = self._sessions.get(session_id)
            if fragments is None:
                fragments = self._sessions[session_id] = OrderedDict()
                while len(self._sessions) > self._size:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(session_id)
            return fragments

    @staticmethod
    def _keep(fragments: OrderedDict[Hashable, Markup], key: Hashable, html: Markup) -> None:
        fragments[key] = html
        while len(fragments) > FRAGMENTS_KEPT:  # the oldest first out
            fragments.popitem(last=False)

    def conversation_items(
        self,
        session_id: str,
        conversations: Sequence[ConversationSummary],
        conversation_id: str | None,
        csrf_token: str,
    ) -> list[Markup]:
        """Each conversation's ``<li>`` of the sidebar, the current one marked."""
        fragments = self._of(session_id)
        items: list[Markup] = []
        for summary in conversations:
            current = summary.conversation_id == conversation_id
            key = ("conversation", summary, current, csrf_token)
            html = fragments.get(key)
            if html is None:
                html = Markup(  # noqa: S704 - the macro's output, autoescaped by the template
                    self._conversations.conversation_item(summary, current, csrf_token)
                )
                self._keep(fragments, key, html)
            items.append(html)
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
        fragments = self._of(session_id)
        items: list[Markup] = []
        last = len(messages) - 1
        for number, message in enumerate(messages):
            latest = number == last
            key = ("message", message, conversation_id, csrf_token, latest)
            html = fragments.get(key)
            if html is None:
                html = Markup(  # noqa: S704 - the macro's output, autoescaped by the template
                    self._messages.message_item(
                        message, conversation_id, csrf_token, reasons, latest
                    )
                )
                self._keep(fragments, key, html)
            items.append(html)
        return items

    def forget(self, session_id: str) -> None:
        """Drop the session's fragments (its page cache entry went)."""
        with self._lock:
            self._sessions.pop(session_id, None)
