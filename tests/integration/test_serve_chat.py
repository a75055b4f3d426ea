"""The chat pages without JavaScript, end to end: dev IdP -> serve -> local STS -> Q Business.

A browser that only follows links and submits forms (httpx) signs in, asks, reads a
cited answer from documents it may read, resumes, gives feedback, deletes. The demo
corpus is permissioned, so alice (engineering, OIDC) and bob (finance, SAML) must get
different answers to the same questions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence

import httpx
import pytest

from qbizfed.local.qbusiness.subscriptions import user_id_for_email
from tests.browser.chat_stack import (
    ENGINEERING_FACT,
    ENGINEERING_QUESTION,
    ENGINEERING_TITLE,
    FINANCE_FACT,
    FINANCE_QUESTION,
    FINANCE_TITLE,
    ChatStack,
    admin_client_at,
    running_chat_stack,
)
from tests.integration.test_serve_end_to_end import sign_in_oidc, sign_in_saml

CONVERSATION_PATH = re.compile(r"^/chat/([a-zA-Z0-9-]{36})")


@pytest.fixture(scope="module")
def stack() -> Iterator[ChatStack]:
    with running_chat_stack() as running:
        yield running


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def ask(
    stack: ChatStack, browser: httpx.Client, message: str, conversation_id: str | None = None,
    *, files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
) -> httpx.Response:  # fmt: skip
    page = browser.get(stack.url + ("/chat/" + conversation_id if conversation_id else "/chat"))
    assert page.status_code == 200, page.text[:1000]
    data = {"csrf_token": csrf_of(page.text), "message": message}
    if conversation_id:
        data["conversation_id"] = conversation_id
    # Like a browser: multipart, with an empty file part when no file was chosen.
    empty = [("attachments", ("", b"", "application/octet-stream"))]
    return browser.post(stack.url + "/chat", data=data, files=files or empty)


def answered(stack: ChatStack, browser: httpx.Client, message: str,
             conversation_id: str | None = None) -> tuple[str, str]:  # fmt: skip
    reply = ask(stack, browser, message, conversation_id)
    assert reply.status_code == 303, reply.text[:2000]
    location = reply.headers["location"]
    found = CONVERSATION_PATH.match(location)
    assert found is not None, location
    page = browser.get(stack.url + location.split("#")[0])
    assert page.status_code == 200
    return found.group(1), page.text


def sources_of(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'class="source-title"[^>]*>([^<]+)<', page)]


def latest_answer(page: str) -> str:
    answers = re.findall(r'<div class="answer">(.*?)</div>', page, re.S)
    assert answers, page[:2000]
    return html.unescape(answers[-1])


def subscribed(stack: ChatStack, application_id: str, email: str) -> bool:
    qb = admin_client_at(stack.aws, "qbusiness")
    subscriptions = qb.list_subscriptions(applicationId=application_id)["subscriptions"]
    return any(user_id_for_email(email) in str(s.get("principal")) for s in subscriptions)


def test_signed_out_chat_goes_to_sign_in_and_keeps_the_conversation(stack: ChatStack) -> None:
    with httpx.Client(timeout=15) as browser:
        home = browser.get(stack.url + "/chat")
        assert home.status_code == 303
        assert home.headers["location"] == "/signin?next=/chat"
        cid = "0" * 8 + "-0000-0000-0000-" + "0" * 12
        resume = browser.get(stack.url + f"/chat/{cid}")
        assert resume.headers["location"] == f"/signin?next=/chat/{cid}"
        posted = browser.post(stack.url + f"/chat?conversation_id={cid}",
                              data={"message": "hi", "conversation_id": cid})
        assert posted.status_code == 303
        assert posted.headers["location"] == f"/signin?next=/chat/{cid}"


def test_alice_oidc_gets_cited_engineering_answer_and_no_finance(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_oidc(stack, browser, "alice")  # type: ignore[arg-type]
        # alice's first call (ListConversations for the page) is refused with "no
        # subscription" and subscribes her; the page retries it, invisibly.
        assert not subscribed(stack, stack.oidc_application_id, "alice@example.com")
        first = ask(stack, browser, ENGINEERING_QUESTION)
        assert first.status_code == 303, first.text[:2000]
        assert subscribed(stack, stack.oidc_application_id, "alice@example.com")
        page = browser.get(stack.url + first.headers["location"].split("#")[0])
        assert "subscription" not in latest_answer(page.text).lower()
        assert 'id="chat-error"' not in page.text
        assert ENGINEERING_FACT in latest_answer(page.text)
        assert ENGINEERING_TITLE in sources_of(page.text)
        assert re.search(r'<a href="#source-1" class="citation"[^>]*>\[1\]</a>', page.text)
        assert 'id="source-1"' in page.text
        _, other = answered(stack, browser, FINANCE_QUESTION)
        assert FINANCE_FACT not in other
        assert FINANCE_TITLE not in sources_of(other)
        assert "18.4" not in other


def test_bob_saml_gets_cited_finance_answer_and_no_engineering(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_saml(stack, browser, "bob")  # type: ignore[arg-type]
        _, page = answered(stack, browser, FINANCE_QUESTION)
        assert FINANCE_FACT in latest_answer(page)
        assert FINANCE_TITLE in sources_of(page)
        assert 'href="https://finance.northwind.example/reports/2026-q3"' in page
        _, other = answered(stack, browser, ENGINEERING_QUESTION)
        assert ENGINEERING_FACT not in other
        assert ENGINEERING_TITLE not in sources_of(other)


def test_resume_follow_up_feedback_and_delete(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_oidc(stack, browser, "alice")  # type: ignore[arg-type]
        cid, _ = answered(stack, browser, "How long is the on-call rotation?")
        cid_again, page = answered(stack, browser, ENGINEERING_QUESTION, cid)
        assert cid_again == cid
        assert page.count('class="message user"') == 2
        assert page.count('class="message answer"') == 2
        # Earlier answers' anchors are prefixed so ids stay unique.
        assert 'id="a1-source-1"' in page
        assert 'id="source-1"' in page
        listing = browser.get(stack.url + "/chat").text
        assert f'href="/chat/{cid}"' in listing

        message_ids = re.findall(r'name="message_id" value="([^"]+)"', page)
        assert len(message_ids) == 2
        token = csrf_of(page)
        sent = browser.post(stack.url + f"/chat/{cid}/feedback", data={
            "csrf_token": token, "message_id": message_ids[-1], "usefulness": "NOT_USEFUL",
            "reason": "NOT_COMPLETE", "comment": "missing the time zone",
        })  # fmt: skip
        assert sent.status_code == 303, sent.text[:1500]
        assert "notice=feedback" in sent.headers["location"]
        as_json = browser.post(
            stack.url + f"/chat/{cid}/feedback",
            data={"message_id": message_ids[0], "usefulness": "USEFUL"},
            headers={"X-CSRF-Token": token, "Accept": "application/json"},
        )
        assert as_json.json() == {"status": "ok"}
        bad_reason = browser.post(
            stack.url + f"/chat/{cid}/feedback",
            data={"message_id": message_ids[0], "usefulness": "USEFUL", "reason": "LOVED_IT"},
            headers={"X-CSRF-Token": token, "Accept": "application/json"},
        )
        assert bad_reason.status_code == 400
        assert "unknown feedback reason" in bad_reason.json()["message"]

        deleted = browser.post(stack.url + f"/chat/{cid}/delete", data={"csrf_token": token})
        assert deleted.status_code == 303
        assert f'href="/chat/{cid}"' not in browser.get(stack.url + "/chat").text


def test_another_users_conversation_is_not_shown(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as alice, httpx.Client(timeout=30) as carol:
        sign_in_oidc(stack, alice, "alice")  # type: ignore[arg-type]
        cid, _ = answered(stack, alice, ENGINEERING_QUESTION)
        sign_in_oidc(stack, carol, "carol")  # type: ignore[arg-type]
        page = carol.get(stack.url + f"/chat/{cid}")
        assert ENGINEERING_FACT not in page.text
        assert page.status_code == 404, page.text[:1500]
        assert "Conversation not found" in page.text
        assert "belongs to another user" in page.text
        assert "ResourceNotFound" not in page.text


def test_post_without_csrf_token_or_from_another_site_is_refused(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_oidc(stack, browser, "carol")  # type: ignore[arg-type]
        token = csrf_of(browser.get(stack.url + "/chat").text)
        missing = browser.post(stack.url + "/chat", data={"message": "hello"})
        assert missing.status_code == 400
        assert "security token" in missing.text
        cross = browser.post(stack.url + "/chat", data={"message": "hi", "csrf_token": token},
                             headers={"Origin": "https://attacker.test"})  # fmt: skip
        assert cross.status_code == 400
        assert "another site" in cross.text


def test_attachment_the_service_cannot_use_is_reported_with_the_answer(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_saml(stack, browser, "bob")  # type: ignore[arg-type]
        reply = ask(
            stack,
            browser,
            FINANCE_QUESTION,
            files=[("attachments", ("tool.exe", b"MZ\x90\x00", "application/x-msdos"))],
        )
        assert reply.status_code == 502, reply.text[:1500]
        assert "tool.exe" in reply.text
        assert FINANCE_FACT in latest_answer(reply.text)


def test_oversized_message_keeps_the_draft(stack: ChatStack) -> None:
    with httpx.Client(timeout=30) as browser:
        sign_in_saml(stack, browser, "bob")  # type: ignore[arg-type]
        long = "budget " * 2000
        reply = ask(stack, browser, long)
        assert reply.status_code == 400
        assert 'id="chat-error"' in reply.text
        assert long.strip() in html.unescape(reply.text)


def _faults(stack: ChatStack, rules: Sequence[Mapping[str, object]]) -> None:
    answer = httpx.post(stack.aws.url + "/_qbizfed/faults", json={"rules": rules}, timeout=10)
    assert answer.status_code == 200, answer.text


def test_the_page_after_a_turn_needs_no_listing_and_matches_a_reload(stack: ChatStack) -> None:
    """A follow-up turn makes one Q Business call: with ListConversations and ListMessages
    failing, the answer page after the POST still renders, from the page the user saw
    plus the turn, and it is the page a reload (which lists again) shows."""
    with httpx.Client(timeout=30) as browser:
        sign_in_oidc(stack, browser, "alice")  # type: ignore[arg-type]
        cid, _ = answered(stack, browser, "How long is the on-call rotation?")
        page = browser.get(stack.url + f"/chat/{cid}")
        parent = re.search(r'name="parent_message_id" value="([^"]+)"', page.text)
        assert parent is not None
        data = {"csrf_token": csrf_of(page.text), "message": ENGINEERING_QUESTION,
                "conversation_id": cid, "parent_message_id": parent.group(1)}  # fmt: skip
        listing_fails = [
            {"kind": "error", "service": "qbusiness", "operation": operation}
            for operation in ("ListConversations", "ListMessages")
        ]
        _faults(stack, listing_fails)
        try:
            empty = [("attachments", ("", b"", "application/octet-stream"))]
            reply = browser.post(stack.url + f"/chat?conversation_id={cid}", data=data,
                                 files=empty)  # fmt: skip
            assert reply.status_code == 303, reply.text[:1500]
            after_turn = browser.get(stack.url + reply.headers["location"].split("#")[0])
            assert after_turn.status_code == 200, after_turn.text[:1500]
            assert ENGINEERING_FACT in latest_answer(after_turn.text)
            # Any other page load lists from Q Business (here: refused, and said so).
            assert browser.get(stack.url + f"/chat/{cid}").status_code == 502
        finally:
            _faults(stack, [])
        reloaded = browser.get(stack.url + f"/chat/{cid}")
        assert reloaded.status_code == 200
        minutes = re.compile(r'<span class="minutes-left">\d+</span>')  # time passes
        assert minutes.sub("", after_turn.text) == minutes.sub("", reloaded.text)
