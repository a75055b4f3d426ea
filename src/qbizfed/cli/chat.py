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
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from qbizfed.aws.chat import Attachment, ChatClient, ChatError, ChatTurn, Conversation
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
    console: Console, conversation: Conversation, message: str, attachments: list[Attachment]
) -> ChatTurn:
    if console.is_terminal:
        with console.status("Asking Q Business..."):
            return conversation.ask(message, attachments=attachments)
    return conversation.ask(message, attachments=attachments)


def _first_then_rest(events: Iterator[StreamEvent], console: Console) -> Iterator[StreamEvent]:
    """The stream's events, with a spinner shown until the first one arrives."""
    with console.status("Asking Q Business..."):
        first = next(events, None)
    if first is None:
        return
    yield first
    yield from events


def stream_answer(
    console: Console, conversation: Conversation, message: str, attachments: list[Attachment]
) -> ChatTurn:
    """Stream one turn to the terminal: text as it arrives, then the footnotes.

    On Ctrl-C the stream is closed (the connection too) and the interrupt goes on; on
    a failure the text shown so far stays on screen and the ``ChatError`` goes on.
    """
    from qbizfed.aws.chat_stream import TextDelta

    with conversation.stream(message, attachments=attachments) as stream:
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
            if self.stream:
                stream_answer(self.console, self.conversation, message, self.pending_attachments)
                self.unsent = None
                self.pending_attachments = []
                return
            turn = _ask_once(self.console, self.conversation, message, self.pending_attachments)
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
