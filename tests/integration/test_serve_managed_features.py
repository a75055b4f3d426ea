"""The chat page's managed-experience features over HTTP, as alice (OIDC), bob (SAML) and
carol (OIDC): open a cited source through serve, list and remove attachments, creator
mode offered only when the application allows it, blocked phrases answered with the
configured message."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.browser.chat_stack import ChatStack, admin_client_at, running_chat_stack
from tests.integration.test_serve_chat import answered, ask, csrf_of, latest_answer
from tests.integration.test_serve_end_to_end import sign_in_oidc, sign_in_saml

ARCHITECTURE_QUESTION = "Which database does the fleet controller store state in?"
BUDGET_QUESTION = "What total spending does the 2027 budget plan?"
HOLIDAY_QUESTION = "Which days are the offices closed in 2026?"
OPEN_LINK = re.compile(r'href="(/chat/source/[^"]+)"')


@pytest.fixture(scope="module")
def stack() -> Iterator[ChatStack]:
    with running_chat_stack() as running:
        yield running


def _open_links(page: str) -> list[str]:
    return [html.unescape(link) for link in OPEN_LINK.findall(page)]


@pytest.mark.parametrize(
    ("user", "protocol", "question", "fact"),
    [
        ("alice", "oidc", ARCHITECTURE_QUESTION, "PostgreSQL 16"),
        ("bob", "saml", BUDGET_QUESTION, "31 million euros"),
        ("carol", "oidc", HOLIDAY_QUESTION, "Good Friday"),
    ],
)
def test_each_user_opens_a_cited_source_through_serve(
    stack: ChatStack, user: str, protocol: str, question: str, fact: str
) -> None:
    with httpx.Client(timeout=30) as browser:
        (sign_in_oidc if protocol == "oidc" else sign_in_saml)(stack, browser, user)  # type: ignore[arg-type]
        _, page = answered(stack, browser, question)
        links = _open_links(page)
        assert links, page[:3000]
        opened = browser.get(stack.url + links[0])
        assert opened.status_code == 200, opened.text[:1000]
        assert fact in opened.text
        assert opened.headers["content-type"] == "text/plain; charset=utf-8"
        assert opened.headers["x-content-type-options"] == "nosniff"
        assert opened.headers["content-security-policy"].startswith("sandbox;")
        assert opened.headers["content-disposition"].startswith("inline;")
        assert "presigned" not in opened.text
        assert "X-Amz" not in str(opened.headers)
        assert "_qbizfed" not in str(opened.headers)


def test_a_source_link_of_another_users_conversation_does_not_open(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as bob, httpx.Client(timeout=30) as carol:
        sign_in_saml(stack, bob, "bob")  # type: ignore[arg-type]
        sign_in_oidc(stack, carol, "carol")  # type: ignore[arg-type]
        _, page = answered(stack, bob, BUDGET_QUESTION)
        link = _open_links(page)[0]
        # carol has her own conversations on another application; bob's ids are not hers
        answered(stack, carol, HOLIDAY_QUESTION)
        stolen = carol.get(stack.url + link)
        assert stolen.status_code in (403, 404)
        assert "31 million" not in stolen.text


def test_attachments_are_listed_and_removed_with_csrf(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_saml(stack, browser, "bob")  # type: ignore[arg-type]
        reply = ask(
            stack, browser, "What is the moon mission codename?",
            files=[("attachments", ("notes.md", b"# Notes\n\nThe moon mission codename is "
                                    b"Artemis Blue.\n", "text/markdown"))],
        )  # fmt: skip
        assert reply.status_code == 303, reply.text[:2000]
        page = browser.get(stack.url + reply.headers["location"].split("#")[0]).text
        assert "Artemis Blue" in latest_answer(page)
        assert 'class="attachment-name">notes.md<' in page
        action = re.search(r'action="(/chat/[^"]+/attachments/[^"]+/delete)"', page)
        assert action is not None
        refused = browser.post(stack.url + action.group(1), data={})
        assert refused.status_code in (400, 403)
        removed = browser.post(stack.url + action.group(1), data={"csrf_token": csrf_of(page)})
        assert removed.status_code == 303
        after = browser.get(stack.url + removed.headers["location"].split("#")[0]).text
        assert 'class="attachment-name">notes.md<' not in after
        assert "removed from this conversation" in after


def test_an_attachment_type_the_service_refuses_is_reported(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_saml(stack, browser, "bob")  # type: ignore[arg-type]
        exe = ("tool.exe", b"MZ\x90\x00", "application/x-msdos")
        reply = ask(stack, browser, BUDGET_QUESTION, files=[("attachments", exe)])
        assert reply.status_code == 502
        assert "tool.exe" in reply.text
        assert "not supported" in html.unescape(reply.text)


def test_creator_mode_toggle_only_when_allowed_and_blocked_phrases_answered(
    stack: ChatStack,
) -> None:
    qb = admin_client_at(stack.aws, "qbusiness")
    app = stack.oidc_application_id
    with httpx.Client(timeout=30) as browser:
        sign_in_oidc(stack, browser, "carol")  # type: ignore[arg-type]
        page = browser.get(stack.url + "/chat").text
        assert 'id="creator-mode"' not in page
        assert "company&#39;s documents" in page or "company's documents" in page
        qb.update_chat_controls_configuration(
            applicationId=app, creatorModeConfiguration={"creatorModeControl": "ENABLED"},
            blockedPhrasesConfigurationUpdate={
                "blockedPhrasesToCreateOrUpdate": ["salary"],
                "systemMessageOverride": "Salaries are not discussed here.",
            },
        )  # fmt: skip
        try:
            page = browser.get(stack.url + "/chat").text
            assert 'id="creator-mode"' in page
            data = {"csrf_token": csrf_of(page), "message": "Write a haiku about robots",
                    "chat_mode": "CREATOR_MODE"}  # fmt: skip
            reply = browser.post(stack.url + "/chat", data=data)
            assert reply.status_code == 303
            created = browser.get(stack.url + reply.headers["location"].split("#")[0]).text
            assert "creator mode" in latest_answer(created)
            _, blocked = answered(stack, browser, "What is my SALARY band?")
            assert latest_answer(blocked).strip() == "<p>Salaries are not discussed here.</p>"
        finally:
            qb.update_chat_controls_configuration(
                applicationId=app, creatorModeConfiguration={"creatorModeControl": "DISABLED"},
                blockedPhrasesConfigurationUpdate={"blockedPhrasesToDelete": ["salary"]},
            )  # fmt: skip
