"""Chat page fragments rendered once per session: reused only for the same inputs, escaped
as the templates escape, never shared between sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.templating import Jinja2Templates

from qbizfed.aws.chat import ConversationSummary
from qbizfed.web.chat_fragments import ChatFragments
from qbizfed.web.context import TEMPLATES_DIR
from qbizfed.web.routes_chat import REASON_LABELS, MessageView

WHEN = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
FIRST = ConversationSummary("c" * 36, "On-call", WHEN)
SECOND = ConversationSummary("d" * 36, "Payroll", WHEN)
QUESTION = MessageView("user", "u" * 36, "When do we deploy?")
ANSWER = MessageView("answer", "a" * 36, "Tuesdays.")


def fragments() -> ChatFragments:
    return ChatFragments(Jinja2Templates(directory=str(TEMPLATES_DIR)).env)


def test_the_same_inputs_reuse_the_html_rendered_for_the_session() -> None:
    made = fragments()
    first = made.conversation_items("s1", [FIRST, SECOND], FIRST.conversation_id, "tok1")
    again = made.conversation_items("s1", [FIRST, SECOND], FIRST.conversation_id, "tok1")
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert 'aria-current="page"' in first[0]
    assert 'aria-current="page"' not in first[1]
    assert 'name="csrf_token" value="tok1"' in first[1]


def test_another_session_never_gets_this_sessions_html() -> None:
    made = fragments()
    ours = made.conversation_items("s1", [FIRST], None, "tok1")
    theirs = made.conversation_items("s2", [FIRST], None, "tok1")
    assert ours == theirs  # the same inputs render the same markup...
    assert ours[0] is not theirs[0]  # ...but each session renders its own
    assert 'value="tok2"' in made.conversation_items("s1", [FIRST], None, "tok2")[0]


def test_a_renamed_or_current_conversation_renders_again_and_titles_stay_escaped() -> None:
    made = fragments()
    made.conversation_items("s1", [FIRST], None, "tok")
    renamed = ConversationSummary(FIRST.conversation_id, "<script>alert(1)</script>", WHEN)
    [item] = made.conversation_items("s1", [renamed], None, "tok")
    assert "<script>" not in item
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in item
    [current] = made.conversation_items("s1", [renamed], FIRST.conversation_id, "tok")
    assert 'class="conversation current"' in current


def test_only_the_last_message_is_marked_latest_as_the_thread_grows() -> None:
    made = fragments()
    cid = FIRST.conversation_id
    [question] = made.message_items("s1", [QUESTION], cid, "tok", REASON_LABELS)
    assert 'data-latest="true"' in question
    hostile = MessageView("user", "v" * 36, "<img src=x onerror=alert(1)>")
    items = made.message_items("s1", [QUESTION, ANSWER, hostile], cid, "tok", REASON_LABELS)
    assert 'data-latest="true"' not in items[0]
    assert 'data-latest="true"' in items[2]
    assert "<img" not in items[2]
    assert 'name="message_id" value="' + "a" * 36 + '"' in items[1]


def test_forgetting_a_session_drops_its_fragments() -> None:
    made = fragments()
    [before] = made.conversation_items("s1", [FIRST], None, "tok")
    made.forget("s1")
    [after] = made.conversation_items("s1", [FIRST], None, "tok")
    assert after == before
    assert after is not before
