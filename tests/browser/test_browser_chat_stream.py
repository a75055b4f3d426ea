"""Streamed answers on the chat page, in real Chromium against a paced local stack.

The emulator waits between text events (``--stream-delay-ms``), so the page must show
the answer growing before the metadata (sources) arrives; when it is complete it must
read exactly as the page renders the same answer after a reload (the ChatSync
rendering). A document whose text carries script and event-handler markup is cited
in an answer written in many small pieces: no script, handler or ``javascript:`` link
may reach the DOM at any moment (a MutationObserver watches every node inserted).
Stop ends the answer where it was. The page without JavaScript is covered by
``test_browser_chat.py::test_ask_and_read_work_with_javascript_off``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat_stack import (
    ENGINEERING_FACT,
    ENGINEERING_QUESTION,
    ChatStack,
    admin_client_at,
    running_chat_stack,
)
from tests.browser.conftest import screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium")]

DELAY_MS = 40
XSS_QUESTION = "What does the widget rendering note say about widgets?"
XSS_TEXT = (
    "The widget rendering note says widgets render <img src=x onerror=\"window.__xss=1\"> "
    "and <script>window.__xss=2</script> and [click](javascript:window.__xss=3) "
    "<a href=\"javascript:window.__xss=4\" onclick=\"window.__xss=5\">widget</a> safely."
)

WATCH_DOM = """() => {
  window.__unsafe = [];
  const check = (node) => {
    if (!(node instanceof Element)) return;
    for (const el of [node, ...node.querySelectorAll('*')]) {
      const tag = el.tagName.toLowerCase();
      if (['script', 'img', 'iframe', 'object', 'embed', 'svg', 'style'].includes(tag)) {
        window.__unsafe.push(tag);
      }
      for (const attr of el.attributes) {
        const value = attr.value.trim().toLowerCase();
        if (attr.name.startsWith('on') || value.startsWith('javascript:')) {
          window.__unsafe.push(tag + '@' + attr.name);
        }
      }
    }
  };
  new MutationObserver((records) => {
    for (const record of records) record.addedNodes.forEach(check);
  }).observe(document.getElementById('messages'), {childList: true, subtree: true});
}"""


@pytest.fixture(scope="module")
def stack() -> Iterator[ChatStack]:
    with running_chat_stack(stream_delay_ms=DELAY_MS) as running:
        qb = admin_client_at(running.aws, "qbusiness")
        for app in {running.oidc_application_id, running.saml_application_id}:
            index = qb.list_indices(applicationId=app)["indices"][0]["indexId"]
            qb.batch_put_document(applicationId=app, indexId=index, documents=[{
                "id": "widget-" + uuid.uuid4().hex[:6], "title": "Widget rendering note",
                "contentType": "PLAIN_TEXT", "content": {"blob": XSS_TEXT.encode()},
            }])  # fmt: skip
        yield running


def sign_in(page: Page, stack: ChatStack) -> None:
    page.goto(stack.url + "/chat")
    page.click("#login-oidc")
    page.wait_for_selector("#password")
    page.select_option("#username", "alice")
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(stack.url) + r"/chat$"))
    page.wait_for_selector("#ask-form")


def ask_streaming(page: Page, question: str) -> None:
    page.fill("#message", question)
    page.click("#send")


def wait_done(page: Page) -> None:
    page.wait_for_url(re.compile(r"/chat/[a-zA-Z0-9-]{36}$"))
    page.wait_for_selector(".message.answer:not(.streaming) .sources")


def test_partial_text_shows_before_the_sources_and_ends_as_a_reload_renders_it(
    stack: ChatStack, page: Page
) -> None:
    sign_in(page, stack)
    ask_streaming(page, ENGINEERING_QUESTION)
    streaming = page.locator(".message.answer.streaming .answer")
    # Some words, while the answer is still being written (no sources yet).
    page.wait_for_function(
        "() => { const a = document.querySelector('.message.answer.streaming .answer');"
        " return a && a.textContent.trim().split(/\\s+/).length >= 3; }"
    )
    partial = streaming.inner_text()
    assert page.locator(".message.answer .sources").count() == 0
    assert page.locator("#stop").is_visible()
    screenshot(page, "chat-streaming-partial")
    wait_done(page)
    final = page.locator(".message.answer").last
    assert ENGINEERING_FACT in final.inner_text()
    assert partial.strip()[:10] in final.locator(".answer").inner_text()
    streamed_answer = final.locator(".answer").inner_html()
    streamed_sources = final.locator(".sources").inner_html()
    assert not page.locator("#stop").is_visible()
    # The ChatSync rendering of the same answer: the server-rendered page, after a reload.
    page.reload()
    page.wait_for_selector(".message.answer .sources")
    reloaded = page.locator(".message.answer").last
    assert reloaded.locator(".answer").inner_html() == streamed_answer
    assert reloaded.locator(".sources").inner_html() == streamed_sources


def test_a_second_streamed_answer_keeps_anchors_as_a_reload_does(
    stack: ChatStack, page: Page
) -> None:
    sign_in(page, stack)
    ask_streaming(page, ENGINEERING_QUESTION)
    wait_done(page)
    ask_streaming(page, ENGINEERING_QUESTION)
    page.wait_for_function("() => document.querySelectorAll("
                           "'.message.answer:not(.streaming) .sources').length === 2")  # fmt: skip
    thread = page.locator("#messages").inner_html()
    ids = re.findall(r'id="([^"]*source-\d+)"', thread)
    assert len(ids) == len(set(ids)), "duplicate source anchors"
    page.reload()
    page.wait_for_selector(".message.answer .sources")
    assert re.findall(r'id="([^"]*source-\d+)"', page.locator("#messages").inner_html()) == ids


def test_markup_split_across_text_events_never_reaches_the_dom(
    stack: ChatStack, page: Page
) -> None:
    sign_in(page, stack)
    page.evaluate(WATCH_DOM)
    ask_streaming(page, XSS_QUESTION)
    wait_done(page)
    answer = page.locator(".message.answer").last
    assert "widgets render" in answer.inner_text()
    assert "onerror" in answer.inner_text()  # shown as text, not as markup
    assert page.evaluate("window.__unsafe") == []
    assert page.evaluate("window.__xss") is None


def test_stop_ends_the_answer_where_it_was(stack: ChatStack, page: Page) -> None:
    sign_in(page, stack)
    ask_streaming(page, ENGINEERING_QUESTION)
    page.wait_for_function(
        "() => { const a = document.querySelector('.message.answer.streaming .answer');"
        " return a && a.textContent.trim().split(/\\s+/).length >= 2; }"
    )
    page.click("#stop")
    page.wait_for_selector(".message.answer.stopped .stopped-note")
    stopped = page.locator(".message.answer.stopped .answer").inner_text()
    page.wait_for_timeout(10 * DELAY_MS)
    assert page.locator(".message.answer.stopped .answer").inner_text() == stopped  # no growth
    assert ENGINEERING_FACT not in stopped or page.locator(".sources").count() == 0
    assert not page.locator("#stop").is_visible()
    assert page.locator("#send").is_enabled()
    # The page still works: the next question streams to the end.
    ask_streaming(page, ENGINEERING_QUESTION)
    wait_done(page)
    assert ENGINEERING_FACT in page.locator(".message.answer").last.inner_text()
