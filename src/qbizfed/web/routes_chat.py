"""The chat pages of ``qbizfed serve``: ask, read cited answers, resume, delete, give feedback.

Every page acts as the signed-in user with the identity-aware STS credentials kept in
their server-side session; nothing of those credentials reaches the browser. Calls go
through :class:`qbizfed.aws.chat.ChatClient` (ChatSync, with the first-call
subscription retry, so the "no subscription" refusal never reaches a user). boto3
blocks, so each page's Q Business calls run in one worker-thread hop, at most
``ChatSettings.max_concurrent_calls`` at once; a cached client costs no hop of its own.
The page that follows a turn renders from :mod:`qbizfed.web.chat_page_cache` (the
page the user last saw plus the turn), so a turn makes one Q Business call, not three.

The pages are server-rendered and work without JavaScript (ask, read, resume, delete,
feedback are plain forms: POST, then redirect to the conversation). ``chat.js`` only
adds conveniences: feedback without a reload, a draft that survives a re-sign-in, and
the expiry notice appearing on time. Answers are rendered by
:mod:`qbizfed.web.chat_rendering` (Markdown, then an nh3 allow-list).

Wiring: ``install_chat(app)`` after ``create_app`` (or inside it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import boto3
from fastapi import APIRouter, FastAPI, HTTPException, Request
from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response

from qbizfed.aws.chat import (
    FEEDBACK_REASONS,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    RETRY_CONFIG,
    Attachment,
    ChatClient,
    ChatError,
    ChatTurn,
    Citation,
    ConversationAttachment,
    ConversationSummary,
    HistoryMessage,
)
from qbizfed.aws.chat_controls import ChatControls
from qbizfed.credentials import AwsCredentials
from qbizfed.errors import AwsError, ConfigError, QbizfedError
from qbizfed.settings.chat import DEFAULT_CONCURRENCY, ChatSettings
from qbizfed.web.browser_session import SignedInUser, WebSession
from qbizfed.web.chat_fragments import ChatFragments
from qbizfed.web.chat_page_cache import CachedPage, ChatPageCache, last_answer_id
from qbizfed.web.chat_rendering import SourceView, render_answer, source_views
from qbizfed.web.context import WebContext, expires_iso, web_context
from qbizfed.web.csrf import verify_csrf, verify_csrf_before_parsing
from qbizfed.web.error_pages import ErrorPage

log = logging.getLogger("qbizfed.web")
router = APIRouter()

_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{35}$")  # ConversationId / MessageId (botocore)
MAX_MESSAGE_CHARS = 10_000  # *unconfirmed* service limit; refuse early rather than upload
MAX_CONVERSATIONS_LISTED = 50
CLIENT_CACHE_SIZE = 256
RENDERED_ANSWERS_CACHED = 512
REASON_LABELS: dict[str, str] = {
    reason: reason.replace("_", " ").capitalize() for reason in FEEDBACK_REASONS
}

_T = TypeVar("_T")

QBusinessFactory = Callable[[AwsCredentials], Any]
"""Makes a boto3 ``qbusiness`` client from a session's credentials (blocking; thread pool)."""


class BoundedClientCache:
    """boto3 clients per access key (making one costs milliseconds); least recently used out."""

    def __init__(self, make: QBusinessFactory, *, size: int = CLIENT_CACHE_SIZE) -> None:
        self._make = make
        self._size = size
        self._clients: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, credentials: AwsCredentials) -> Any | None:
        """The client already made for these credentials, without making one (no I/O)."""
        key = credentials.access_key_id
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
            return client

    def __call__(self, credentials: AwsCredentials) -> Any:
        client = self.cached(credentials)
        if client is not None:
            return client
        key = credentials.access_key_id
        client = self._make(credentials)
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > self._size:
                self._clients.popitem(last=False)
        return client


def boto3_qbusiness_factory(*, region: str, endpoint_url: str | None) -> QBusinessFactory:
    """Clients signed with the session's credentials; ``endpoint_url`` ``None`` lets boto3
    honour ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_QBUSINESS`` itself."""

    # One session for every client: its loaded service models are shared, so a client
    # for new credentials costs a few ms instead of a session's model loading (~30 ms).
    session = boto3.session.Session(region_name=region)
    lock = threading.Lock()  # boto3 sessions are not thread-safe for client creation

    def make(credentials: AwsCredentials) -> Any:
        with lock:
            return session.client(
                "qbusiness",
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
                endpoint_url=endpoint_url,
                config=RETRY_CONFIG,
            )

    return make


class ChatNotConfiguredError(ConfigError):
    """The broker itself lacks a setting: the operator's problem, not the user's (500)."""


@dataclass(frozen=True)
class ChatRuntime:
    """What the chat routes need besides the broker's :class:`WebContext`."""

    settings: ChatSettings
    qbusiness: QBusinessFactory

    pages: ChatPageCache | None = None
    fragments: ChatFragments | None = None
    """The page's sidebar and messages rendered once per session (None: every time)."""

    def client_for(self, user: SignedInUser, credentials: AwsCredentials) -> ChatClient:
        """Blocking when the client is not cached yet (making one costs ms of CPU): call it
        in a worker, or use :meth:`cached_client_for` first."""
        return self._chat_client(user, self.qbusiness(credentials))

    def cached_client_for(
        self, user: SignedInUser, credentials: AwsCredentials
    ) -> ChatClient | None:
        """The client without leaving the event loop, when one is cached already."""
        cached = getattr(self.qbusiness, "cached", None)
        client = cached(credentials) if cached is not None else None
        return None if client is None else self._chat_client(user, client)

    def _chat_client(self, user: SignedInUser, qbusiness: Any) -> ChatClient:
        application_id = self.settings.application_for(user.protocol)
        if application_id is None:
            variable = f"QBUSINESS_{user.protocol.upper()}_APPLICATION_ID"
            raise ChatNotConfiguredError(
                f"no Q Business application is configured for {user.protocol.upper()} sign-ins",
                remedy=f"set QBUSINESS_APPLICATION_ID (or {variable}) and restart qbizfed serve",
            )
        return ChatClient(
            qbusiness=qbusiness,
            application_id=application_id,
            subscription_retries=self.settings.subscription_retries,
            subscription_backoff=self.settings.subscription_backoff_seconds,
        )


def install_chat(
    app: FastAPI,
    *,
    settings: ChatSettings | None = None,
    qbusiness: QBusinessFactory | None = None,
) -> None:
    """Add the chat pages to a broker made by ``create_app``.

    ``settings`` default to the broker's ``[serve.chat]`` section; ``qbusiness`` defaults to
    boto3 clients for the broker's region and endpoint, cached per access key. Calling
    it again (``create_app`` and ``local up`` both may) only replaces those two.
    """
    web: WebContext = app.state.web
    factory = qbusiness or BoundedClientCache(
        boto3_qbusiness_factory(
            region=web.settings.aws_region, endpoint_url=web.settings.aws_endpoint_url
        )
    )
    installed = getattr(app.state, "chat", None) is not None
    app.state.chat = ChatRuntime(
        settings=settings or web.settings.chat,
        qbusiness=factory,
        pages=ChatPageCache(web.store),
        fragments=ChatFragments(web.templates.env),
    )
    if not installed:  # idempotent: a second call only replaces the settings and clients
        from qbizfed.web.routes_chat_documents import router as documents_router

        app.include_router(documents_router)
        app.include_router(router)


def _runtime(request: Request) -> ChatRuntime:
    runtime: ChatRuntime = request.app.state.chat
    return runtime


# --- view models ----------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    """One message of the conversation as the template shows it."""

    kind: Literal["user", "answer"]
    message_id: str | None
    text: str
    html: Markup | None = None
    sources: tuple[SourceView, ...] = ()


@dataclass(frozen=True)
class SignedIn:
    ctx: WebContext
    session: WebSession
    user: SignedInUser
    credentials: AwsCredentials


@functools.lru_cache(maxsize=RENDERED_ANSWERS_CACHED)
def _rendered(text: str, numbers: tuple[int, ...], prefix: str) -> Markup:
    """An answer rendered once: each page view shows every answer of the conversation
    again, and Markdown plus nh3 is the costliest part of a page (a pure function)."""
    return render_answer(text, numbers, anchor_prefix=prefix)


def openable(
    sources: tuple[SourceView, ...],
    citations: Sequence[Citation],
    message_id: str | None,
    conversation_id: str | None,
) -> tuple[SourceView, ...]:
    """Sources without a URL get serve's link to their content (GetDocumentContent)."""
    if not conversation_id or not _ID.match(message_id or ""):
        return sources
    can_open = {c.number for c in citations if c.can_open}
    return tuple(
        replace(s, open_url=f"/chat/source/{conversation_id}/{message_id}/{s.number}")
        if s.url is None and s.number in can_open
        else s
        for s in sources
    )


def _messages(
    history: Sequence[HistoryMessage], conversation_id: str | None = None
) -> list[MessageView]:
    """Views of a history in reading order (``ChatClient.history``: oldest first)."""
    answers = sum(1 for m in history if m.kind != "USER")
    views: list[MessageView] = []
    seen = 0
    for message in history:
        if message.kind == "USER":
            views.append(MessageView("user", message.message_id or None, message.body))
            continue
        seen += 1
        # The latest answer owns the plain #source-n anchors; earlier ones are prefixed.
        prefix = "" if seen == answers else f"a{seen}-"
        numbers = [c.number for c in message.citations]
        views.append(
            MessageView(
                "answer",
                message.message_id or None,
                message.body,
                html=_rendered(message.body, tuple(numbers), prefix),
                sources=openable(
                    source_views(message.citations, anchor_prefix=prefix),
                    message.citations,
                    message.message_id,
                    conversation_id,
                ),
            )
        )
    return views


def _checked_id(value: str) -> str:
    if not _ID.match(value):
        raise HTTPException(404)
    return value


def _chat_path(conversation_id: str | None) -> str:
    return f"/chat/{conversation_id}" if conversation_id else "/chat"


async def _signed_in(request: Request) -> SignedIn | None:
    ctx = web_context(request)
    session = await ctx.current_session(request)
    if session is None or session.user is None or session.credentials is None:
        return None
    return SignedIn(ctx, session, session.user, session.credentials)


def _to_signin(next_path: str) -> Response:
    return RedirectResponse(f"/signin?next={quote(next_path, safe='/')}", status_code=303)


def _status_for(error: QbizfedError) -> int:
    code = error.code if isinstance(error, AwsError) else ""
    if isinstance(error, ChatNotConfiguredError):
        return 500
    if code == "ThrottlingException":
        return 429
    if code.startswith("AccessDenied") or code in ("ExpiredTokenException", "ExpiredToken"):
        return 403
    if code == "ResourceNotFoundException":
        return 404
    if isinstance(error, ConfigError) or code in ("ValidationException", "ParamValidation"):
        return 400
    return 502


CONVERSATION_NOT_FOUND = ErrorPage(
    404,
    "Conversation not found",
    "There is no conversation at this address for you: it was deleted, or it belongs "
    "to another user.",
    "open the chat page and pick one of your conversations",
)


def iter_first(items: Iterator[ConversationSummary]) -> Iterator[ConversationSummary]:
    """Fetch the first page now (so errors surface here), then the rest lazily."""
    first = next(items, None)
    if first is None:
        return iter(())
    return itertools.chain((first,), items)


@dataclass(frozen=True)
class PageData:
    conversations: tuple[ConversationSummary, ...]
    messages: tuple[MessageView, ...]
    parent_message_id: str | None
    attachments: tuple[ConversationAttachment, ...] = ()
    controls: ChatControls = field(default_factory=ChatControls.default)


def _chat_controls(client: ChatClient) -> ChatControls:
    try:
        return client.chat_controls()
    except QbizfedError as exc:  # the page still works; it just offers nothing extra
        log.info("chat controls unavailable: type=%s code=%s", type(exc).__name__,
                 getattr(exc, "code", ""))  # fmt: skip
        return ChatControls.default()


# Chat calls block for as long as Q Business takes. Sharing Starlette's whole thread
# pool with sign-ins (STS runs there too) lets a burst of chat starve the event loop
# under load, so chat calls get their own pool of worker threads (one per loop), as many
# as ChatSettings.max_concurrent_calls: the allowance is the pool's size. A thread is free
# again the moment its call returns, even while the event loop is busy with other
# requests (a limiter released by the awaiting coroutine held its slot until the loop got
# back to that coroutine), as the chat library's callers' own thread pools do.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, ThreadPoolExecutor]] = (
    weakref.WeakKeyDictionary()
)


def _pool(loop: asyncio.AbstractEventLoop, allowance: int | None) -> ThreadPoolExecutor:
    size, pool = _pools.get(loop, (0, None))
    if pool is None or (allowance is not None and allowance != size):
        if pool is not None:
            pool.shutdown(wait=False)  # its running calls finish; new ones go to the new pool
        size = allowance or DEFAULT_CONCURRENCY
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="qbizfed-chat")
        _pools[loop] = (size, pool)
    return pool


async def _blocking(func: Callable[..., _T], *args: Any, allowance: int | None = None) -> _T:
    """Run blocking Q Business calls in one worker-thread hop, at most ``allowance``
    (``ChatSettings.max_concurrent_calls``; None keeps the current one) at once.

    A cancelled request (the browser went away) still waits for its call to end before
    the cancellation goes on: a turn Q Business is answering is never abandoned halfway
    through the code that follows it."""
    loop = asyncio.get_running_loop()
    call = loop.run_in_executor(_pool(loop, allowance), functools.partial(func, *args))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        await asyncio.wait([call])
        raise


async def _client(runtime: ChatRuntime, who: SignedIn) -> ChatClient:
    """The user's client: looked up on the event loop when cached, else made in a worker
    (for calls that run on the loop, such as a streamed turn)."""
    client = runtime.cached_client_for(who.user, who.credentials)
    if client is not None:
        return client
    return await _blocking(runtime.client_for, who.user, who.credentials,
                           allowance=runtime.settings.max_concurrent_calls)  # fmt: skip


async def _with_client(runtime: ChatRuntime, who: SignedIn, call: Callable[[ChatClient], _T]) -> _T:
    """``call(client)`` in one worker hop; the client is looked up on the loop when
    cached, made in that same hop when not."""
    allowance = runtime.settings.max_concurrent_calls
    client = runtime.cached_client_for(who.user, who.credentials)
    if client is not None:
        ready = client
        return await _blocking(lambda: call(ready), allowance=allowance)
    return await _blocking(
        lambda: call(runtime.client_for(who.user, who.credentials)), allowance=allowance
    )


def _listed_conversations(client: ChatClient) -> tuple[ConversationSummary, ...]:
    conversations: list[ConversationSummary] = []
    for summary in iter_first(client.list_conversations()):
        conversations.append(summary)
        if len(conversations) >= MAX_CONVERSATIONS_LISTED:
            break
    return tuple(conversations)


def _completed(client: ChatClient, page: CachedPage) -> CachedPage:
    """``page`` with what it does not know yet asked for, in the caller's one worker hop:
    the titles, the conversation's attachments, the application's chat controls (asked
    for on every listed page: a turn may attach files, an administrator change them)."""
    attachments = page.attachments
    if attachments is None:
        cid = page.conversation_id
        attachments = tuple(client.list_attachments(cid)) if cid else ()
    return replace(
        page,
        conversations=page.conversations if page.titles_known else _listed_conversations(client),
        titles_known=True,
        attachments=attachments,
        controls=page.controls if page.controls is not None else _chat_controls(client),
    )


def _list_page(client: ChatClient, conversation_id: str | None) -> CachedPage:
    conversations = _listed_conversations(client)
    history = client.history(conversation_id) if conversation_id else []
    return _completed(client, CachedPage(conversation_id, conversations, tuple(history)))


async def _page_for(runtime: ChatRuntime, who: SignedIn, conversation_id: str | None) -> CachedPage:
    """The page a turn just extended (Q Business asked only for what it lacks, usually
    nothing), else listed and remembered. Always complete (:attr:`CachedPage.complete`)."""
    pages = runtime.pages
    if pages is not None:
        cached = await pages.get(who.session.id)
        if cached is not None and cached.fresh and cached.conversation_id == conversation_id:
            if cached.complete:
                await pages.shown(who.session.id)
                return cached
            page = await _with_client(runtime, who, lambda c: _completed(c, cached))
            await pages.put(who.session.id, dataclasses.replace(page, fresh=False))
            return page
    page = await _with_client(runtime, who, lambda c: _list_page(c, conversation_id))
    if pages is not None:
        await pages.put(who.session.id, page)
    return page


async def _remember_turn(
    runtime: ChatRuntime,
    who: SignedIn,
    turn: ChatTurn,
    *,
    attached: bool,
    started: bool,
    fresh: bool = True,
) -> None:
    """Extend the page the user saw with this turn, for the page that follows the POST
    (``fresh``); a streamed turn's page is already in the browser (not fresh: the next
    load lists again), but the next turn extends it. ``attached``: the turn sent files;
    ``started``: it started the conversation (posted without one)."""
    pages = runtime.pages
    if pages is None:
        return
    base = await pages.get(who.session.id)
    extended = None
    if base is not None and turn.user_message_id and turn.system_message_id:
        extended = base.after_turn(
            turn.conversation_id,
            HistoryMessage(turn.user_message_id, "USER", turn.user_message, None),
            HistoryMessage(turn.system_message_id, "SYSTEM", turn.text, None, turn.citations),
            attached=attached,
            started=started,
        )
    if extended is not None:
        await pages.put(who.session.id, dataclasses.replace(extended, fresh=fresh))
    elif base is not None:
        await pages.forget(who.session.id)


async def _forget_page(runtime: ChatRuntime, who: SignedIn) -> None:
    """The conversation changed in a way the cached page cannot show: list it next time."""
    if runtime.pages is not None:
        await runtime.pages.forget(who.session.id)
    if runtime.fragments is not None:
        runtime.fragments.forget(who.session.id)


async def _render_chat(
    request: Request,
    who: SignedIn,
    *,
    conversation_id: str | None,
    error: QbizfedError | None = None,
    draft: str = "",
    notice: str | None = None,
) -> Response:
    runtime = _runtime(request)
    data = PageData((), (), None)
    status = 200
    try:
        page = await _page_for(runtime, who, conversation_id)
        data = PageData(page.conversations, tuple(_messages(page.history, conversation_id)),
                        last_answer_id(page.history), page.attachments or (),
                        page.controls or ChatControls.default())  # fmt: skip
    except QbizfedError as exc:
        if conversation_id and _status_for(exc) == 404:
            # Another user's conversation, or a deleted one: Q Business cannot tell them
            # apart for us, and neither may the page.
            return who.ctx.error(request, CONVERSATION_NOT_FOUND, session=who.session)
        if error is None:
            error = exc
    if error is not None:
        status = _status_for(error)
        log.info("chat page error: email=%s type=%s", who.user.email, type(error).__name__)
    # The notice is about the session's end: a renewable session's credentials renew
    # silently (qbizfed.web.session_renewal), so only its maximum lifetime shows.
    seconds_left = who.ctx.sessions.seconds_left(who.session)
    path = _chat_path(conversation_id)
    fragments = runtime.fragments or ChatFragments(who.ctx.templates.env, sessions=1)
    session_id, csrf_token = who.session.id, who.session.csrf_token
    return who.ctx.render(
        request,
        "chat.html",
        session=who.session,
        status_code=status,
        conversations=data.conversations,
        conversation_items=fragments.conversation_items(
            session_id, data.conversations, conversation_id, csrf_token
        ),
        messages=data.messages,
        message_items=fragments.message_items(
            session_id, data.messages, conversation_id, csrf_token, REASON_LABELS
        ),
        conversation_id=conversation_id,
        parent_message_id=data.parent_message_id,
        error=error,
        draft=draft,
        notice=notice,
        expires_iso=expires_iso(who.ctx.sessions.ends_at(who.session)),
        expiring=seconds_left <= runtime.settings.expiry_warning_seconds,
        minutes_left=max(0, int(seconds_left // 60)),
        warn_seconds=runtime.settings.expiry_warning_seconds,
        resignin_url=f"/login/{who.user.protocol}?next={quote(path, safe='/')}",
        max_attachments=MAX_ATTACHMENTS,
        attachments=data.attachments,
        controls=data.controls,
    )


_NOTICES = {
    "subscribed": "This was your first question: Q Business subscribed you to the application.",
    "feedback": "Thank you: your feedback was sent.",
    "deleted": "The conversation was deleted.",
    "detached": "The file was removed from this conversation.",
}


# --- routes -----------------------------------------------------------------------------


@router.get("/chat")
async def chat_home(request: Request, notice: str | None = None) -> Response:
    who = await _signed_in(request)
    if who is None:
        return _to_signin("/chat")
    return await _render_chat(request, who, conversation_id=None, notice=_NOTICES.get(notice or ""))


@router.get("/chat/{conversation_id}")
async def chat_conversation(
    request: Request, conversation_id: str, notice: str | None = None
) -> Response:
    conversation_id = _checked_id(conversation_id)
    who = await _signed_in(request)
    if who is None:
        return _to_signin(_chat_path(conversation_id))
    return await _render_chat(
        request, who, conversation_id=conversation_id, notice=_NOTICES.get(notice or "")
    )


async def _attachments(files: Sequence[UploadFile]) -> list[Attachment]:
    chosen = [f for f in files if f.filename]
    if len(chosen) > MAX_ATTACHMENTS:
        raise ConfigError(
            f"{len(chosen)} files attached; Q Business accepts at most {MAX_ATTACHMENTS}",
            remedy="attach fewer files and send the message again",
        )
    attachments: list[Attachment] = []
    for upload in chosen:
        data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
        name = (upload.filename or "attachment").replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(ch for ch in name if ch.isprintable())[:255] or "attachment"
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise ConfigError(
                f"{name} is larger than 10 MB, the most Q Business accepts per file",
                remedy="attach a smaller file, or split it",
            )
        attachments.append(Attachment(name=name, data=data))
    return attachments


def _form_id(value: object) -> str | None:
    return value if isinstance(value, str) and _ID.match(value) else None


@dataclass(frozen=True)
class PostedQuestion:
    """A question posted from the chat page, plainly (``POST /chat``) or to be streamed."""

    conversation_id: str | None
    message: str
    parent_message_id: str | None
    chat_mode: str | None
    files: tuple[UploadFile, ...]

    async def attachments(self) -> list[Attachment]:
        """The uploads as attachments, once the message is known to fit."""
        if len(self.message) > MAX_MESSAGE_CHARS:
            raise ConfigError(
                f"the message has {len(self.message)} characters; at most "
                f"{MAX_MESSAGE_CHARS} fit",
                remedy="shorten the message, or attach the text as a file",
            )
        return await _attachments(self.files)

    async def close(self) -> None:
        for upload in self.files:
            await upload.close()


async def posted_question(request: Request) -> tuple[SignedIn, PostedQuestion] | Response:
    """The signed-in user and their question; the sign-in page when signed out.

    Sign-in and CSRF are checked before the upload is parsed (or read beyond the token):
    an anonymous or forged multipart POST never reaches the form parser. Signed out (or
    credentials expired), the user signs in again and comes back to this conversation,
    which the form's action names, so this needs no byte of the body (chat.js keeps the
    unsent draft in the tab's sessionStorage).
    """
    who = await _signed_in(request)
    if who is None:
        return _to_signin(_chat_path(_form_id(request.query_params.get("conversation_id"))))
    checked = await verify_csrf_before_parsing(
        request, who.session, public_url=who.ctx.settings.public_url
    )
    form = await checked.form()
    message = form.get("message")
    return who, PostedQuestion(
        conversation_id=_form_id(form.get("conversation_id")),
        message=message.strip() if isinstance(message, str) else "",
        parent_message_id=_form_id(form.get("parent_message_id")),
        chat_mode="CREATOR_MODE" if form.get("chat_mode") == "CREATOR_MODE" else None,
        files=tuple(f for f in form.getlist("attachments") if isinstance(f, UploadFile)),
    )


@router.post("/chat")
async def ask(request: Request) -> Response:
    posted = await posted_question(request)
    if isinstance(posted, Response):
        return posted
    who, question = posted
    conversation_id, message = question.conversation_id, question.message
    parent, chat_mode = question.parent_message_id, question.chat_mode
    try:
        attachments = await question.attachments()
        runtime = _runtime(request)
        turn: ChatTurn = await _with_client(
            runtime, who,
            lambda c: _send(c, message, conversation_id, parent, attachments, chat_mode),
        )
    except QbizfedError as exc:
        return await _render_chat(
            request, who, conversation_id=conversation_id, error=exc,
            draft=exc.unsent_message if isinstance(exc, ChatError) else message,
        )  # fmt: skip
    finally:
        await question.close()
    log.info(
        "chat turn: email=%s citations=%d subscription_retries=%d",
        who.user.email, len(turn.citations), turn.subscription_retries,
    )  # fmt: skip
    target = _chat_path(turn.conversation_id or conversation_id)
    if not turn.failed_attachments:
        await _remember_turn(runtime, who, turn, attached=bool(attachments),
                             started=conversation_id is None)  # fmt: skip
    if turn.failed_attachments:
        # An AttachmentOutput may come back without its name: fall back to the names sent.
        names = ", ".join(f.name for f in turn.failed_attachments if f.name) or ", ".join(
            a.name for a in attachments
        )
        detail = next((f.error for f in turn.failed_attachments if f.error), "")
        error = AwsError(
            f"Q Business could not use the attached file(s): {names}"
            + (f" ({detail})" if detail else ""),
            code="FailedAttachment",
            remedy="the answer above was given without them; try another file format",
        )
        return await _render_chat(
            request, who, conversation_id=turn.conversation_id or conversation_id, error=error
        )
    if turn.subscription_retries:
        target += "?notice=subscribed"
    return RedirectResponse(target + "#latest", status_code=303)


def _send(
    client: ChatClient,
    message: str,
    conversation_id: str | None,
    parent: str | None,
    attachments: Sequence[Attachment],
    chat_mode: str | None = None,
) -> ChatTurn:
    if conversation_id and parent is None:
        conversation = client.conversation(conversation_id)
        return conversation.ask(message, attachments=attachments, chat_mode=chat_mode)
    return client.send(
        message,
        conversation_id=conversation_id,
        parent_message_id=parent,
        attachments=attachments,
        chat_mode=chat_mode,
    )


@router.post("/chat/{conversation_id}/delete")
async def delete_conversation(request: Request, conversation_id: str) -> Response:
    conversation_id = _checked_id(conversation_id)
    ctx = web_context(request)
    await verify_csrf(request, await ctx.current_session(request),
                      public_url=ctx.settings.public_url)  # fmt: skip
    who = await _signed_in(request)
    if who is None:
        return _to_signin("/chat")
    runtime = _runtime(request)
    try:
        await _with_client(runtime, who, lambda c: c.delete_conversation(conversation_id))
    except QbizfedError as exc:
        return await _render_chat(request, who, conversation_id=conversation_id, error=exc)
    await _forget_page(runtime, who)
    log.info("conversation deleted: email=%s", who.user.email)
    return RedirectResponse("/chat?notice=deleted", status_code=303)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/chat/{conversation_id}/feedback")
async def feedback(request: Request, conversation_id: str) -> Response:
    conversation_id = _checked_id(conversation_id)
    ctx = web_context(request)
    await verify_csrf(request, await ctx.current_session(request),
                      public_url=ctx.settings.public_url)  # fmt: skip
    who = await _signed_in(request)
    if who is None:
        return _to_signin(_chat_path(conversation_id))
    form = await request.form()
    message_id = _form_id(form.get("message_id"))
    usefulness = form.get("usefulness")
    reason = form.get("reason")
    comment = form.get("comment")
    try:
        if message_id is None or usefulness not in ("USEFUL", "NOT_USEFUL"):
            raise ConfigError(
                "the feedback form is incomplete", remedy="choose thumbs up or down and send"
            )
        runtime = _runtime(request)
        await _with_client(
            runtime,
            who,
            lambda client: client.feedback(
                conversation_id,
                message_id,
                useful=usefulness == "USEFUL",
                reason=reason if isinstance(reason, str) and reason else None,
                comment=comment.strip() if isinstance(comment, str) and comment.strip() else None,
            ),
        )
    except QbizfedError as exc:
        if _wants_json(request):
            return JSONResponse(
                {"status": "error", "message": exc.message, "remedy": exc.remedy},
                status_code=_status_for(exc),
            )
        return await _render_chat(request, who, conversation_id=conversation_id, error=exc)
    log.info("chat feedback: email=%s useful=%s", who.user.email, usefulness == "USEFUL")
    if _wants_json(request):
        return JSONResponse({"status": "ok"})
    return RedirectResponse(
        f"{_chat_path(conversation_id)}?notice=feedback#m-{message_id}", status_code=303
    )
