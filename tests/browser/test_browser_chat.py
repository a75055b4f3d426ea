"""The chat in real Chromium: sign in (OIDC, SAML), ask, follow citations, resume, log out.

Everything runs on loopback: the dev IdP, local AWS with the permissioned demo corpus,
and ``qbizfed serve`` under uvicorn. alice (engineering) signs in with OIDC, bob
(finance) with SAML; each must see a cited answer from their own documents only.
The page fixture fails a test on any console error, so a CSP refusal of an inline
script or style fails it too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.chat_stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENGINEERING_FACT,
    ENGINEERING_QUESTION,
    ENGINEERING_TITLE,
    FINANCE_FACT,
    FINANCE_QUESTION,
    FINANCE_TITLE,
    ChatStack,
    running_chat_stack,
)
from tests.browser.conftest import VIEWPORT, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# chromium first: without a browser, skip before starting the stack.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]



@pytest.fixture(scope="module")
def stack() -> Iterator[ChatStack]:
    with running_chat_stack() as running:
        yield running


def sign_in(page: Page, stack: ChatStack, protocol: str, username: str) -> None:
    page.goto(stack.url + "/chat")
    assert page.url.startswith(stack.url + "/signin?next=/chat")
    page.click(f"#login-{protocol}")
    page.wait_for_selector("#password")
    page.select_option("#username", username)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(stack.url) + r"/chat$"))
    page.wait_for_selector("#ask-form")


def ask(page: Page, question: str) -> str:
    page.fill("#message", question)
    page.click("#send")
    page.wait_for_url(re.compile(r"/chat/[a-zA-Z0-9-]{36}"))
    page.wait_for_selector(".message.answer")
    # A streamed answer is complete once the page has swapped in its final rendering.
    page.wait_for_selector(".message.answer.streaming", state="detached")
    return page.locator(".message.answer .answer").last.inner_text()


def follow_first_citation(page: Page) -> str:
    citation = page.locator(".message.answer").last.locator("a.citation").first
    href = citation.get_attribute("href")
    assert href is not None
    assert re.fullmatch(r"#source-\d+", href)
    citation.click()
    assert page.url.endswith(href)
    return page.locator(href).inner_text()


def source_titles(page: Page) -> list[str]:
    return page.locator(".message.answer").last.locator(".source-title").all_inner_texts()


def test_alice_signs_in_with_oidc_asks_resumes_gives_feedback_and_logs_out(
    stack: ChatStack, page: Page
) -> None:
    page.goto(stack.url + "/chat")
    screenshot(page, "signin")
    sign_in(page, stack, "oidc", "alice")
    assert "alice@example.com" in page.content()
    assert not page.locator("#chat-error").count()  # the first-call subscription refusal

    answer = ask(page, ENGINEERING_QUESTION)
    assert ENGINEERING_FACT in answer
    assert ENGINEERING_TITLE in source_titles(page)
    assert ENGINEERING_TITLE in follow_first_citation(page)
    screenshot(page, "chat")

    other = ask(page, FINANCE_QUESTION)  # same conversation, a document she may not read
    assert FINANCE_FACT not in other
    assert FINANCE_TITLE not in source_titles(page)
    conversation_url = page.url.split("#")[0]

    page.reload()
    assert page.locator(".message.user").count() == 2
    assert ENGINEERING_FACT in page.locator(".message.answer .answer").first.inner_text()
    page.goto(stack.url + "/chat")
    page.locator("#conversation-list a.resume").first.click()
    page.wait_for_url(conversation_url)
    assert page.locator(".message.answer").count() == 2

    feedback = page.locator(".message.answer").first.locator("form.feedback")
    feedback.locator("summary").click()
    feedback.locator("select[name=reason]").select_option("HELPFUL")
    feedback.locator("textarea[name=comment]").fill("clear and cited")
    feedback.locator("button.thumb.up").click()
    page.wait_for_url(re.compile(re.escape(conversation_url) + r"\?notice=feedback#m-"))
    assert "Thank you" in page.locator("#chat-notice").inner_text()

    page.goto(stack.url + "/credentials")
    screenshot(page, "credentials")
    page.click("header form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/signed-out$"))
    page.goto(conversation_url)
    assert "/signin?next=/chat/" in page.url


def test_bob_signs_in_with_saml_and_sees_only_finance(stack: ChatStack, page: Page) -> None:
    sign_in(page, stack, "saml", "bob")
    answer = ask(page, FINANCE_QUESTION)
    assert FINANCE_FACT in answer
    assert FINANCE_TITLE in source_titles(page)
    assert FINANCE_TITLE in follow_first_citation(page)

    other = ask(page, ENGINEERING_QUESTION)
    assert ENGINEERING_FACT not in other
    assert ENGINEERING_TITLE not in source_titles(page)

    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(stack.url + "/chat")
    before = page.locator("#conversation-list li").count()
    page.locator("#conversation-list form.delete button").first.click()
    page.wait_for_url(re.compile(r"/chat\?notice=deleted"))
    assert page.locator("#conversation-list li").count() == before - 1
    page.click("header form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/signed-out$"))


def test_unsent_question_survives_re_sign_in(stack: ChatStack, page: Page) -> None:
    """Credentials gone mid-conversation: the question is kept across the new sign-in."""
    sign_in(page, stack, "oidc", "carol")
    ask(page, "What are the company holidays?")
    conversation_url = page.url.split("#")[0]
    page.context.clear_cookies()  # as if the session had ended with its credentials
    page.fill("#message", "And the winter shutdown?")
    page.click("#send")
    page.wait_for_url(re.compile(r"/signin\?next=/chat/"))
    page.click("#login-oidc")
    page.wait_for_selector("#password")
    page.select_option("#username", "carol")
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(conversation_url)
    assert page.locator("#message").input_value() == "And the winter shutdown?"
    assert page.locator(".message.user").count() == 1


def test_expiry_notice_appears_on_time_and_re_sign_in_keeps_the_conversation(
    stack: ChatStack, page: Page
) -> None:
    page.clock.install()
    sign_in(page, stack, "saml", "carol")
    ask(page, "Where is the Lisbon office?")
    conversation_url = page.url.split("#")[0]
    notice = page.locator("#expiry-notice")
    assert notice.is_hidden()  # an hour left
    page.clock.run_for("56:00")  # chat.js: shown 5 minutes before the credentials expire
    notice.wait_for(state="visible")
    assert "Sign in again" in notice.inner_text()
    page.click("#resignin")
    # The IdP may still hold carol's single sign-on session and skip its login form.
    page.locator("#password").or_(page.locator("#ask-form")).wait_for()
    if page.locator("#password").count():
        page.select_option("#username", "carol")
        page.fill("#password", "demo")
        page.click("button[type=submit]")
    page.wait_for_url(conversation_url)
    page.wait_for_selector("#ask-form")
    assert page.locator(".message.answer").count() == 1


def test_ask_and_read_work_with_javascript_off(stack: ChatStack, chromium: Browser) -> None:
    context = chromium.new_context(viewport=VIEWPORT, java_script_enabled=False)  # type: ignore[arg-type]
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("http://127.0.0.1:")
            else route.abort()
        ),
    )
    try:
        page = context.new_page()
        sign_in(page, stack, "oidc", "alice")
        answer = ask(page, ENGINEERING_QUESTION)
        assert ENGINEERING_FACT in answer
        assert ENGINEERING_TITLE in follow_first_citation(page)
        page.locator(".message.answer").last.locator("button.thumb.down").click()
        page.wait_for_url(re.compile(r"\?notice=feedback#m-"))
        assert "Thank you" in page.locator("#chat-notice").inner_text()
    finally:
        context.close()


def test_a_refused_renewal_signs_in_again_and_keeps_the_unsent_question(
    stack: ChatStack, page: Page
) -> None:
    """OIDC with a refresh token: when the IdP refuses the renewal (the refresh token was
    revoked), the next question leads to sign-in and back, the question still typed."""
    sign_in(page, stack, "oidc", "carol")
    ask(page, "What are the company holidays?")
    conversation_url = page.url.split("#")[0]
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "qbizfed_session")
    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this thread
        record = thread.submit(asyncio.run, stack.store.get("session:" + cookie)).result()
    assert record is not None
    assert "rg" in record, "the dev IdP granted no refresh token"
    revoked = httpx.post(stack.idp.issuer + "/oidc/revoke", data={"token": record["rg"]["rt"]},
                         auth=(CLIENT_ID, CLIENT_SECRET))  # fmt: skip
    assert revoked.status_code == 200
    stack.clock.advance(3600 - 60)  # one minute left on the credentials: renewal is due
    try:
        page.fill("#message", "And the winter shutdown?")
        page.click("#send")
        page.wait_for_url(re.compile(r"/signin\?next=/chat/"))
        page.click("#login-oidc")
        page.locator("#password").or_(page.locator("#ask-form")).wait_for()
        if page.locator("#password").count():
            page.select_option("#username", "carol")
            page.fill("#password", "demo")
            page.click("button[type=submit]")
        page.wait_for_url(conversation_url)
        assert page.locator("#message").input_value() == "And the winter shutdown?"
        assert page.locator(".message.user").count() == 1
    finally:
        stack.clock.advance(-(3600 - 60))
