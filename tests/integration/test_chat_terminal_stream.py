"""``qbizfed ask`` streams in a terminal: the installed console script under a pseudo-terminal.

The local stack paces its answer (a delay between text events), so a stream shows text
long before the answer is complete; the test reads the pseudo-terminal as a user's
terminal would and checks that words arrived while the answer was still being
written, then the footnotes. Outside a terminal and with ``--json-stream`` the
output is what scripts read.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbizfed.local.stack import LocalAws
from tests.support.qbusiness_app import ready_application
from tests.support.stream_faults import paced_local_aws, user_environment

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))
DOCUMENTS = [
    {"id": "rollback", "title": "Rollback runbook",
     "text": "To roll back a deployment run fleetctl rollback --to previous. Rollback takes "
             "five minutes and is announced in the ops channel before it starts."},
]  # fmt: skip
QUESTION = "How do I roll back a deployment?"
DELAY_MS = 60


@pytest.fixture
def paced() -> Iterator[tuple[LocalAws, dict[str, str]]]:
    with paced_local_aws(DELAY_MS) as stack:
        app = ready_application(stack, DOCUMENTS)
        yield stack, user_environment(stack, "erin@example.com", app)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(data: bytes) -> str:
    """What the terminal shows, without its colour and cursor sequences."""
    return ANSI.sub("", data.decode(errors="replace"))


def _read_pty(
    argv: list[str], env: dict[str, str], timeout: float = 30.0
) -> tuple[list[tuple[float, bytes]], int]:
    """Run ``argv`` on a pseudo-terminal; every chunk it wrote with its arrival time."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env,
                               close_fds=True)  # fmt: skip
    os.close(follower)
    chunks: list[tuple[float, bytes]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append((time.monotonic(), data))
        return chunks, process.wait(timeout=10)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()


def test_ask_in_a_terminal_shows_text_before_the_answer_is_complete(
    paced: tuple[LocalAws, dict[str, str]],
) -> None:
    _, env = paced
    chunks, code = _read_pty([QBIZFED, "ask", QUESTION], {**env, "TERM": "xterm"})
    assert code == 0, b"".join(c for _, c in chunks).decode(errors="replace")
    output = plain(b"".join(c for _, c in chunks))
    assert "fleetctl rollback" in output
    assert "[1] Rollback runbook" in output  # the footnote, at the end
    # When did the first words of the answer appear, and when the last?
    seen = ""
    first_text_at = last_text_at = 0.0
    for at, data in chunks:
        seen = plain(seen.encode() + data)
        if not first_text_at and "To roll" in seen:
            first_text_at = at
        if "[1] Rollback runbook" in seen:
            last_text_at = at
            break
    assert first_text_at, output
    # The paced answer takes many delays to write: its start was on screen long before.
    assert last_text_at - first_text_at > 5 * DELAY_MS / 1000, (first_text_at, last_text_at)
    assert output.index("To roll") < output.index("[1] Rollback runbook")


def test_no_stream_and_json_outside_a_terminal(paced: tuple[LocalAws, dict[str, str]]) -> None:
    _, env = paced
    plain = subprocess.run([QBIZFED, "ask", QUESTION], env=env, capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "fleetctl rollback" in plain.stdout
    assert "\x1b[" not in plain.stdout  # not a terminal: plain text, as before
    lines = subprocess.run([QBIZFED, "ask", "--json-stream", QUESTION], env=env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert lines.returncode == 0, lines.stderr
    events = [json.loads(line) for line in lines.stdout.splitlines()]
    texts = [e["text"] for e in events if e["type"] == "text"]
    assert len(texts) > 1
    assert events[-1]["type"] == "turn"
    assert "".join(texts) == events[-1]["systemMessage"]
    assert events[-1]["sourceAttributions"][0]["title"] == "Rollback runbook"


def test_json_stream_failure_is_an_error_event_and_exit_1(
    paced: tuple[LocalAws, dict[str, str]],
) -> None:
    from tests.support.stream_faults import set_stream_faults

    stack, env = paced
    set_stream_faults(stack, {"kind": "stream-close", "after_events": 2})
    result = subprocess.run([QBIZFED, "ask", "--json-stream", QUESTION], env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "StreamInterrupted"
    assert events[-1]["partialText"] == "".join(e["text"] for e in events if e["type"] == "text")
    assert "send the message again" in result.stderr


def test_chat_repl_streams_keeps_a_cut_answer_and_retries(
    paced: tuple[LocalAws, dict[str, str]],
) -> None:
    from botocore.config import Config
    from rich.console import Console

    from qbizfed.aws.chat import ChatClient
    from qbizfed.cli.chat import ChatRepl
    from tests.support.qbusiness_app import user_qbusiness
    from tests.support.stream_faults import set_stream_faults

    stack, env = paced
    qb = user_qbusiness(stack, "erin@example.com", config=Config(retries={"total_max_attempts": 1}))
    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    client = ChatClient(qbusiness=qb, application_id=env["QBUSINESS_APPLICATION_ID"],
                        subscription_backoff=0.05)  # fmt: skip
    repl = ChatRepl(client, console, stream=True)
    repl.handle(QUESTION)
    first = console.export_text(clear=True)
    assert "fleetctl rollback" in first
    assert "[1] Rollback runbook" in first
    conversation = repl.conversation.conversation_id
    set_stream_faults(stack, {"kind": "stream-close", "after_events": 2})
    repl.handle("How long does it take?")
    cut = console.export_text(clear=True)
    assert "StreamInterrupted" in cut
    assert "/retry" in cut
    set_stream_faults(stack)
    repl.handle("/retry")
    assert "five minutes" in console.export_text(clear=True)
    assert repl.conversation.conversation_id == conversation
    assert len(repl.conversation.turns) == 2


def test_ctrl_c_mid_answer_ends_cleanly_with_exit_130(
    paced: tuple[LocalAws, dict[str, str]],
) -> None:
    import signal

    _, env = paced
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [QBIZFED, "ask", QUESTION], stdin=follower, stdout=follower, stderr=follower,
        env={**env, "TERM": "xterm"}, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"To roll" not in seen and time.monotonic() < deadline:  # the answer has begun
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                seen += os.read(leader, 4096)
        assert b"To roll" in seen, seen
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
        while True:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if not ready:
                break
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            seen += data
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    assert code == 130
    shown = plain(seen)
    assert "Traceback" not in shown
    assert "[1] Rollback runbook" not in shown  # the answer stopped where it was
