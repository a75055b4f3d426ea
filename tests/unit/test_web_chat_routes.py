"""The chat routes over a scripted Q Business at the one seam (``install_chat(qbusiness=)``).

The broker is real (``create_app``, sessions, CSRF, templates, security headers); only
the boto3 ``qbusiness`` client is replaced by :class:`ScriptedQBusiness`, which answers
with the wire shapes botocore returns and raises botocore's ``ClientError``. The
end-to-end tests run the same routes against the local Q Business emulator.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from qbizfed.credentials import AwsCredentials
from qbizfed.settings.chat import ChatSettings
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.browser_session import SignedInUser, WebSession
from qbizfed.web.routes_chat import install_chat
from qbizfed.web.routes_chat import router as chat_router
from qbizfed.web.sessions import InMemorySessionStore
from tests.integration.test_serve_harness import UvicornServer

APP_ID = "a" * 8 + "-1111-2222-3333-" + "b" * 12
CONVERSATION = "c" * 8 + "-1111-2222-3333-" + "d" * 12
USER_MESSAGE = "e" * 8 + "-1111-2222-3333-" + "f" * 12
ANSWER_MESSAGE = "9" * 8 + "-1111-2222-3333-" + "8" * 12
NO_SUBSCRIPTION = "User does not have a subscription for the given application."


def client_error(code: str, message: str, operation: str = "ChatSync") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class ScriptedQBusiness:
    """A ``qbusiness`` client answering from a script; records every call."""

    answer: str = "Deploy on Tuesdays [1]."
    sources: list[dict[str, Any]] = field(default_factory=lambda: [{
        "title": "Deployment runbook", "snippet": "Deploy on Tuesdays.",
        "url": "https://wiki.example/deploy", "citationNumber": 1,
    }])  # fmt: skip
    titles: list[str] = field(default_factory=lambda: ["When do we deploy?"])
    refuse_first: int = 0
    """How many first calls fail with the "no subscription" refusal."""
    error: ClientError | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _record(self, name: str, params: dict[str, Any]) -> None:
        self.calls.append((name, params))
        if self.refuse_first > 0:
            self.refuse_first -= 1
            raise client_error("AccessDeniedException", NO_SUBSCRIPTION, name)
        if self.error is not None:
            raise self.error

    def chat_sync(self, **params: Any) -> dict[str, Any]:
        self._record("chat_sync", params)
        return {
            "conversationId": params.get("conversationId", CONVERSATION),
            "systemMessage": self.answer,
            "systemMessageId": ANSWER_MESSAGE,
            "userMessageId": USER_MESSAGE,
            "sourceAttributions": self.sources,
            "failedAttachments": [],
        }

    def list_conversations(self, **params: Any) -> dict[str, Any]:
        self._record("list_conversations", params)
        now = datetime.now(UTC)
        return {"conversations": [
            {"conversationId": CONVERSATION, "title": t, "startTime": now} for t in self.titles
        ]}  # fmt: skip

    def list_messages(self, **params: Any) -> dict[str, Any]:
        self._record("list_messages", params)
        now = datetime.now(UTC)
        return {"messages": [  # newest first, same instant, as the emulator answers
            {"messageId": ANSWER_MESSAGE, "type": "SYSTEM", "body": self.answer, "time": now,
             "sourceAttribution": self.sources},
            {"messageId": USER_MESSAGE, "type": "USER", "body": "When do we deploy?", "time": now},
        ]}  # fmt: skip

    def delete_conversation(self, **params: Any) -> dict[str, Any]:
        self._record("delete_conversation", params)
        return {}

    def put_feedback(self, **params: Any) -> dict[str, Any]:
        self._record("put_feedback", params)
        return {}

    def list_attachments(self, **params: Any) -> dict[str, Any]:
        self._record("list_attachments", params)
        return {"attachments": []}

    def get_chat_controls_configuration(self, **params: Any) -> dict[str, Any]:
        self._record("get_chat_controls_configuration", params)
        return {"responseScope": "ENTERPRISE_CONTENT_ONLY",
                "creatorModeConfiguration": {"creatorModeControl": "DISABLED"}}  # fmt: skip


def credentials(lifetime: timedelta = timedelta(hours=1)) -> AwsCredentials:
    return AwsCredentials(
        access_key_id="ASIAUNITTEST00000001",
        secret_access_key="unit-secret-" + "s" * 28,
        session_token="unit-session-token-" + "t" * 80,
        expiration=datetime.now(UTC) + lifetime,
        region="us-east-1",
        role_arn="arn:aws:iam::123456789012:role/chat",
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/chat/alice-example.com",
    )


@dataclass
class ChatApp:
    client: httpx.Client
    qbusiness: ScriptedQBusiness
    store: InMemorySessionStore
    session: WebSession

    def csrf(self) -> str:
        return self.session.csrf_token


@contextmanager
def chat_app(
    *,
    qbusiness: ScriptedQBusiness | None = None,
    email: str = "alice@example.com",
    display_name: str | None = "Alice",
    lifetime: timedelta = timedelta(hours=1),
    chat_settings: ChatSettings | None = None,
    signed_in: bool = True,
) -> Iterator[ChatApp]:
    """The broker with the chat pages under uvicorn on loopback, one session saved."""
    server = UvicornServer()
    base = server.url
    store = InMemorySessionStore()
    settings = WebSettings(
        oidc=OidcRegistration(
            issuer="http://127.0.0.1:9/idp", client_id="c", client_secret=None,
            redirect_uri=base + "/auth/oidc/callback",
            role_arn="arn:aws:iam::123456789012:role/chat", allow_insecure_loopback_http=True,
        ),
    )  # fmt: skip
    app = create_app(settings, session_store=store)
    scripted = qbusiness or ScriptedQBusiness()
    install_chat(
        app,
        settings=chat_settings or ChatSettings(application_id=APP_ID,
                                               subscription_backoff_seconds=0.0),
        qbusiness=lambda _creds: scripted,
    )  # fmt: skip
    session = WebSession.anonymous()
    if signed_in:
        session = WebSession(
            id=session.id, csrf_token=session.csrf_token, created_at=time.time(),
            user=SignedInUser(protocol="oidc", email=email, issuer="http://127.0.0.1:9/idp",
                              subject="sub-1", display_name=display_name),
            credentials=credentials(lifetime),
        )  # fmt: skip
    web = app.state.web
    asyncio.run(web.sessions.save(session))
    server.start(app)
    try:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
            client.cookies.set(web.cookie_name, session.id)
            yield ChatApp(client, scripted, store, session)
    finally:
        server.stop()


@pytest.fixture
def alice() -> Iterator[ChatApp]:
    with chat_app() as made:
        yield made


def test_chat_page_lists_conversations_and_renders_history_with_citations(alice: ChatApp) -> None:
    page = alice.client.get(f"/chat/{CONVERSATION}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    text = page.text
    assert '<a href="#source-1" class="citation"' in text
    assert '<li id="source-1" value="1" class="source">' in text
    assert 'href="https://wiki.example/deploy"' in text
    assert text.index('class="message user"') < text.index('class="message answer"')
    assert f'name="parent_message_id" value="{ANSWER_MESSAGE}"' in text
    assert f'href="/chat/{CONVERSATION}" aria-current="page"' in text
    assert "<script>" not in text  # only external scripts (CSP: script-src 'self')


def test_first_call_subscription_refusal_is_retried_not_shown(alice: ChatApp) -> None:
    alice.qbusiness.refuse_first = 1
    page = alice.client.get("/chat")
    assert page.status_code == 200
    assert "subscription" not in page.text.lower()
    names = [name for name, _ in alice.qbusiness.calls]
    assert names == ["list_conversations"] * 2 + ["get_chat_controls_configuration"]


def test_ask_sends_chat_sync_and_redirects_to_the_conversation(alice: ChatApp) -> None:
    alice.qbusiness.refuse_first = 1  # first ChatSync of a new user
    reply = alice.client.post("/chat", data={
        "csrf_token": alice.csrf(), "message": "  When do we deploy?  ",
        "conversation_id": CONVERSATION, "parent_message_id": ANSWER_MESSAGE,
    })  # fmt: skip
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/chat/{CONVERSATION}?notice=subscribed#latest"
    name, params = alice.qbusiness.calls[-1]
    assert name == "chat_sync"
    assert params["userMessage"] == "When do we deploy?"
    assert params["conversationId"] == CONVERSATION
    assert params["parentMessageId"] == ANSWER_MESSAGE
    assert "userId" not in params
    notice = alice.client.get(reply.headers["location"].split("#")[0])
    assert "subscribed you" in notice.text


def test_follow_up_without_parent_looks_it_up(alice: ChatApp) -> None:
    reply = alice.client.post("/chat", data={
        "csrf_token": alice.csrf(), "message": "and Fridays?", "conversation_id": CONVERSATION,
    })  # fmt: skip
    assert reply.status_code == 303
    names = [name for name, _ in alice.qbusiness.calls]
    assert names == ["list_messages", "chat_sync"]
    assert alice.qbusiness.calls[-1][1]["parentMessageId"] == ANSWER_MESSAGE


def test_failed_turn_keeps_the_unsent_message(alice: ChatApp) -> None:
    alice.qbusiness.error = client_error("ThrottlingException", "Rate exceeded")
    reply = alice.client.post("/chat", data={"csrf_token": alice.csrf(), "message": "Q?"})
    assert reply.status_code == 429
    assert 'id="chat-error"' in reply.text
    assert ">Q?</textarea>" in reply.text
    assert "wait a few seconds" in reply.text


@pytest.mark.parametrize(
    ("case", "files", "says"),
    [
        ("six_files", [("attachments", (f"f{i}.txt", b"x", "text/plain")) for i in range(6)],
         "at most 5"),
        ("over_ten_megabytes",
         [("attachments", ("big.bin", b"\0" * (10 * 1024 * 1024 + 1), "application/pdf"))],
         "larger than 10 MB"),
    ],
)  # fmt: skip
def test_attachments_over_the_limits_are_refused_before_sending(
    alice: ChatApp, case: str, files: list[Any], says: str
) -> None:
    reply = alice.client.post(
        "/chat", data={"csrf_token": alice.csrf(), "message": "see file"}, files=files
    )
    assert reply.status_code == 400
    assert says in reply.text
    assert "chat_sync" not in [name for name, _ in alice.qbusiness.calls]


def test_attachment_is_sent_with_its_base_name(alice: ChatApp) -> None:
    reply = alice.client.post(
        "/chat",
        data={"csrf_token": alice.csrf(), "message": "summarise"},
        files=[("attachments", ("C:\\Users\\a\\notes.txt", b"hello", "text/plain")),
               ("attachments", ("", b"", "application/octet-stream"))],
    )  # fmt: skip
    assert reply.status_code == 303
    params = alice.qbusiness.calls[-1][1]
    assert params["attachments"] == [{"name": "notes.txt", "data": b"hello"}]


def test_feedback_and_delete_call_the_service(alice: ChatApp) -> None:
    sent = alice.client.post(f"/chat/{CONVERSATION}/feedback", data={
        "csrf_token": alice.csrf(), "message_id": ANSWER_MESSAGE, "usefulness": "NOT_USEFUL",
        "reason": "NOT_COMPLETE", "comment": " too short ",
    })  # fmt: skip
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/chat/{CONVERSATION}?notice=feedback#m-{ANSWER_MESSAGE}"
    params = alice.qbusiness.calls[-1][1]
    usefulness = params["messageUsefulness"]
    assert (usefulness["usefulness"], usefulness["reason"], usefulness["comment"]) == (
        "NOT_USEFUL", "NOT_COMPLETE", "too short",
    )  # fmt: skip
    gone = alice.client.post(f"/chat/{CONVERSATION}/delete", data={"csrf_token": alice.csrf()})
    assert gone.status_code == 303
    assert alice.qbusiness.calls[-1] == (
        "delete_conversation", {"applicationId": APP_ID, "conversationId": CONVERSATION}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/chat", {"message": "hi"}),
        (f"/chat/{CONVERSATION}/delete", {}),
        (f"/chat/{CONVERSATION}/feedback", {"message_id": ANSWER_MESSAGE, "usefulness": "USEFUL"}),
    ],
    ids=["ask", "delete", "feedback"],
)
def test_state_changing_posts_need_the_csrf_token(
    alice: ChatApp, path: str, data: dict[str, str]
) -> None:
    reply = alice.client.post(path, data={**data, "csrf_token": "forged"})
    assert reply.status_code == 400
    assert alice.qbusiness.calls == []


@pytest.mark.parametrize(
    "bad_id", ["../../admin", "x" * 37, "c" * 35, "%2e%2e", "<script>" + "a" * 28]
)
def test_malformed_conversation_ids_are_not_found(alice: ChatApp, bad_id: str) -> None:
    assert alice.client.get(f"/chat/{bad_id}").status_code == 404
    assert alice.qbusiness.calls == []


def test_expiry_notice_links_to_a_re_sign_in_that_returns_to_the_conversation() -> None:
    with chat_app(lifetime=timedelta(minutes=3)) as soon:
        page = soon.client.get(f"/chat/{CONVERSATION}").text
    notice = re.search(r'<p id="expiry-notice"[^>]*>', page)
    assert notice is not None
    assert " hidden" not in notice.group(0)
    assert f'href="/login/oidc?next=/chat/{CONVERSATION}"' in page
    with chat_app(lifetime=timedelta(hours=1)) as later:
        page = later.client.get("/chat").text
    notice = re.search(r'<p id="expiry-notice"[^>]*>', page)
    assert notice is not None
    assert " hidden" in notice.group(0)  # chat.js reveals it on time


def test_signed_out_browser_is_sent_to_sign_in_with_the_conversation() -> None:
    with chat_app(signed_in=False) as anonymous:
        reply = anonymous.client.get(f"/chat/{CONVERSATION}")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/signin?next=/chat/{CONVERSATION}"


def test_no_application_configured_says_which_variable_to_set() -> None:
    with chat_app(chat_settings=ChatSettings()) as unconfigured:
        page = unconfigured.client.get("/chat")
    assert page.status_code == 500
    assert "QBUSINESS_OIDC_APPLICATION_ID" in page.text


def test_pages_never_show_the_session_credentials(alice: ChatApp) -> None:
    creds = credentials()
    pages = [alice.client.get("/chat").text, alice.client.get(f"/chat/{CONVERSATION}").text]
    for page in pages:
        assert creds.secret_access_key not in page
        assert creds.session_token not in page
        assert creds.access_key_id not in page


@pytest.mark.parametrize("action", ["delete", "feedback"])
def test_subscription_refusal_is_retried_for_every_identity_aware_call(
    alice: ChatApp, action: str
) -> None:
    alice.qbusiness.refuse_first = 1
    data = {"csrf_token": alice.csrf()}
    if action == "feedback":
        data |= {"message_id": ANSWER_MESSAGE, "usefulness": "USEFUL"}
    reply = alice.client.post(f"/chat/{CONVERSATION}/{action}", data=data)
    assert reply.status_code == 303
    assert len(alice.qbusiness.calls) == 2


def test_subscription_retries_are_bounded() -> None:
    with chat_app(
        qbusiness=ScriptedQBusiness(refuse_first=10),
        chat_settings=ChatSettings(
            application_id=APP_ID, subscription_retries=2, subscription_backoff_seconds=0.0
        ),
    ) as app:
        page = app.client.get("/chat")
    assert page.status_code == 403
    assert "auto-subscription" in page.text  # the library's remedy, not a raw AWS error
    assert len(app.qbusiness.calls) == 3


def test_install_chat_twice_replaces_settings_without_duplicating_routes() -> None:
    settings = WebSettings(
        oidc=OidcRegistration(
            issuer="http://127.0.0.1:9/idp", client_id="c", client_secret=None,
            redirect_uri="http://127.0.0.1:8000/auth/oidc/callback",
            role_arn="arn:aws:iam::123456789012:role/chat", allow_insecure_loopback_http=True,
        ),
    )  # fmt: skip
    app = create_app(settings)
    install_chat(app, settings=ChatSettings())
    install_chat(app, settings=ChatSettings(application_id=APP_ID))
    included = [getattr(route, "original_router", route) for route in app.routes]
    assert included.count(chat_router) == 1
    assert app.state.chat.settings.application_id == APP_ID
