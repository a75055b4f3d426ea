"""Open a source, attachments and chat controls through the library, the ``qbizfed chat``
REPL and the installed console script (environment and ``credential_process`` credentials)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from qbizfed.aws.chat import Attachment, ChatClient, ChatError, ChatTurn
from qbizfed.aws.chat_stream import TextDelta
from qbizfed.cli.chat import ChatRepl
from qbizfed.errors import AwsError
from qbizfed.local.stack import LocalAws
from tests.conftest import ACCOUNT_ID
from tests.support.console_script import run_qbizfed
from tests.support.managed_features import (
    ALICE,
    BOB,
    CAROL,
    block_phrases,
    enable_creator_mode,
    index_of,
    managed_application,
)
from tests.support.pdf import text_pdf
from tests.support.qbusiness_app import admin_qbusiness, user_qbusiness


@pytest.fixture
def app(local_aws: LocalAws) -> str:
    return managed_application(local_aws)


def _client(stack: LocalAws, app: str, email: str) -> ChatClient:
    return ChatClient(
        qbusiness=user_qbusiness(stack, email), application_id=app, subscription_backoff=0.05
    )


@pytest.mark.parametrize(
    ("user", "question", "document", "text"),
    [
        (ALICE, "When does the falcon project launch on the roadmap?", "plans/alice-roadmap",
         "The roadmap launches"),
        (BOB, "What is the budget for the falcon project?", "bob-budget", "The budget"),
        (CAROL, "When does the office open?", "handbook", "The office opens"),
    ],
)  # fmt: skip
def test_the_library_opens_each_users_own_sources(
    local_aws: LocalAws, app: str, user: str, question: str, document: str, text: str
) -> None:
    client = _client(local_aws, app, user)
    turn = client.conversation().ask(question)
    cited = {c.document_id: c for c in turn.citations}
    assert document in cited
    content = client.document_content(cited[document])
    assert content.is_text
    assert content.text().startswith(text)
    assert "presigned" not in repr(content)
    assert text not in repr(content)


def test_carol_is_never_cited_and_cannot_open_what_she_may_not_see(
    local_aws: LocalAws, app: str
) -> None:
    carol = _client(local_aws, app, CAROL)
    turn = carol.conversation().ask("What is the budget for the falcon project?")
    assert all(c.document_id == "handbook" for c in turn.citations)


def _repl(stack: LocalAws, app: str, email: str) -> tuple[ChatRepl, Console]:
    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    repl = ChatRepl(_client(stack, app, email), console)
    repl.load_controls()
    return repl, console


def test_repl_open_prints_text_and_saves_binary(local_aws: LocalAws, app: str) -> None:
    qb = admin_qbusiness(local_aws)
    qb.batch_put_document(applicationId=app, indexId=index_of(local_aws, app), documents=[{
        "id": "reports/q3.pdf", "title": "Q3 report", "contentType": "PDF",
        "content": {"blob": text_pdf("Quarterly revenue grew by seventeen percent.")},
    }])  # fmt: skip
    repl, console = _repl(local_aws, app, ALICE)
    assert "company's documents" in console.export_text(clear=True)  # the response scope
    repl.handle("When does the office open?")
    repl.handle("/open 1")
    assert "Parking permits come from the front desk." in console.export_text(clear=True)
    repl.handle("How much did quarterly revenue grow?")
    answer = console.export_text(clear=True)
    assert "Q3 report" in answer
    repl.handle("/open 1")
    saved = console.export_text(clear=True)
    assert "Saved Q3 report (application/pdf) to " in saved
    path = Path(saved.split(" to ", 1)[1].strip())
    assert path.read_bytes().startswith(b"%PDF")
    assert path.suffix == ".pdf"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    repl.handle("/open 9")
    assert "has no source [9]" in console.export_text(clear=True)


def test_repl_lists_and_detaches_attachments(
    local_aws: LocalAws, app: str, tmp_path: Path
) -> None:
    repl, console = _repl(local_aws, app, BOB)
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe moon mission codename is Artemis Blue.\n")
    other = tmp_path / "other.txt"
    other.write_text("Nothing to see.")
    repl.handle(f"/attach {notes}")
    repl.handle(f"/attach {other}")
    repl.handle("What is the moon mission codename?")
    assert "Artemis Blue" in console.export_text(clear=True)
    repl.handle("/attachments")
    listed = console.export_text(clear=True)
    assert "notes.md" in listed
    assert "other.txt" in listed
    assert "text/markdown" in listed
    repl.handle("/detach 9")
    assert "no attached file number 9" in console.export_text(clear=True)
    repl.handle("/detach 1")  # newest first: other.txt and notes.md came in one call
    assert "Removed" in console.export_text(clear=True)
    repl.handle("/attachments")
    assert len([line for line in console.export_text(clear=True).splitlines()
                if ".md" in line or ".txt" in line]) == 1  # fmt: skip


def test_repl_offers_creator_mode_only_when_allowed(local_aws: LocalAws, app: str) -> None:
    repl, console = _repl(local_aws, app, CAROL)
    console.export_text(clear=True)
    repl.handle("/creator")
    assert "not enabled for this application" in console.export_text(clear=True)
    enable_creator_mode(local_aws, app)
    repl, console = _repl(local_aws, app, CAROL)
    assert "/creator switches it on" in console.export_text(clear=True)
    repl.handle("/creator")
    repl.handle("Write a haiku about parking")
    assert "creator mode" in console.export_text(clear=True)


def test_repl_shows_the_blocked_phrase_message_as_the_answer(
    local_aws: LocalAws, app: str
) -> None:
    block_phrases(local_aws, app, "falcon", message="That project is confidential.")
    repl, console = _repl(local_aws, app, ALICE)
    repl.handle("Tell me about Falcon")
    assert "That project is confidential." in console.export_text(clear=True)


def _user_env(stack: LocalAws, email: str, app: str) -> dict[str, str]:
    session = stack.registry.issue(
        account_id=ACCOUNT_ID, role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/web",
        role_id="AROATESTROLE", session_name=email, duration_seconds=3600,
        tags={"Email": email},
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env, "AWS_ENDPOINT_URL": stack.url, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "QBUSINESS_APPLICATION_ID": app, "NO_COLOR": "1",
    }  # fmt: skip


def test_console_script_open_with_environment_credentials(local_aws: LocalAws, app: str) -> None:
    done = run_qbizfed(
        "chat", env=_user_env(local_aws, BOB, app),
        stdin="What is the budget for the falcon project?\n/open 1\n/quit\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "The budget for the falcon project is four million." in done.stdout
    assert "_qbizfed/presigned" not in done.stdout + done.stderr


def test_console_script_open_with_credential_process(
    local_aws: LocalAws, app: str, tmp_path: Path
) -> None:
    user_env = _user_env(local_aws, ALICE, app)
    creds = {
        "Version": 1, "AccessKeyId": user_env.pop("AWS_ACCESS_KEY_ID"),
        "SecretAccessKey": user_env.pop("AWS_SECRET_ACCESS_KEY"),
        "SessionToken": user_env.pop("AWS_SESSION_TOKEN"),
    }  # fmt: skip
    helper = tmp_path / "creds.py"
    helper.write_text(f"print({json.dumps(json.dumps(creds))})\n")
    config = tmp_path / "config"
    config.write_text(
        f"[profile alice]\ncredential_process = {sys.executable} {helper}\nregion = us-east-1\n"
    )
    env = {**user_env, "AWS_CONFIG_FILE": str(config)}
    done = run_qbizfed(
        "chat", "--profile", "alice", env=env,
        stdin="When does the falcon project launch on the roadmap?\n/open 1\n/quit\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "The roadmap launches the falcon project in spring." in done.stdout


def test_a_refused_open_names_the_reason(local_aws: LocalAws, app: str) -> None:
    from qbizfed.aws.chat import Citation

    carol = _client(local_aws, app, CAROL)
    carol.conversation().ask("When does the office open?")  # subscribes carol
    forged = Citation(number=1, title="x", url=None, snippet="",
                      document_id="bob-budget", index_id=index_of(local_aws, app))  # fmt: skip
    with pytest.raises(AwsError) as refused:
        carol.document_content(forged)
    assert refused.value.code == "AccessDeniedException"
    assert "bob-budget" in refused.value.message


def _streamed(client: ChatClient, message: str, **kwargs: Any) -> ChatTurn:
    """One turn through the WebSocket chat: the deltas join to the final turn's text."""
    events = list(client.conversation().stream(message, **kwargs))
    turn = events[-1]
    assert isinstance(turn, ChatTurn)
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)) == turn.text
    return turn


def test_a_streamed_turn_reads_its_attachment(local_aws: LocalAws, app: str) -> None:
    client = _client(local_aws, app, ALICE)
    notes = b"# Notes\n\nThe moon mission codename is Artemis Blue.\n\nUnrelated line."
    question = "What is the codename of the moon mission?"
    assert "Artemis" not in _streamed(client, question).text
    turn = _streamed(client, question, attachments=[Attachment("notes.md", notes)])
    assert "Artemis Blue" in turn.text
    assert turn.failed_attachments == ()


def test_a_streamed_turn_meets_the_blocked_phrase_and_creator_mode_rules(
    local_aws: LocalAws, app: str
) -> None:
    client = _client(local_aws, app, ALICE)
    with pytest.raises(ChatError) as refused:
        _streamed(client, "Write a haiku about robots", chat_mode="CREATOR_MODE")
    assert refused.value.code == "ValidationException"
    block_phrases(local_aws, app, "falcon", message="That project is confidential.")
    assert _streamed(client, "Tell me about Falcon").text == "That project is confidential."
