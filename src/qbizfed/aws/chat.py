"""Q Business conversations over ChatSync, for any boto3 session.

The conversation keeps ``conversationId`` and ``parentMessageId`` between turns,
returns typed turns with their citations, and handles what the sample left to the
user: the first call of a new user fails with "User does not have a subscription"
while that very call subscribes them, so it is retried a bounded number of times,
with backoff, and the caller is told. Throttling is retried by botocore's own retry
modes. A turn that fails is never lost: the error carries the unsent message and
the conversation stays where it was, so the same message can be sent again.

``ask`` uses ChatSync (boto3). ``stream``/``astream`` use Q Business's WebSocket chat
endpoint through :mod:`qbizfed.aws.chat_stream` (boto3 removes the streaming ``Chat``
operation); both turn AWS's answer into the same :class:`ChatTurn` here, in
:func:`turn_from_response`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from qbizfed.aws.chat_controls import ChatControls
from qbizfed.aws.document_content import DocumentContent, fetch_presigned
from qbizfed.errors import AwsError, ConfigError, NetworkError, QbizfedError

if TYPE_CHECKING:
    from qbizfed.aws.chat_stream import AsyncChatStream, ChatStream, StreamSettings

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_FEEDBACK_COMMENT = 1000
SUBSCRIPTION_PENDING = "does not have a subscription"
NOT_IDENTITY_AWARE = "not authorized for this service call"
CHAT_MODES = ("RETRIEVAL_MODE", "CREATOR_MODE", "PLUGIN_MODE")
FEEDBACK_REASONS = (
    "HELPFUL", "NOT_HELPFUL", "FACTUALLY_CORRECT", "NOT_FACTUALLY_CORRECT", "COMPLETE",
    "NOT_COMPLETE", "RELEVANT_SOURCES", "INCORRECT_OR_MISSING_SOURCES", "HARMFUL_OR_UNSAFE",
    "NOT_BASED_ON_DOCUMENTS", "NOT_CONCISE", "OTHER",
)  # fmt: skip

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 6})


@dataclass(frozen=True)
class CitedSegment:
    """A span of the answer (offsets into ``ChatTurn.text``) backed by a source."""

    begin: int
    end: int
    excerpt: str = ""


@dataclass(frozen=True)
class Citation:
    number: int
    title: str
    url: str | None
    snippet: str
    document_id: str | None = None
    updated_at: datetime | None = None
    segments: tuple[CitedSegment, ...] = ()
    index_id: str | None = None
    datasource_id: str | None = None

    @property
    def can_open(self) -> bool:
        """Whether ``ChatClient.document_content`` can open this source (GetDocumentContent
        needs the document and index ids the attribution carries)."""
        return bool(self.document_id and self.index_id)


@dataclass(frozen=True)
class FailedAttachment:
    name: str
    status: str
    error: str


@dataclass(frozen=True)
class ActionReview:
    """A plugin action Q wants the user to confirm (PLUGIN_MODE)."""

    plugin_id: str
    plugin_type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ChatTurn:
    """One question and its answer."""

    conversation_id: str
    user_message: str
    text: str
    user_message_id: str | None
    system_message_id: str | None
    citations: tuple[Citation, ...] = ()
    failed_attachments: tuple[FailedAttachment, ...] = ()
    action_review: ActionReview | None = None
    auth_challenge_url: str | None = None
    subscription_retries: int = 0

    def as_json(self) -> dict[str, Any]:
        """The full turn as JSON-ready data (``qbizfed ask --json``)."""
        return {
            "conversationId": self.conversation_id,
            "userMessage": self.user_message,
            "userMessageId": self.user_message_id,
            "systemMessageId": self.system_message_id,
            "systemMessage": self.text,
            "sourceAttributions": [
                {
                    "citationNumber": c.number,
                    "title": c.title,
                    "url": c.url,
                    "snippet": c.snippet,
                    "documentId": c.document_id,
                    "indexId": c.index_id,
                    "datasourceId": c.datasource_id,
                    "updatedAt": c.updated_at.isoformat() if c.updated_at else None,
                    "textMessageSegments": [
                        {"beginOffset": s.begin, "endOffset": s.end, "snippetExcerpt": s.excerpt}
                        for s in c.segments
                    ],
                }
                for c in self.citations
            ],
            "failedAttachments": [
                {"name": f.name, "status": f.status, "error": f.error}
                for f in self.failed_attachments
            ],
            "actionReview": None
            if self.action_review is None
            else {
                "pluginId": self.action_review.plugin_id,
                "pluginType": self.action_review.plugin_type,
                "payload": dict(self.action_review.payload),
            },
            "authChallengeUrl": self.auth_challenge_url,
            "subscriptionRetries": self.subscription_retries,
        }


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: str
    title: str
    start_time: datetime | None


@dataclass(frozen=True)
class HistoryMessage:
    message_id: str
    kind: str
    """USER or SYSTEM."""
    body: str
    time: datetime | None
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class RelevantPassage:
    """A passage ``SearchRelevantContent`` found in a document the user may see."""

    title: str
    url: str | None
    document_id: str
    content: str
    confidence: str | None = None


@dataclass(frozen=True)
class ConversationAttachment:
    """A file attached to a conversation, as ListAttachments reports it."""

    attachment_id: str
    conversation_id: str
    name: str
    file_type: str | None
    file_size: int | None
    status: str
    created_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes = field(repr=False)

    @classmethod
    def from_path(cls, path: Path) -> Attachment:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ConfigError(
                f"cannot read attachment {path}: {exc.strerror}", remedy="check the file path"
            ) from exc
        if size > MAX_ATTACHMENT_BYTES:
            raise ConfigError(
                f"attachment {path.name} is {size} bytes; Q Business accepts at most 10 MB",
                remedy="attach a smaller file, or split it",
            )
        return cls(name=path.name, data=path.read_bytes())


@dataclass(frozen=True)
class TurnRequest:
    """One message to send, with what goes with it (the input of a streamed turn)."""

    application_id: str
    message: str
    conversation_id: str | None = None
    parent_message_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    attribute_filter: Mapping[str, Any] | None = None
    chat_mode: str | None = None
    chat_mode_configuration: Mapping[str, Any] | None = None


def subscription_notice(delay: float, retry: int, limit: int) -> str:
    return (
        "You had no Q Business subscription yet; this call subscribes you. "
        f"Retrying in {delay:g} s ({retry}/{limit})."
    )


class ChatError(AwsError):
    """A turn failed; ``unsent_message`` is the user's message, to send again.

    ``partial_text`` is what a streamed answer had shown before it failed ("" otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        remedy: str,
        unsent_message: str,
        partial_text: str = "",
    ) -> None:
        super().__init__(message, code=code, remedy=remedy)
        self.unsent_message = unsent_message
        self.partial_text = partial_text


_MISSING_ACTION = re.compile(r"not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)")


def missing_action(code: str, message: str, action: str | None) -> str | None:
    """The IAM action a refusal is about: named in the message, else the one called."""
    if not code.startswith("AccessDenied"):
        return None
    found = _MISSING_ACTION.search(message)
    if found:
        return found.group(1)
    if "no identity-based policy" in message.lower() or "not authorized to perform" in message:
        return action
    return None


def error_remedy(code: str, message: str, action: str | None = None) -> str:
    lowered = message.lower()
    needed = missing_action(code, message, action)
    if needed is not None:
        return (
            f"the role your credentials come from is not allowed {needed}: ask the "
            f"administrator to add {needed} to the role's policy (`qbizfed admin apply` "
            "grants what the web experience needs)"
        )
    if NOT_IDENTITY_AWARE in lowered:
        return (
            "these credentials carry no user identity: use credentials from `qbizfed login`, "
            "`qbizfed serve` or AssumeRoleWithWebIdentity/AssumeRoleWithSAML with an Email "
            "session tag, not admin or plain role credentials"
        )
    if SUBSCRIPTION_PENDING in lowered:
        return (
            "the application does not subscribe users automatically: ask the administrator to "
            "enable auto-subscription (qbizfed admin apply) or to create your subscription"
        )
    if code in ("ExpiredTokenException", "ExpiredToken"):
        return "the credentials expired: sign in again (`qbizfed login`, or reload `qbizfed serve`)"
    if code in ("UnrecognizedClientException", "InvalidSignatureException"):
        return "the credentials are not valid for this endpoint: sign in again"
    if code == "ThrottlingException":
        return "Q Business is throttling chat calls: wait a few seconds and send the message again"
    if code == "ResourceNotFoundException":
        return "check the application id (and region), or the conversation id you resumed"
    if code == "LicenseNotFoundException":
        return "ask the administrator to assign you a Q Business subscription"
    if code == "ValidationException":
        return "the request was refused as malformed: see the message above"
    return "send the message again; if it keeps failing, run `qbizfed doctor`"


def _citation(raw: Mapping[str, Any]) -> Citation:
    segments = tuple(
        CitedSegment(
            begin=int(seg.get("beginOffset", 0)),
            end=int(seg.get("endOffset", 0)),
            excerpt=str((seg.get("snippetExcerpt") or {}).get("text", "")),
        )
        for seg in raw.get("textMessageSegments", [])
    )
    return Citation(
        number=int(raw.get("citationNumber", 0)),
        title=str(raw.get("title", "")),
        url=raw.get("url"),
        snippet=str(raw.get("snippet", "")),
        document_id=raw.get("documentId"),
        updated_at=raw.get("updatedAt"),
        segments=segments,
        index_id=raw.get("indexId"),
        datasource_id=raw.get("datasourceId"),
    )


def oldest_first(listed: Sequence[HistoryMessage]) -> list[HistoryMessage]:
    """ListMessages' messages (in the order its pages returned them) oldest first.

    ListMessages lists newest first, so the listing reversed is oldest first; sorting
    that by time, stably, keeps the reversed order among messages stamped in the same
    instant (a question and its answer can be), so the result never depends on chance.
    A message without a time sorts first; a naive time is taken as UTC.
    """
    earliest = datetime.min.replace(tzinfo=UTC)

    def when(message: HistoryMessage) -> datetime:
        if message.time is None:
            return earliest
        return message.time if message.time.tzinfo else message.time.replace(tzinfo=UTC)

    return sorted(reversed(listed), key=when)


def turn_from_response(message: str, raw: Mapping[str, Any], retries: int) -> ChatTurn:
    """The one place a turn is assembled, from a ChatSync response or from the fields of
    a streamed answer gathered into the same shape (see ``chat_stream``)."""
    review = raw.get("actionReview")
    return ChatTurn(
        conversation_id=str(raw.get("conversationId", "")),
        user_message=message,
        text=str(raw.get("systemMessage", "")),
        user_message_id=raw.get("userMessageId"),
        system_message_id=raw.get("systemMessageId"),
        citations=tuple(
            sorted(
                (_citation(c) for c in raw.get("sourceAttributions", [])), key=lambda c: c.number
            )
        ),
        failed_attachments=tuple(
            FailedAttachment(
                name=str(f.get("name", "")),
                status=str(f.get("status", "FAILED")),
                error=str((f.get("error") or {}).get("errorMessage", "")),
            )
            for f in raw.get("failedAttachments", [])
        ),
        action_review=None
        if not review
        else ActionReview(
            plugin_id=str(review.get("pluginId", "")),
            plugin_type=str(review.get("pluginType", "")),
            payload=dict(review.get("payload", {})),
        ),
        auth_challenge_url=(raw.get("authChallengeRequest") or {}).get("authorizationUrl"),
        subscription_retries=retries,
    )


class ChatClient:
    """Identity-aware Q Business chat for one application.

    ``qbusiness`` is a boto3 ``qbusiness`` client made from identity-aware credentials;
    ``ChatClient.from_session`` builds one with adaptive retries. Streamed turns use the
    same client's region, endpoint (``AWS_ENDPOINT_URL``) and credentials unless
    ``stream_settings`` say otherwise.
    """

    def __init__(
        self,
        *,
        qbusiness: Any,
        application_id: str,
        subscription_retries: int = 4,
        subscription_backoff: float = 1.0,
        on_notice: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stream_settings: StreamSettings | None = None,
    ) -> None:
        if not application_id:
            raise ConfigError(
                "no Q Business application id given",
                remedy="pass --app-id, or set QBUSINESS_APPLICATION_ID",
            )
        self._client = qbusiness
        self.application_id = application_id
        self._subscription_retries = subscription_retries
        self._backoff = subscription_backoff
        self._notice = on_notice or (lambda _message: None)
        self._sleep = sleep
        self._stream_settings = stream_settings

    @property
    def subscription_retries(self) -> int:
        return self._subscription_retries

    def notice(self, text: str) -> None:
        """Tell the caller something it should know (e.g. the subscription retry)."""
        self._notice(text)

    def subscription_delay(self, retry: int) -> float:
        """Backoff before subscription retry number ``retry`` (1-based)."""
        return float(self._backoff * 2 ** (retry - 1))

    def stream_settings(self) -> StreamSettings:
        """Where and how streamed turns connect: from ``stream_settings`` or this client."""
        if self._stream_settings is None:
            from qbizfed.aws.chat_stream import StreamSettings

            self._stream_settings = StreamSettings.from_boto3_client(self._client)
        return self._stream_settings

    @classmethod
    def from_session(
        cls, session: Any, application_id: str, *, region: str | None = None, **kwargs: Any
    ) -> ChatClient:
        """From any boto3 Session (environment, profile, ``credential_process``...)."""
        try:
            client = session.client("qbusiness", region_name=region, config=RETRY_CONFIG)
        except BotoCoreError as exc:
            raise ConfigError(
                f"cannot make a Q Business client: {exc}",
                remedy="set a region (--region or AWS_DEFAULT_REGION) and credentials",
            ) from exc
        return cls(qbusiness=client, application_id=application_id, **kwargs)

    # -- conversations -----------------------------------------------------------

    def conversation(self, conversation_id: str | None = None) -> Conversation:
        """A new conversation, or an existing one resumed after its last answer."""
        if conversation_id is None:
            return Conversation(self)
        parent = self.latest_answer_id(conversation_id)
        return Conversation(self, conversation_id=conversation_id, parent_message_id=parent)

    def latest_answer_id(self, conversation_id: str) -> str | None:
        """The id of the conversation's last answer: what a new turn continues from."""
        history = self.history(conversation_id)
        return next((m.message_id for m in reversed(history) if m.kind == "SYSTEM"), None)

    def newer_parent(
        self, conversation_id: str | None, parent_message_id: str | None
    ) -> str | None:
        """After a ``ConflictException`` on a continuation: the conversation's latest answer
        if it is not ``parent_message_id`` (else None: the conflict is something else).

        A streamed answer cut off mid-way may still have been stored by the service, so
        the conversation moved on while this client kept its previous parent (the turn
        failed, as far as the user is concerned). Sending the question again then
        continues after the stored answer instead of failing on a stale parent."""
        if not conversation_id:
            return None
        try:
            latest = self.latest_answer_id(conversation_id)
        except QbizfedError:
            return None
        return latest if latest and latest != parent_message_id else None

    def list_conversations(self) -> Iterator[ConversationSummary]:
        for raw in self._paged("list_conversations", {}, "conversations"):
            yield ConversationSummary(
                conversation_id=str(raw["conversationId"]),
                title=str(raw.get("title", "")),
                start_time=raw.get("startTime"),
            )

    def history(self, conversation_id: str) -> list[HistoryMessage]:
        """Every message of a conversation, oldest first (see :func:`oldest_first`)."""
        messages = [
            HistoryMessage(
                message_id=str(raw.get("messageId", "")),
                kind=str(raw.get("type", "")),
                body=str(raw.get("body", "")),
                time=raw.get("time"),
                citations=tuple(_citation(c) for c in raw.get("sourceAttribution", [])),
            )
            for raw in self._paged(
                "list_messages", {"conversationId": conversation_id}, "messages"
            )
        ]
        return oldest_first(messages)

    def retriever_ids(self) -> list[str]:
        """The application's retrievers (``ListRetrievers``), for :meth:`search`."""
        page = self._call("list_retrievers", {"applicationId": self.application_id})
        return [str(r["retrieverId"]) for r in page.get("retrievers", []) if r.get("retrieverId")]

    def search(
        self, query: str, *, retriever_id: str, max_results: int = 10
    ) -> list[RelevantPassage]:
        """Passages the user may see (``SearchRelevantContent``), best first."""
        if not query.strip():
            raise ConfigError("the search query is empty", remedy="give words to search for")
        page = self._call(
            "search_relevant_content",
            {
                "applicationId": self.application_id,
                "queryText": query,
                "contentSource": {"retriever": {"retrieverId": retriever_id}},
                "maxResults": max_results,
            },
        )
        return [
            RelevantPassage(
                title=str(raw.get("documentTitle") or raw.get("documentId", "")),
                url=raw.get("documentUri"),
                document_id=str(raw.get("documentId", "")),
                content=str(raw.get("content", "")),
                confidence=(raw.get("scoreAttributes") or {}).get("scoreConfidence"),
            )
            for raw in page.get("relevantContent", [])
        ]

    def delete_conversation(self, conversation_id: str) -> None:
        self._call(
            "delete_conversation",
            {"applicationId": self.application_id, "conversationId": conversation_id},
        )

    # -- managed-experience features ----------------------------------------------------

    def document_content(self, citation: Citation, *, extracted: bool = False) -> DocumentContent:
        """The bytes and MIME type of a cited document the user may see
        (GetDocumentContent, then its presigned URL; the URL never leaves this call)."""
        if not citation.document_id or not citation.index_id:
            raise ConfigError(
                f"source [{citation.number}] carries no document id to open",
                remedy="open its URL instead" if citation.url else "ask again for a new answer",
            )
        params: dict[str, Any] = {
            "applicationId": self.application_id,
            "indexId": citation.index_id,
            "documentId": citation.document_id,
            "outputFormat": "EXTRACTED" if extracted else "RAW",
        }
        if citation.datasource_id:
            params["dataSourceId"] = citation.datasource_id
        out = self._call("get_document_content", params)
        return fetch_presigned(
            str(out["presignedUrl"]),
            document_id=citation.document_id,
            mime_type=str(out.get("mimeType") or "application/octet-stream"),
        )

    def list_attachments(self, conversation_id: str) -> list[ConversationAttachment]:
        """The files attached to one of the user's conversations, newest first."""
        return [
            ConversationAttachment(
                attachment_id=str(raw.get("attachmentId", "")),
                conversation_id=str(raw.get("conversationId", conversation_id)),
                name=str(raw.get("name", "")),
                file_type=raw.get("fileType"),
                file_size=raw.get("fileSize"),
                status=str(raw.get("status", "")),
                created_at=raw.get("createdAt"),
                error=(raw.get("error") or {}).get("errorMessage"),
            )
            for raw in self._paged(
                "list_attachments", {"conversationId": conversation_id}, "attachments"
            )
        ]

    def delete_attachment(self, conversation_id: str, attachment_id: str) -> None:
        """Remove a file from one of the user's conversations."""
        self._call(
            "delete_attachment",
            {
                "applicationId": self.application_id,
                "conversationId": conversation_id,
                "attachmentId": attachment_id,
            },
        )

    def chat_controls(self) -> ChatControls:
        """What the application lets its users do (GetChatControlsConfiguration)."""
        topics: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"applicationId": self.application_id}
            if token:
                params["nextToken"] = token
            page = self._call("get_chat_controls_configuration", params)
            topics.extend(page.get("topicConfigurations") or [])
            token = page.get("nextToken")
            if not token:
                return ChatControls.from_wire({**page, "topicConfigurations": topics})

    def feedback(
        self,
        conversation_id: str,
        message_id: str,
        *,
        useful: bool,
        reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        if reason is not None and reason not in FEEDBACK_REASONS:
            raise ConfigError(
                f"unknown feedback reason {reason!r}",
                remedy="use one of " + ", ".join(FEEDBACK_REASONS),
            )
        if comment is not None and len(comment) > MAX_FEEDBACK_COMMENT:
            raise ConfigError(
                f"feedback comment is {len(comment)} characters; the limit is 1000",
                remedy="shorten the comment",
            )
        usefulness: dict[str, Any] = {
            "usefulness": "USEFUL" if useful else "NOT_USEFUL",
            "submittedAt": datetime.now().astimezone(),
        }
        if reason:
            usefulness["reason"] = reason
        if comment:
            usefulness["comment"] = comment
        self._call(
            "put_feedback",
            {
                "applicationId": self.application_id,
                "conversationId": conversation_id,
                "messageId": message_id,
                "messageUsefulness": usefulness,
            },
        )

    # -- one turn ------------------------------------------------------------------

    def send(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        parent_message_id: str | None = None,
        attachments: Sequence[Attachment] = (),
        attribute_filter: Mapping[str, Any] | None = None,
        chat_mode: str | None = None,
        chat_mode_configuration: Mapping[str, Any] | None = None,
    ) -> ChatTurn:
        """One ChatSync call, retrying the first-call subscription error."""
        check_turn_request(message, attachments, chat_mode)
        params: dict[str, Any] = {
            "applicationId": self.application_id,
            "userMessage": message,
            "clientToken": str(uuid.uuid4()),
        }
        if conversation_id:
            params["conversationId"] = conversation_id
            if parent_message_id:
                params["parentMessageId"] = parent_message_id
        if attachments:
            params["attachments"] = [{"name": a.name, "data": a.data} for a in attachments]
        if attribute_filter:
            params["attributeFilter"] = dict(attribute_filter)
        if chat_mode:
            params["chatMode"] = chat_mode
        if chat_mode_configuration:
            params["chatModeConfiguration"] = dict(chat_mode_configuration)

        try:
            try:
                raw, retries = self._subscribed(lambda: self._client.chat_sync(**params))
            except ClientError as exc:
                newer = (
                    self.newer_parent(conversation_id, parent_message_id)
                    if _client_error(exc)[0] == "ConflictException"
                    else None
                )
                if newer is None:
                    raise
                params["parentMessageId"] = newer
                raw, retries = self._subscribed(lambda: self._client.chat_sync(**params))
        except ClientError as exc:
            code, text = _client_error(exc)
            raise ChatError(
                f"ChatSync failed: {code}: {text}",
                code=code,
                remedy=error_remedy(code, text, "qbusiness:ChatSync"),
                unsent_message=message,
            ) from exc
        except ParamValidationError as exc:
            raise ChatError(
                f"ChatSync refused the request before sending it: {exc}",
                code="ParamValidation",
                remedy="check the conversation id, attachments and filters",
                unsent_message=message,
            ) from exc
        except BotoCoreError as exc:
            raise ChatError(
                f"ChatSync failed: {exc}",
                code="NetworkError",
                remedy="check the network and AWS_ENDPOINT_URL, then send the message again",
                unsent_message=message,
            ) from exc
        return turn_from_response(message, raw, retries)

    def _subscribed(self, call: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], int]:
        """Run an identity-aware call; a user's first call anywhere fails with "does not
        have a subscription" while subscribing them, so retry that a bounded number of
        times with backoff, saying so. Returns the result and the number of retries."""
        retries = 0
        while True:
            try:
                return call(), retries
            except ClientError as exc:
                _, text = _client_error(exc)
                if (
                    SUBSCRIPTION_PENDING not in text.lower()
                    or retries >= self._subscription_retries
                ):
                    raise
                retries += 1
                delay = self.subscription_delay(retries)
                self._notice(subscription_notice(delay, retries, self._subscription_retries))
                self._sleep(delay)

    def stream(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        parent_message_id: str | None = None,
        attachments: Sequence[Attachment] = (),
        attribute_filter: Mapping[str, Any] | None = None,
        chat_mode: str | None = None,
        chat_mode_configuration: Mapping[str, Any] | None = None,
        on_turn: Callable[[ChatTurn], None] | None = None,
    ) -> ChatStream:
        """One streamed turn: ``TextDelta`` events as the answer is written, then the
        ``ChatTurn``. Nothing is sent until the stream is iterated."""
        from qbizfed.aws.chat_stream import ChatStream

        return ChatStream(
            self,
            self._turn_request(
                message, conversation_id, parent_message_id, attachments,
                attribute_filter, chat_mode, chat_mode_configuration,
            ),
            on_turn=on_turn,
        )  # fmt: skip

    def astream(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        parent_message_id: str | None = None,
        attachments: Sequence[Attachment] = (),
        attribute_filter: Mapping[str, Any] | None = None,
        chat_mode: str | None = None,
        chat_mode_configuration: Mapping[str, Any] | None = None,
        on_turn: Callable[[ChatTurn], None] | None = None,
    ) -> AsyncChatStream:
        """``stream`` for asyncio servers (``async for event in client.astream(...)``)."""
        from qbizfed.aws.chat_stream import AsyncChatStream

        return AsyncChatStream(
            self,
            self._turn_request(
                message, conversation_id, parent_message_id, attachments,
                attribute_filter, chat_mode, chat_mode_configuration,
            ),
            on_turn=on_turn,
        )  # fmt: skip

    def _turn_request(
        self,
        message: str,
        conversation_id: str | None,
        parent_message_id: str | None,
        attachments: Sequence[Attachment],
        attribute_filter: Mapping[str, Any] | None,
        chat_mode: str | None,
        chat_mode_configuration: Mapping[str, Any] | None,
    ) -> TurnRequest:
        check_turn_request(message, attachments, chat_mode)
        return TurnRequest(
            application_id=self.application_id,
            message=message,
            conversation_id=conversation_id or None,
            parent_message_id=(parent_message_id or None) if conversation_id else None,
            attachments=tuple(attachments),
            attribute_filter=dict(attribute_filter) if attribute_filter else None,
            chat_mode=chat_mode,
            chat_mode_configuration=dict(chat_mode_configuration)
            if chat_mode_configuration
            else None,
        )

    def _call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result, _ = self._subscribed(lambda: getattr(self._client, method)(**params))
        except ClientError as exc:
            code, text = _client_error(exc)
            action = self._action(method)
            raise AwsError(
                f"{method} failed: {code}: {text}",
                code=code,
                remedy=error_remedy(code, text, action),
            ) from exc
        except ParamValidationError as exc:
            raise ConfigError(
                f"{method}: invalid request: {exc}", remedy="check the ids and values given"
            ) from exc
        except BotoCoreError as exc:
            raise NetworkError(
                f"{method} failed: {exc}", remedy="check the network and AWS_ENDPOINT_URL"
            ) from exc
        return result


    def _paged(
        self, method: str, params: Mapping[str, Any], items: str
    ) -> Iterator[dict[str, Any]]:
        """The items of every page of a ``nextToken``-paginated call on the application."""
        token: str | None = None
        while True:
            page = self._call(
                method,
                {"applicationId": self.application_id, **params}
                | ({"nextToken": token} if token else {}),
            )
            yield from page.get(items, [])
            token = page.get("nextToken")
            if not token:
                return

    def _action(self, method: str) -> str | None:
        """The IAM action of a boto3 method (``get_document_content`` ->
        ``qbusiness:GetDocumentContent``)."""
        mapping = getattr(getattr(self._client, "meta", None), "method_to_api_mapping", None)
        name = mapping.get(method) if isinstance(mapping, dict) else None
        return f"qbusiness:{name}" if name else None


def check_turn_request(
    message: str, attachments: Sequence[Attachment], chat_mode: str | None
) -> None:
    """What both ChatSync and the stream refuse before sending anything."""
    if not message.strip() and not attachments:
        raise ConfigError("the message is empty", remedy="type a question")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ConfigError(
            f"{len(attachments)} attachments; Q Business accepts at most {MAX_ATTACHMENTS}",
            remedy="attach fewer files",
        )
    if chat_mode is not None and chat_mode not in CHAT_MODES:
        raise ConfigError(
            f"unknown chat mode {chat_mode!r}", remedy="use one of " + ", ".join(CHAT_MODES)
        )


def _client_error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "Unknown")), str(error.get("Message", ""))


class Conversation:
    """A conversation: each ``ask`` continues from the previous answer."""

    def __init__(
        self,
        client: ChatClient,
        *,
        conversation_id: str | None = None,
        parent_message_id: str | None = None,
    ) -> None:
        self._client = client
        self.conversation_id = conversation_id
        self.parent_message_id = parent_message_id
        self.turns: list[ChatTurn] = []

    def ask(
        self,
        message: str,
        *,
        attachments: Sequence[Attachment] = (),
        attribute_filter: Mapping[str, Any] | None = None,
        chat_mode: str | None = None,
        chat_mode_configuration: Mapping[str, Any] | None = None,
    ) -> ChatTurn:
        """Send a message; on failure nothing changes and ``ChatError.unsent_message`` has it."""
        turn = self._client.send(
            message,
            conversation_id=self.conversation_id,
            parent_message_id=self.parent_message_id,
            attachments=attachments,
            attribute_filter=attribute_filter,
            chat_mode=chat_mode,
            chat_mode_configuration=chat_mode_configuration,
        )
        self._continue_after(turn)
        return turn

    def stream(
        self,
        message: str,
        *,
        attachments: Sequence[Attachment] = (),
        attribute_filter: Mapping[str, Any] | None = None,
        chat_mode: str | None = None,
        chat_mode_configuration: Mapping[str, Any] | None = None,
    ) -> ChatStream:
        """Send a message and read the answer as it is written: ``TextDelta`` events, then
        the ``ChatTurn`` (``"".join(d.text for d in deltas) == turn.text``). The
        conversation advances when the turn arrives; on failure (``ChatError``, with
        ``partial_text``), ``close()`` or Ctrl-C it stays where it was."""
        return self._client.stream(
            message,
            conversation_id=self.conversation_id,
            parent_message_id=self.parent_message_id,
            attachments=attachments,
            attribute_filter=attribute_filter,
            chat_mode=chat_mode,
            chat_mode_configuration=chat_mode_configuration,
            on_turn=self._continue_after,
        )

    def astream(
        self,
        message: str,
        *,
        attachments: Sequence[Attachment] = (),
        attribute_filter: Mapping[str, Any] | None = None,
        chat_mode: str | None = None,
        chat_mode_configuration: Mapping[str, Any] | None = None,
    ) -> AsyncChatStream:
        """``stream`` for asyncio: ``async for event in conversation.astream(...)``."""
        return self._client.astream(
            message,
            conversation_id=self.conversation_id,
            parent_message_id=self.parent_message_id,
            attachments=attachments,
            attribute_filter=attribute_filter,
            chat_mode=chat_mode,
            chat_mode_configuration=chat_mode_configuration,
            on_turn=self._continue_after,
        )

    def _continue_after(self, turn: ChatTurn) -> None:
        self.conversation_id = turn.conversation_id
        self.parent_message_id = turn.system_message_id
        self.turns.append(turn)

    def feedback(
        self,
        *,
        useful: bool,
        reason: str | None = None,
        comment: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Feedback on ``message_id``, by default the last answer."""
        target = message_id or self.parent_message_id
        if not self.conversation_id or not target:
            raise ConfigError(
                "there is no answer to give feedback on yet", remedy="ask something first"
            )
        self._client.feedback(
            self.conversation_id, target, useful=useful, reason=reason, comment=comment
        )

    def history(self) -> list[HistoryMessage]:
        return self._client.history(self.conversation_id) if self.conversation_id else []

    def delete(self) -> None:
        if self.conversation_id:
            self._client.delete_conversation(self.conversation_id)
        self.conversation_id = None
        self.parent_message_id = None
        self.turns.clear()
