"""``qbizfed ask`` and ``qbizfed chat``: Q Business in the terminal.

Credentials come from wherever boto3 finds them (environment, ``--profile``, a
``credential_process`` profile written by ``qbizfed configure``). Output respects
``NO_COLOR`` and is plain when stdout is not a terminal.

In a terminal the answer streams (Q Business's WebSocket chat, through
``Conversation.stream``): a spinner until the first event, the text as it is written,
then the citations as numbered footnotes. Elsewhere, and with ``--no-stream``, a turn
is one ChatSync call, as in scripts. ``--json-stream`` prints one JSON object per event.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from qbizfed.aws.chat import (
    Attachment,
    ChatClient,
    ChatError,
    ChatTurn,
    Citation,
    Conversation,
    ConversationAttachment,
)
from qbizfed.aws.chat_controls import ChatControls
from qbizfed.aws.document_content import DocumentContent
from qbizfed.errors import ConfigError, QbizfedError

if TYPE_CHECKING:  # the streaming client is imported when a turn streams
    from qbizfed.aws.chat_stream import StreamEvent

APP_ID_ENV = "QBUSINESS_APPLICATION_ID"

HELP_TEXT = """\
/new                      start a new conversation
/list                     list your conversations
/resume ID                continue a conversation
/history                  show this conversation's messages
/feedback up|down [REASON] [comment...]   rate the last answer
/attach FILE              attach a file to the next message (up to 5)
/attachments              list the files attached to this conversation
/detach N                 remove attached file N (numbers from /attachments)
/open N                   open source [N] of the last answer (text is printed,
                          other files are saved and their path shown)
/creator                  switch creator mode on or off (when the application allows it)
/retry                    send the last unsent message again
/delete                   delete this conversation
/help                     this help
/quit                     leave (Ctrl-D works too)"""


def _client(
    app_id: str | None, profile: str | None, region: str | None, console: Console
) -> ChatClient:
    import boto3

    application_id = app_id or os.environ.get(APP_ID_ENV, "")
    if not application_id:
        raise ConfigError(
            "no Q Business application id",
            remedy=f"pass --app-id or set {APP_ID_ENV} (qbizfed admin status shows it)",
        )
    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    except Exception as exc:  # botocore's ProfileNotFound and friends
        raise ConfigError(
            f"cannot use AWS profile {profile!r}: {exc}", remedy="check ~/.aws/config"
        ) from exc
    return ChatClient.from_session(
        session,
        application_id,
        region=region,
        on_notice=lambda text: console.print(f"[dim]{text}[/]", highlight=False),
    )


def render_turn(console: Console, turn: ChatTurn) -> None:
    """The answer as Markdown, then its citations as numbered footnotes with links."""
    console.print(Markdown(turn.text) if console.is_terminal else turn.text)
    render_footnotes(console, turn)


def render_footnotes(console: Console, turn: ChatTurn) -> None:
    """What follows an answer: numbered sources, failed attachments, plugin sign-in."""
    if turn.citations:
        console.print()
        for citation in turn.citations:
            link = f" <{citation.url}>" if citation.url else ""
            console.print(f"[bold][{citation.number}][/] {citation.title}{link}", highlight=False)
            if citation.snippet:
                console.print(f"    [dim]{citation.snippet[:200]}[/]", highlight=False)
    for failed in turn.failed_attachments:
        console.print(
            f"[yellow]attachment {failed.name} failed: {failed.error}[/]", highlight=False
        )
    if turn.auth_challenge_url:
        console.print(f"A plugin needs you to sign in: {turn.auth_challenge_url}", highlight=False)


def _ask_once(
    console: Console,
    conversation: Conversation,
    message: str,
    attachments: list[Attachment],
    chat_mode: str | None = None,
) -> ChatTurn:
    if console.is_terminal:
        with console.status("Asking Q Business..."):
            return conversation.ask(message, attachments=attachments, chat_mode=chat_mode)
    return conversation.ask(message, attachments=attachments, chat_mode=chat_mode)


_CONTROL = {c: None for c in range(32) if chr(c) not in "\n\t"} | {127: None}


def printable(text: str) -> str:
    """Document text safe for a terminal: control characters (escape sequences) removed."""
    return text.translate(_CONTROL)


def save_document(content: DocumentContent, directory: Path | None = None) -> Path:
    """Write a document to a fresh private folder (0700) as a 0600 file; its path."""
    folder = directory or Path(tempfile.mkdtemp(prefix="qbizfed-open-"))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", content.document_id.rsplit("/", 1)[-1])
    stem = stem.strip("._")[:80] or "document"
    suffix = mimetypes.guess_extension(content.mime_type.split(";")[0].strip()) or ".bin"
    path = folder / (stem if stem.endswith(suffix) else stem + suffix)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content.data)
    return path


def _first_then_rest(events: Iterator[StreamEvent], console: Console) -> Iterator[StreamEvent]:
    """The stream's events, with a spinner shown until the first one arrives."""
    with console.status("Asking Q Business..."):
        first = next(events, None)
    if first is None:
        return
    yield first
    yield from events


def stream_answer(
    console: Console,
    conversation: Conversation,
    message: str,
    attachments: list[Attachment],
    chat_mode: str | None = None,
) -> ChatTurn:
    """Stream one turn to the terminal: text as it arrives, then the footnotes.

    On Ctrl-C the stream is closed (the connection too) and the interrupt goes on; on
    a failure the text shown so far stays on screen and the ``ChatError`` goes on.
    """
    from qbizfed.aws.chat_stream import TextDelta

    with conversation.stream(message, attachments=attachments, chat_mode=chat_mode) as stream:
        shown = False
        for event in _first_then_rest(stream, console):
            if isinstance(event, TextDelta):
                console.file.write(event.text)
                console.file.flush()
                shown = True
                continue
            if shown and not event.text.endswith("\n"):
                console.file.write("\n")
            if not shown:  # the whole answer came in the metadata event
                console.print(event.text, highlight=False, markup=False)
            render_footnotes(console, event)
            return event
    raise ChatError(  # a stream always ends with the turn or an error; never silently
        "the streamed answer ended without its final event",
        code="StreamInterrupted", remedy="send the message again", unsent_message=message,
    )  # fmt: skip


def stream_json(conversation: Conversation, message: str, attachments: list[Attachment]) -> None:
    """``--json-stream``: one JSON object per event and line (``"type"``: text, turn, error)."""

    def emit(record: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()

    from qbizfed.aws.chat_stream import TextDelta

    try:
        with conversation.stream(message, attachments=attachments) as stream:
            for event in stream:
                if isinstance(event, TextDelta):
                    emit({"type": "text", "text": event.text})
                else:
                    emit({"type": "turn", **event.as_json()})
    except ChatError as err:
        emit({"type": "error", "code": err.code, "message": err.message,
              "remedy": err.remedy, "partialText": err.partial_text})  # fmt: skip
        raise


def ask(
    question: str = typer.Argument(..., help="The question."),
    app_id: str | None = typer.Option(None, "--app-id", help=f"Application id (or {APP_ID_ENV})."),
    profile: str | None = typer.Option(
        None, "--profile", help="AWS profile with identity-aware credentials."
    ),
    region: str | None = typer.Option(
        None, "--region", help="AWS region (default: from the profile/env)."
    ),
    conversation_id: str | None = typer.Option(
        None, "--conversation", help="Continue this conversation."
    ),
    attach: list[Path] = typer.Option([], "--attach", help="Attach a file (repeatable, up to 5)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full turn as JSON."),
    json_stream: bool = typer.Option(
        False, "--json-stream", help="Stream: print one JSON object per event (NDJSON)."
    ),
    stream: bool | None = typer.Option(
        None,
        "--stream/--no-stream",
        help="Stream the answer as it is written (default: when stdout is a terminal).",
    ),
) -> None:
    """Ask one question and print the answer with its sources."""
    if as_json and json_stream:
        raise ConfigError("--json and --json-stream exclude each other", remedy="choose one")
    console = Console(stderr=as_json or json_stream)
    client = _client(app_id, profile, region, Console(stderr=True))
    conversation = client.conversation(conversation_id)
    attachments = [Attachment.from_path(path) for path in attach]
    if json_stream:
        stream_json(conversation, question, attachments)
        return
    streaming = console.is_terminal if stream is None else stream
    if streaming and not as_json:
        stream_answer(console, conversation, question, attachments)
        return
    turn = _ask_once(console, conversation, question, attachments)
    if as_json:
        typer.echo(json.dumps(turn.as_json(), indent=2))
    else:
        render_turn(console, turn)


class ChatRepl:
    """The interactive loop of ``qbizfed chat``; one instance per terminal session."""

    def __init__(self, client: ChatClient, console: Console, *, stream: bool | None = None) -> None:
        self.client = client
        self.console = console
        self.stream = console.is_terminal if stream is None else stream
        self.conversation = client.conversation()
        self.pending_attachments: list[Attachment] = []
        self.unsent: str | None = None
        self.citations: tuple[Citation, ...] = ()
        self.listed_attachments: list[ConversationAttachment] = []
        self.controls = ChatControls.default()
        self.creator_mode = False

    def load_controls(self) -> None:
        """Read the application's chat controls; say where answers come from."""
        try:
            self.controls = self.client.chat_controls()
        except QbizfedError as err:
            self.console.print(
                f"[yellow]chat controls unavailable: {err.message}[/]\n  fix: {err.remedy}",
                highlight=False,
            )
            return
        self.console.print(self.controls.scope_label, highlight=False)
        if self.controls.creator_mode_allowed:
            self.console.print("Creator mode is available: /creator switches it on.")

    def handle(self, line: str) -> bool:
        """Process one input line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return self._command(line)
        self._send(line)
        return True

    def _send(self, message: str) -> None:
        try:
            mode = "CREATOR_MODE" if self.creator_mode else None
            if self.stream:
                streamed = stream_answer(
                    self.console, self.conversation, message, self.pending_attachments, mode
                )
                self.unsent = None
                self.pending_attachments = []
                self.citations = streamed.citations
                return
            turn = _ask_once(
                self.console, self.conversation, message, self.pending_attachments, mode
            )
        except ChatError as err:
            if err.partial_text:
                self.console.print()
            self.unsent = err.unsent_message
            self.console.print(f"[red]{err.message}[/]\n  fix: {err.remedy}", highlight=False)
            self.console.print("Your message was not lost: /retry sends it again.")
            return
        except KeyboardInterrupt:
            self.unsent = message
            self.console.print("Interrupted. /retry sends the message again.")
            return
        self.unsent = None
        self.pending_attachments = []
        self.citations = turn.citations
        render_turn(self.console, turn)

    def _command(self, line: str) -> bool:
        name, *args = shlex.split(line)
        try:
            return self._dispatch(name, args)
        except QbizfedError as err:
            self.console.print(f"[red]{err.message}[/]\n  fix: {err.remedy}", highlight=False)
            return True

    def _dispatch(self, name: str, args: list[str]) -> bool:
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            self.console.print(HELP_TEXT, highlight=False)
        elif name == "/new":
            self.conversation = self.client.conversation()
            self.console.print("New conversation.")
        elif name == "/list":
            table = Table("id", "title", "started")
            for summary in self.client.list_conversations():
                started = (
                    summary.start_time.isoformat(timespec="minutes") if summary.start_time else ""
                )
                table.add_row(summary.conversation_id, summary.title, started)
            self.console.print(table)
        elif name == "/resume" and args:
            self.conversation = self.client.conversation(args[0])
            self.console.print(f"Resumed {args[0]}.")
            self._show_history()
        elif name == "/history":
            self._show_history()
        elif name == "/feedback" and args and args[0] in ("up", "down"):
            reason = args[1] if len(args) > 1 else None
            comment = " ".join(args[2:]) or None
            self.conversation.feedback(useful=args[0] == "up", reason=reason, comment=comment)
            self.console.print("Thanks, feedback sent.")
        elif name == "/attach" and args:
            self.pending_attachments.append(Attachment.from_path(Path(args[0]).expanduser()))
            self.console.print(f"{args[0]} will be attached to your next message.")
        elif name == "/attachments":
            self._list_attachments()
        elif name == "/detach" and args:
            self._detach(args[0])
        elif name == "/open" and args:
            self._open(args[0])
        elif name == "/creator":
            self._toggle_creator()
        elif name == "/retry":
            if self.unsent is None:
                self.console.print("Nothing to retry.")
            else:
                self._send(self.unsent)
        elif name == "/delete":
            self.conversation.delete()
            self.console.print("Conversation deleted.")
        else:
            self.console.print(f"Unknown command {name}. /help lists them.")
        return True

    def _show_history(self) -> None:
        for message in self.conversation.history():
            who = "you" if message.kind == "USER" else "Q"
            self.console.print(f"[bold]{who}:[/] {message.body}", highlight=False)
            if message.kind != "USER":
                self.citations = message.citations

    def _list_attachments(self) -> None:
        conversation_id = self.conversation.conversation_id
        if not conversation_id:
            self.console.print("No conversation yet: attach a file and ask something first.")
            return
        self.listed_attachments = self.client.list_attachments(conversation_id)
        if not self.listed_attachments:
            self.console.print("No files are attached to this conversation.")
            return
        table = Table("#", "name", "type", "bytes", "status")
        for number, item in enumerate(self.listed_attachments, start=1):
            table.add_row(str(number), printable(item.name), item.file_type or "",
                          str(item.file_size or ""), item.status)  # fmt: skip
        self.console.print(table)

    def _detach(self, number: str) -> None:
        if not self.listed_attachments:
            self._list_attachments()
        item = _numbered(self.listed_attachments, number, "/attachments")
        self.client.delete_attachment(item.conversation_id, item.attachment_id)
        self.listed_attachments = []
        self.console.print(f"Removed {printable(item.name)} from this conversation.")

    def _open(self, number: str) -> None:
        by_number = {str(c.number): c for c in self.citations}
        citation = by_number.get(number.strip("[]"))
        if citation is None:
            raise ConfigError(
                f"the last answer has no source [{number}]",
                remedy="use a number shown under the answer",
            )
        content = self.client.document_content(citation)
        if content.is_text:
            self.console.print(printable(content.text()), markup=False, highlight=False)
            return
        path = save_document(content)
        self.console.print(f"Saved {citation.title} ({content.mime_type}) to {path}",
                           markup=False, highlight=False)  # fmt: skip

    def _toggle_creator(self) -> None:
        if not self.creator_mode and not self.controls.creator_mode_allowed:
            self.console.print("Creator mode is not enabled for this application.")
            return
        self.creator_mode = not self.creator_mode
        self.console.print(
            "Creator mode on: answers come from the model, not your documents."
            if self.creator_mode
            else "Creator mode off: answers come from your company's documents."
        )


def _numbered(
    items: list[ConversationAttachment], number: str, lister: str
) -> ConversationAttachment:
    if not number.isdigit() or not 1 <= int(number) <= len(items):
        raise ConfigError(f"no attached file number {number}", remedy=f"{lister} lists them")
    return items[int(number) - 1]


def chat(
    app_id: str | None = typer.Option(None, "--app-id", help=f"Application id (or {APP_ID_ENV})."),
    profile: str | None = typer.Option(
        None, "--profile", help="AWS profile with identity-aware credentials."
    ),
    region: str | None = typer.Option(
        None, "--region", help="AWS region (default: from the profile/env)."
    ),
    conversation_id: str | None = typer.Option(None, "--resume", help="Resume this conversation."),
    stream: bool | None = typer.Option(
        None,
        "--stream/--no-stream",
        help="Stream answers as they are written (default: when stdout is a terminal).",
    ),
) -> None:
    """Chat with Q Business: a REPL with history, citations and feedback (/help)."""
    with contextlib.suppress(ImportError):  # line editing and in-session history
        import readline  # noqa: F401
    console = Console()
    repl = ChatRepl(_client(app_id, profile, region, console), console, stream=stream)
    repl.load_controls()
    if conversation_id:
        repl.handle(f"/resume {conversation_id}")
    console.print("Ask a question, or /help. Ctrl-D leaves.", highlight=False)
    while True:
        try:
            line = input("you> ")
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print("\n(Ctrl-D or /quit to leave)")
            continue
        if not repl.handle(line):
            return


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("chat")(chat)


__all__ = [
    "ChatRepl",
    "ask",
    "chat",
    "register",
    "render_footnotes",
    "render_turn",
    "stream_answer",
]
