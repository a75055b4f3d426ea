"""``qbizfed chat``'s REPL against the Q Business emulator, command by command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.config import Config
from rich.console import Console

from qbizfed.aws.chat import ChatClient
from qbizfed.cli.chat import ChatRepl
from qbizfed.local.faults import FaultKind, FaultRule
from qbizfed.local.stack import LocalAws
from tests.support.qbusiness_app import ready_application, user_qbusiness

DOCUMENTS = [
    {"id": "rollback", "title": "Rollback runbook",
     "text": "To roll back a deployment run fleetctl rollback --to previous. "
             "Rollback takes five minutes."},
    {"id": "lunch", "title": "Canteen", "text": "Lunch is served from noon in the canteen."},
    {"id": "salaries", "title": "Salary bands", "allow_user": "someone.else@example.com",
     "text": "Salary bands for engineers range from 50k to 90k, reviewed every rollback season."},
]  # fmt: skip


@pytest.fixture
def repl(fresh_local_aws: LocalAws) -> tuple[ChatRepl, Console, LocalAws]:
    app = ready_application(fresh_local_aws, DOCUMENTS)
    qb = user_qbusiness(
        fresh_local_aws, "dana@example.com", config=Config(retries={"total_max_attempts": 1})
    )
    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    client = ChatClient(  # as `qbizfed chat` builds it: notices go to the console
        qbusiness=qb, application_id=app, subscription_backoff=0.05, on_notice=console.print
    )
    return ChatRepl(client, console), console, fresh_local_aws


def _output(console: Console) -> str:
    return console.export_text(clear=True)


def test_a_question_gets_an_answer_with_footnotes(repl: tuple[ChatRepl, Console, LocalAws]) -> None:
    chat, console, _ = repl
    assert chat.handle("How do I roll back a deployment?")
    text = _output(console)
    assert "fleetctl rollback" in text
    assert "[1] Rollback runbook" in text
    assert "Salary bands" not in text  # not permitted to dana
    assert "subscribes you" in text  # the first-call subscription notice, then the answer


def test_list_resume_history_feedback_and_delete(repl: tuple[ChatRepl, Console, LocalAws]) -> None:
    chat, console, _ = repl
    chat.handle("How do I roll back a deployment?")
    first_conversation = chat.conversation.conversation_id
    assert first_conversation
    chat.handle("/feedback up HELPFUL exactly what I needed")
    chat.handle("/new")
    chat.handle("When is lunch served?")
    chat.handle("/list")
    listed = _output(console)
    assert first_conversation in listed
    chat.handle(f"/resume {first_conversation}")
    resumed = _output(console)
    assert "you: How do I roll back a deployment?" in resumed
    chat.handle("How long does it take?")  # continues the resumed conversation
    assert chat.conversation.conversation_id == first_conversation
    chat.handle("/delete")
    chat.handle("/list")
    assert first_conversation not in _output(console)


def test_a_failed_turn_is_kept_and_retried(repl: tuple[ChatRepl, Console, LocalAws]) -> None:
    chat, console, stack = repl
    chat.handle("When is lunch served?")
    stack.faults.replace_rules(
        [FaultRule(kind=FaultKind.ERROR, service="qbusiness", operation="ChatSync", remaining=1)]
    )
    chat.handle("How do I roll back a deployment?")
    failed = _output(console)
    assert "InternalServerException" in failed
    assert "/retry" in failed
    chat.handle("/retry")
    assert "fleetctl rollback" in _output(console)
    assert len(chat.conversation.turns) == 2


def test_attach_and_unknown_commands(
    repl: tuple[ChatRepl, Console, LocalAws], tmp_path: Path
) -> None:
    chat, console, _ = repl
    note = tmp_path / "notes.txt"
    note.write_text("rollback notes")
    chat.handle(f"/attach {note}")
    assert "will be attached" in _output(console)
    chat.handle("/attach /nonexistent/file.txt")
    assert "cannot read attachment" in _output(console)
    chat.handle("/frobnicate")
    assert "Unknown command" in _output(console)
    assert chat.handle("/quit") is False


def test_help_lists_every_command(repl: tuple[ChatRepl, Console, LocalAws]) -> None:
    chat, console, _ = repl
    chat.handle("/help")
    text = _output(console)
    for command in ("/new", "/list", "/resume", "/history", "/feedback", "/attach", "/retry"):
        assert re.search(rf"^{re.escape(command)}\b", text, re.M), command
