"""The chat page's managed-experience features in real Chromium: open a source that has no
URL, list and remove attached files, the creator-mode toggle, and a blocked phrase
answered with the administrator's message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat_stack import ChatStack, admin_client_at, running_chat_stack
from tests.browser.test_browser_chat import ask, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]


@pytest.fixture(scope="module")
def stack() -> Iterator[ChatStack]:
    with running_chat_stack() as running:
        yield running


def test_carol_opens_a_source_without_a_url(stack: ChatStack, page: Page) -> None:
    sign_in(page, stack, "oidc", "carol")
    answer = ask(page, "Which days are the offices closed in 2026?")
    assert "Good Friday" in answer
    link = page.locator(".message.answer").last.locator("a.open-source").first
    assert re.fullmatch(r"/chat/source/[a-zA-Z0-9-]{36}/[a-zA-Z0-9-]{36}/\d+",
                        link.get_attribute("href") or "")  # fmt: skip
    with page.context.expect_page() as opened:
        link.click()
    document = opened.value
    document.wait_for_load_state()
    assert "Good Friday" in document.locator("body").inner_text()
    assert document.evaluate("() => document.contentType") == "text/plain"
    document.close()


def test_bob_lists_and_removes_an_attached_file(
    stack: ChatStack, page: Page, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe moon mission codename is Artemis Blue.\n")
    sign_in(page, stack, "saml", "bob")
    page.set_input_files("#attachments", str(notes))
    answer = ask(page, "What is the moon mission codename?")
    assert "Artemis Blue" in answer
    assert page.locator("#attached-files .attachment-name").all_inner_texts() == ["notes.md"]
    page.locator("#attached-files form.detach button").click()
    page.wait_for_selector("#chat-notice")
    assert "removed from this conversation" in page.locator("#chat-notice").inner_text()
    assert page.locator("#attached-files .attachment-name").count() == 0


def test_creator_mode_is_a_toggle_only_when_allowed_and_blocked_phrases_answer(
    stack: ChatStack, page: Page
) -> None:
    qb = admin_client_at(stack.aws, "qbusiness")
    app = stack.oidc_application_id
    sign_in(page, stack, "oidc", "alice")
    assert page.locator("#creator-mode").count() == 0
    assert "company's documents" in page.locator("#response-scope").inner_text()
    qb.update_chat_controls_configuration(
        applicationId=app, creatorModeConfiguration={"creatorModeControl": "ENABLED"},
        blockedPhrasesConfigurationUpdate={
            "blockedPhrasesToCreateOrUpdate": ["payroll"],
            "systemMessageOverride": "Payroll questions go to HR.",
        },
    )  # fmt: skip
    page.reload()
    page.check("#creator-mode")
    answer = ask(page, "Write a haiku about robots")
    assert "creator mode" in answer
    assert page.locator("#creator-mode").is_checked() is False  # one turn at a time
    blocked = ask(page, "When is PAYROLL processed?")
    assert blocked.strip() == "Payroll questions go to HR."
