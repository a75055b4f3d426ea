"""The MCP tools: what a model may ask Q Business on behalf of the signed-in user.

Each tool validates its arguments (types, lengths, id patterns: the SDK refuses a
missing or oversized argument before the tool runs, from the JSON schema built out
of these annotations), makes identity-aware Q Business calls through the chat
library as the profile's user, and returns text: answers, citations as numbered
links with snippets, passages, conversations. Nothing else is reachable: the tools
take no URLs, paths or commands, so text inside a document (a prompt injection)
can at most make a model call these same tools as the same user.

Errors the user can fix become tool errors (``is_error``) whose text names the fix,
such as "run: qbizfed login --profile NAME"; they never carry credentials.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from qbizfed.aws.chat import Citation, ConversationSummary, HistoryMessage, RelevantPassage
from qbizfed.errors import AwsError, QbizfedError
from qbizfed.mcp_server.profile_user import ProfileUser

MAX_QUESTION_CHARS = 7000  # ChatSync's userMessage limit
MAX_QUERY_CHARS = 1000
MAX_SEARCH_RESULTS = 50
MAX_LISTED_CONVERSATIONS = 100
SNIPPET_CHARS = 300
PASSAGE_CHARS = 1500
ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9-]{35}$"  # Q Business conversation ids
MAX_SOURCE_NUMBER = 100
SOURCE_CHARS = 20_000

Question = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="The question, in natural language.",
    ),
]
ConversationId = Annotated[
    str,
    Field(
        min_length=36,
        max_length=36,
        pattern=ID_PATTERN,
        description="A conversation id from list_conversations or a previous ask.",
    ),
]
Query = Annotated[
    str, Field(min_length=1, max_length=MAX_QUERY_CHARS, description="Words to search for.")
]
ResultCount = Annotated[
    int, Field(ge=1, le=MAX_SEARCH_RESULTS, description="How many passages at most.")
]
ConversationCount = Annotated[
    int, Field(ge=1, le=MAX_LISTED_CONVERSATIONS, description="How many conversations at most.")
]
SourceNumber = Annotated[
    int, Field(ge=1, le=MAX_SOURCE_NUMBER, description="A citation number [n] of that answer.")
]


class ToolFailureError(ToolError):
    """A tool call failed in a way the user can fix; the message says how (``is_error``)."""


@contextmanager
def _user_errors(user: ProfileUser, *, conversation_id: str | None = None) -> Iterator[None]:
    try:
        yield
    except AwsError as exc:
        if exc.code == "ResourceNotFoundException" and conversation_id:
            raise ToolFailureError(
                f"no conversation {conversation_id} for the signed-in user of profile "
                f"{user.profile_name!r}: it does not exist, was deleted, or belongs to another "
                "user. Fix: call list_conversations for this user's conversation ids."
            ) from exc
        raise ToolFailureError(_described(exc)) from exc
    except QbizfedError as exc:
        raise ToolFailureError(_described(exc)) from exc


def _described(exc: QbizfedError) -> str:
    return exc.message + (f". Fix: {exc.remedy}" if exc.remedy else "")


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render_citations(citations: Sequence[Citation]) -> str:
    """Citations as numbered links with their snippets (matching the ``[n]`` markers)."""
    lines = ["Sources:"]
    for c in citations:
        title = c.title or c.document_id or "untitled"
        lines.append(f"[{c.number}] [{title}]({c.url})" if c.url else f"[{c.number}] {title}")
        if c.snippet:
            lines.append(f"    > {_one_line(c.snippet, SNIPPET_CHARS)}")
    return "\n".join(lines)


def render_passages(query: str, passages: Sequence[RelevantPassage]) -> str:
    if not passages:
        return f"No passages you may see match {query!r}."
    parts = []
    for number, p in enumerate(passages, start=1):
        head = f"[{number}] [{p.title}]({p.url})" if p.url else f"[{number}] {p.title}"
        if p.confidence:
            head += f" (confidence: {p.confidence})"
        parts.append(f"{head}\n{_one_line(p.content, PASSAGE_CHARS)}")
    return "\n\n".join(parts)


def render_conversations(conversations: Sequence[ConversationSummary]) -> str:
    if not conversations:
        return "No conversations yet."
    return "\n".join(
        f"{c.conversation_id}  {c.start_time:%Y-%m-%d %H:%M}  {c.title}"
        if c.start_time
        else f"{c.conversation_id}  {c.title}"
        for c in conversations
    )


def render_history(conversation_id: str, messages: Sequence[HistoryMessage]) -> str:
    parts = [f"Conversation {conversation_id}:"]
    for m in messages:
        speaker = "user" if m.kind == "USER" else "assistant"
        parts.append(f"{speaker}: {m.body}")
        if m.citations:
            parts.append(render_citations(m.citations))
    return "\n\n".join(parts)


class QBusinessTools:
    """The tools, bound to one signed-in user. Their names are the MCP tool names."""

    def __init__(self, user: ProfileUser) -> None:
        self.user = user

    def ask(self, question: Question, conversation_id: ConversationId | None = None) -> str:
        """Ask Amazon Q Business, as the signed-in user, about the documents they may see.

        Returns the answer with its citations as numbered links and snippets, and the
        conversation id: pass it back as conversation_id to ask a follow-up question.
        """
        with _user_errors(self.user, conversation_id=conversation_id):
            conversation = self.user.chat().conversation(conversation_id)
            turn = conversation.ask(question)
        text = turn.text
        if turn.citations:
            text += "\n\n" + render_citations(turn.citations)
        return text + f"\n\nconversation_id: {turn.conversation_id}"

    def search(self, query: Query, max_results: ResultCount = 10) -> str:
        """Search the documents the signed-in user may see; returns relevant passages."""
        with _user_errors(self.user):
            retriever = self.user.retriever_id()
            passages = self.user.chat().search(
                query, retriever_id=retriever, max_results=max_results
            )
        return render_passages(query, passages)

    def list_conversations(self, max_results: ConversationCount = 20) -> str:
        """The signed-in user's conversations, newest first: id, start time, title."""
        found: list[ConversationSummary] = []
        with _user_errors(self.user):
            for summary in self.user.chat().list_conversations():
                found.append(summary)
                if len(found) >= max_results:
                    break
        return render_conversations(found)

    def open_source(self, conversation_id: ConversationId, source: SourceNumber) -> str:
        """The text of source [n] cited by the latest answer of one of the signed-in user's
        conversations that cites it (GetDocumentContent: only documents the user may see).
        """
        with _user_errors(self.user, conversation_id=conversation_id):
            chat = self.user.chat()
            cited = next(
                (
                    c
                    for m in reversed(chat.history(conversation_id))
                    for c in m.citations
                    if c.number == source
                ),
                None,
            )
            if cited is None:
                raise ToolFailureError(
                    f"no answer in conversation {conversation_id} cites a source [{source}]; "
                    "call get_conversation to see the numbers"
                )
            content = chat.document_content(cited, extracted=True)
        text = content.data.decode("utf-8", errors="replace")
        if len(text) > SOURCE_CHARS:
            text = text[:SOURCE_CHARS] + f"\n… (cut at {SOURCE_CHARS} characters)"
        heading = f"[{source}] {cited.title}" + (f" ({cited.url})" if cited.url else "")
        return heading + "\n\n" + text

    def get_conversation(self, conversation_id: ConversationId) -> str:
        """Every message of one of the signed-in user's conversations, with citations."""
        with _user_errors(self.user, conversation_id=conversation_id):
            messages = self.user.chat().history(conversation_id)
        return render_history(conversation_id, messages)


TOOL_NAMES = ("ask", "search", "list_conversations", "get_conversation", "open_source")
