"""Wire operations of the data plane: documents, groups, and the identity-aware chat calls.

The logic lives in the data-plane engineer's pure modules (``dataplane_application``,
``permissions``, ``retrieval``, ``answers``, ``conversations``, ``corpus``); this module
only turns decoded requests into calls on them and their results into the output
shapes, and applies the rules of the service's front end:

* identity-aware calls (ChatSync, SearchRelevantContent, ListConversations,
  ListMessages, DeleteConversation, PutFeedback) act as the user named by the session's
  ``Email`` tag; credentials without one are refused in ``service`` with
  "User is not authorized for this service call.";
* ``userId``/``userGroups`` may not be sent with identity-aware credentials (the user
  is who the credentials say) -> ``ValidationException`` (*unconfirmed* code; refusing
  is the safe reading of docs/aws-facts.md);
* identity-aware calls on an application still CREATING -> ``ConflictException``
  (*unconfirmed*);
* documents are indexed synchronously: a request-level problem (no content, a bad
  attribute or access configuration) is returned in ``failedDocuments`` and the
  document is not added; a content problem (an S3 object that cannot be read, text
  that cannot be extracted) is what AWS finds while processing, so the document is
  accepted and ListDocuments reports it ``FAILED`` with the reason. ListDocuments shows a
  document ``PROCESSING`` for ``active_delay_seconds`` after each put (as AWS reports
  RECEIVED/PROCESSING while it indexes), then ``INDEXED`` or ``FAILED``; retrieval sees it
  at once. S3 content is read
  from the in-process moto S3 of the caller's account; S3 group member lists are not
  supported (ValidationException);
* CheckDocumentAccess answers from the same permission model retrieval uses;
* a user without a subscription is refused with "User does not have a subscription
  for the given application." and auto-subscribed when the application allows it;
* the application (and for document/group calls the index) must exist in the
  caller's account and region, else ``ResourceNotFoundException``;
* ``corpus_dir`` documents and groups are loaded into every new index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qbizfed.local.qbusiness import attachments, subscriptions
from qbizfed.local.qbusiness.api_errors import (
    ConflictError,
    NotFoundError,
    NotImplementedByLocalError,
    ValidationError,
)
from qbizfed.local.qbusiness.dataplane_attributes import AttributeFilter, DocumentAttribute
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError
from qbizfed.local.qbusiness.document_content import (
    Content,
    LinkClaims,
    denied,
    expiry,
    mime_type,
    presigned_url,
)
from qbizfed.local.qbusiness.idempotency import idempotent
from qbizfed.local.qbusiness.operations import (
    Access,
    OperationContext,
    OperationRegistry,
    Params,
    Result,
)
from qbizfed.local.qbusiness.pagination import page
from qbizfed.local.qbusiness.permissions import (
    AccessConfiguration,
    GroupMembers,
    MemberRelation,
    MembershipType,
    PrincipalGroup,
    PrincipalUser,
    ReadAccess,
    may_see,
)
from qbizfed.local.qbusiness.resource_lookup import get_application, get_child, state_of
from qbizfed.local.qbusiness.state import EmulatorState, Resource

if TYPE_CHECKING:
    from qbizfed.local.qbusiness.corpus import Corpus
    from qbizfed.local.qbusiness.dataplane_application import (
        ApplicationDataPlane,
        PutDocument,
    )

# The retrieval stack (bm25s, numpy, lxml.html) is imported on first use, not at
# import time, so ``qbizfed local aws`` starts fast when nobody chats.

registry = OperationRegistry()

MAX_LIST_ATTACHMENTS = 50
MAX_ATTACHMENTS = attachments.MAX_ATTACHMENTS


@dataclass
class _IndexBook:
    """Per-index bookkeeping the pure modules do not keep: times of documents and groups."""

    document_created: dict[str, datetime] = field(default_factory=dict)
    document_updated: dict[str, datetime] = field(default_factory=dict)
    document_bytes: dict[str, int] = field(default_factory=dict)
    document_errors: dict[str, dict[str, str]] = field(default_factory=dict)
    """Documents that FAILED while being processed -> ``{"errorCode", "errorMessage"}``."""
    document_content: dict[str, tuple[bytes, str]] = field(default_factory=dict, repr=False)
    group_updated: dict[str, datetime] = field(default_factory=dict)


@dataclass
class _AppData:
    plane: ApplicationDataPlane
    books: dict[str, _IndexBook] = field(default_factory=dict)

    def book(self, index_id: str) -> _IndexBook:
        return self.books.setdefault(index_id, _IndexBook())


def _app_data(state: EmulatorState, application_id: str) -> _AppData:
    with state.lock:
        data = state.extensions.get(application_id)
        if not isinstance(data, _AppData):
            from qbizfed.local.qbusiness.dataplane_application import ApplicationDataPlane

            data = _AppData(ApplicationDataPlane(application_id))
            state.extensions[application_id] = data
        return data


def install(state: EmulatorState, *, corpus_dir: Path | None) -> None:
    """Hook the data plane into the emulator's control plane.

    The corpus folder is read here, once, so a broken ``--corpus`` fails at start
    (``ConfigError`` with a remedy) rather than on the first CreateIndex.
    """
    corpus: Corpus | None = None
    if corpus_dir is not None:
        from qbizfed.local.qbusiness.corpus import load_corpus

        corpus = load_corpus(corpus_dir)

    def on_index_created(ctx: OperationContext, index: Resource) -> None:
        data = _app_data(state, index.application_id)
        data.plane.index(index.resource_id)
        if corpus is None:
            return
        data.plane.index(index.resource_id).load_corpus(corpus)
        book = data.book(index.resource_id)
        for name in corpus.groups:
            book.group_updated[name] = ctx.now
        for item in corpus.documents:
            doc_id = item.document.document_id
            book.document_created[doc_id] = ctx.now
            book.document_updated[doc_id] = ctx.now
            book.document_bytes[doc_id] = len(item.document.text.encode())
            book.document_content[doc_id] = (item.document.text.encode(),
                                             mime_type(item.content_type))  # fmt: skip

    def on_index_deleted(ctx: OperationContext, index: Resource) -> None:
        data = state.extensions.get(index.application_id)
        if isinstance(data, _AppData):
            data.plane.drop_index(index.resource_id)
            data.books.pop(index.resource_id, None)

    def statistics(ctx: OperationContext, index: Resource) -> dict[str, Any]:
        data = state.extensions.get(index.application_id)
        book = data.books.get(index.resource_id) if isinstance(data, _AppData) else None
        sizes = book.document_bytes if book else {}
        return {
            "textDocumentStatistics": {
                "indexedTextBytes": sum(sizes.values()),
                "indexedTextDocumentCount": len(sizes),
            }
        }

    state.index_created_hooks.append(on_index_created)
    state.index_deleted_hooks.append(on_index_deleted)
    state.index_statistics = statistics


# ---------------------------------------------------------------------------- documents


def _failure(doc_id: str, code: str, message: str) -> Result:
    return {"id": doc_id, "error": {"errorCode": code, "errorMessage": message}}


class _ContentFailedError(Exception):
    """A document whose content could not be read or indexed (reported by ListDocuments)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _content(ctx: OperationContext, content: dict[str, Any]) -> bytes:
    s3 = content.get("s3")
    if s3 is not None:
        from qbizfed.local.moto_backend import read_s3_object

        try:
            return read_s3_object(ctx.account_id, str(s3["bucket"]), str(s3["key"]))
        except LookupError as exc:
            message = f"The document content could not be read from S3: {exc}"
            raise _ContentFailedError(message) from exc
    blob = content.get("blob")
    if blob is None:
        raise ValidationError("The document has no content (content.blob or content.s3).")
    return bytes(blob)


def _to_put(ctx: OperationContext, doc: dict[str, Any], index_id: str) -> PutDocument:
    from qbizfed.local.qbusiness.dataplane_application import PutDocument
    from qbizfed.local.qbusiness.dataplane_content import extract_text
    from qbizfed.local.qbusiness.retrieval import IndexedDocument

    attributes = tuple(DocumentAttribute.from_wire(a) for a in doc.get("attributes") or [])
    access_raw = doc.get("accessConfiguration")
    access = AccessConfiguration.from_wire(access_raw) if access_raw is not None else None
    blob = _content(ctx, doc.get("content") or {})
    try:
        text = extract_text(blob, doc.get("contentType"))
    except DataPlaneError as exc:
        raise _ContentFailedError(exc.message) from exc
    return PutDocument(
        IndexedDocument(
            document_id=str(doc["id"]),
            title=str(doc.get("title") or doc["id"]),
            text=text,
            attributes=attributes,
            updated_at=ctx.now,
            index_id=index_id,
        ),
        access,
    )


@registry.operation("BatchPutDocument")
def batch_put_document(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    data = _app_data(state_of(ctx), index.application_id)
    accepted: list[PutDocument] = []
    failed: list[Result] = []
    processing_failed: dict[str, str] = {}
    for doc in params["documents"]:
        try:
            accepted.append(_to_put(ctx, doc, index.resource_id))
        except _ContentFailedError as exc:
            processing_failed[str(doc["id"])] = exc.message
        except (DataPlaneError, ValueError, KeyError) as exc:
            message = exc.message if isinstance(exc, DataPlaneError) else str(exc)
            failed.append(_failure(str(doc.get("id")), "InvalidRequest", message))
    plane = data.plane.index(index.resource_id)
    plane.put_documents(accepted)
    plane.delete_documents(list(processing_failed))
    book = data.book(index.resource_id)
    raw = {str(d.get("id")): d for d in params["documents"]}
    with state_of(ctx).lock:
        for item in accepted:
            doc_id = item.document.document_id
            book.document_created.setdefault(doc_id, ctx.now)
            book.document_updated[doc_id] = ctx.now
            book.document_bytes[doc_id] = len(item.document.text.encode())
            book.document_errors.pop(doc_id, None)
            sent = raw.get(doc_id) or {}
            blob = (sent.get("content") or {}).get("blob")
            book.document_content[doc_id] = (
                (bytes(blob), mime_type(sent.get("contentType")))
                if blob
                else (item.document.text.encode(), "text/plain")  # S3 content: its text
            )
        for doc_id, message in processing_failed.items():
            book.document_created.setdefault(doc_id, ctx.now)
            book.document_updated[doc_id] = ctx.now
            book.document_bytes.pop(doc_id, None)
            book.document_errors[doc_id] = {"errorCode": "InvalidRequest", "errorMessage": message}
            book.document_content.pop(doc_id, None)
    return {"failedDocuments": failed}


@registry.operation("BatchDeleteDocument")
def batch_delete_document(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    data = _app_data(state_of(ctx), index.application_id)
    ids = [str(d["documentId"]) for d in params["documents"]]
    data.plane.index(index.resource_id).delete_documents(ids)
    book = data.book(index.resource_id)
    with state_of(ctx).lock:
        for doc_id in ids:
            book.document_created.pop(doc_id, None)
            book.document_updated.pop(doc_id, None)
            book.document_bytes.pop(doc_id, None)
            book.document_errors.pop(doc_id, None)
            book.document_content.pop(doc_id, None)
    return {"failedDocuments": []}


@registry.operation("ListDocuments")
def list_documents(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    state = state_of(ctx)
    book = _app_data(state, index.application_id).book(index.resource_id)

    def detail(doc_id: str) -> Result:
        updated = book.document_updated.get(doc_id, book.document_created[doc_id])
        entry: Result = {
            "documentId": doc_id,
            "status": "INDEXED",
            "createdAt": book.document_created[doc_id],
            "updatedAt": updated,
        }
        if ctx.now < updated + state.delay:
            entry["status"] = "PROCESSING"
        elif doc_id in book.document_errors:
            entry["status"] = "FAILED"
            entry["error"] = book.document_errors[doc_id]
        return entry

    with state.lock:
        ids = sorted(book.document_created, key=lambda d: (book.document_created[d], d))
        details = [detail(doc_id) for doc_id in ids]
    chunk, token = page(
        details,
        scope=f"ListDocuments:{index.resource_id}",
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=100,
    )
    return {"documentDetailList": chunk, "nextToken": token}


def _acl_membership(config: AccessConfiguration | None, access: ReadAccess) -> Result:
    """``DocumentAclMembership``: the principals of one kind, per access control."""
    conditions: list[Result] = []
    for control in config.access_controls if config else ():
        chosen = [p for p in control.principals if p.access is access]
        if not chosen:
            continue
        conditions.append(
            {
                "memberRelation": (control.member_relation or MemberRelation.OR).value,
                "users": [
                    {"id": p.id, "type": (p.membership_type or MembershipType.INDEX).value}
                    for p in chosen
                    if isinstance(p, PrincipalUser)
                ],
                "groups": [
                    {"name": p.name, "type": (p.membership_type or MembershipType.INDEX).value}
                    for p in chosen
                    if isinstance(p, PrincipalGroup)
                ],
            }
        )
    relation = (config.member_relation if config else None) or MemberRelation.OR
    return {"memberRelation": relation.value, "conditions": conditions}


@registry.operation("CheckDocumentAccess")
def check_document_access(ctx: OperationContext, params: Params) -> Result:
    """Whether a user may see a document, with the user's groups and the document's ACL.

    A document without an access configuration is open to every user of the
    application: its ACL is returned empty and ``hasAccess`` is true.
    """
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    data = _app_data(state_of(ctx), index.application_id)
    doc_id = str(params["documentId"])
    book = data.book(index.resource_id)
    with state_of(ctx).lock:
        known = doc_id in book.document_created and doc_id not in book.document_errors
    if not known:
        raise NotFoundError(
            f"The document {doc_id} was not found in index {index.resource_id}.",
            resource_id=doc_id,
            resource_type="AWS::QBusiness::Document",
        )
    plane = data.plane.index(index.resource_id)
    identity = plane.identity(str(params["userId"]))
    config = plane.permissions.access_of(doc_id)
    return {
        "userGroups": [{"name": g, "type": "INDEX"} for g in sorted(identity.groups)],
        "userAliases": [{"id": identity.user_id, "type": "INDEX"}],
        "hasAccess": may_see(config, identity),
        "documentAcl": {
            "allowlist": _acl_membership(config, ReadAccess.ALLOW),
            "denyList": _acl_membership(config, ReadAccess.DENY),
        },
    }


# ---------------------------------------------------------------------------- groups


def _group_missing(name: str) -> NotFoundError:
    return NotFoundError(
        f"The group {name} was not found.", resource_id=name, resource_type="AWS::QBusiness::Group"
    )


@registry.operation("PutGroup")
def put_group(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    members = params["groupMembers"]
    if members.get("s3PathForGroupMembers") is not None:
        raise ValidationError(
            "groupMembers.s3PathForGroupMembers is not supported by qbizfed local; "
            "send memberUsers/memberGroups inline."
        )
    data = _app_data(state_of(ctx), index.application_id)
    data.plane.index(index.resource_id).groups.put_group(
        params["groupName"], GroupMembers.from_wire(members)
    )
    with state_of(ctx).lock:
        data.book(index.resource_id).group_updated[params["groupName"]] = ctx.now
    return {}


@registry.operation("GetGroup")
def get_group(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    data = _app_data(state_of(ctx), index.application_id)
    name = params["groupName"]
    if data.plane.index(index.resource_id).groups.get_group(name) is None:
        raise _group_missing(name)
    updated = data.book(index.resource_id).group_updated.get(name, ctx.now)
    status = {"status": "SUCCEEDED", "lastUpdatedAt": updated}
    return {"status": status, "statusHistory": [status]}


@registry.operation("ListGroups")
def list_groups(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    data = _app_data(state_of(ctx), index.application_id)
    book = data.book(index.resource_id)
    earlier_than: datetime = params["updatedEarlierThan"]
    names = [
        name
        for name in data.plane.index(index.resource_id).groups.group_names()
        if book.group_updated.get(name, ctx.now) < earlier_than
    ]
    chunk, token = page(
        names,
        scope=f"ListGroups:{index.resource_id}",
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=10,
    )
    return {"items": [{"groupName": n} for n in chunk], "nextToken": token}


@registry.operation("DeleteGroup")
def delete_group(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    data = _app_data(state_of(ctx), index.application_id)
    name = params["groupName"]
    if not data.plane.index(index.resource_id).groups.delete_group(name):
        raise _group_missing(name)
    with state_of(ctx).lock:
        data.book(index.resource_id).group_updated.pop(name, None)
    return {}


# ---------------------------------------------------------------------------- identity-aware


def _user_app(ctx: OperationContext, params: Params, *, subscribed: bool = True) -> Resource:
    """The application, checked for the user: no impersonation, ready, subscribed."""
    if params.get("userId") is not None or params.get("userGroups"):
        raise ValidationError(
            "userId and userGroups cannot be used with identity-aware credentials: "
            "the user is the one the credentials' Email tag names.",
            fields=[("userId", "Member must be null with identity-aware credentials")],
        )
    app = get_application(ctx, params["applicationId"])
    if app.status(ctx.now) == "CREATING":
        raise ConflictError(
            f"The application {app.resource_id} is not ACTIVE yet.",
            resource_id=app.resource_id,
            resource_type="AWS::QBusiness::Application",
        )
    email = ctx.caller.email
    assert email is not None  # guaranteed by Access.USER in service
    if subscribed:
        subscriptions.ensure_subscribed(ctx, app, email)
    return app


def _user(ctx: OperationContext) -> str:
    email = ctx.caller.email
    assert email is not None
    return email


@registry.operation("ChatSync", access=Access.USER)
def chat_sync(ctx: OperationContext, params: Params) -> Result:
    return chat_turn(ctx, params)


@registry.operation("Chat", access=Access.USER)
def chat(ctx: OperationContext, params: Params) -> Result:
    """The HTTP/2 event-stream form of Chat; the WebSocket form is ``streaming``."""
    raise NotImplementedByLocalError("Chat over HTTP (use the WebSocket endpoint GET /chat)")


def chat_turn(ctx: OperationContext, params: Params) -> Result:
    """One chat turn, with ChatSync's input and output members.

    Both ChatSync and the streamed Chat (``streaming``) run their turns here, so the
    identity, subscription, ACL and conversation rules are the same and a streamed turn
    can continue a ChatSync conversation (and the other way round).
    """
    app = _user_app(ctx, params)
    if params.get("actionExecution") or params.get("authChallengeResponse"):
        raise ValidationError(
            "Plugins (actionExecution, authChallengeResponse) are not available in qbizfed local."
        )
    sent_attachments = params.get("attachments") or []
    message = params.get("userMessage")
    if not message:
        raise ValidationError(
            "userMessage is required.", fields=[("userMessage", "Member must not be null")]
        )
    from qbizfed.local.qbusiness import turn_rules
    from qbizfed.local.qbusiness.dataplane_application import ChatMode, ChatRequest

    filter_raw = params.get("attributeFilter")
    request = ChatRequest(
        user_id=_user(ctx),
        user_message=str(message),
        conversation_id=params.get("conversationId"),
        parent_message_id=params.get("parentMessageId"),
        attribute_filter=AttributeFilter.from_wire(filter_raw) if filter_raw else None,
        chat_mode=ChatMode(params.get("chatMode") or "RETRIEVAL_MODE"),
    )
    plane = _app_data(state_of(ctx), app.resource_id).plane

    def run() -> Result:
        # ApplicationDataPlane.chat, with chat controls and attachments applied (the
        # turn_rules hook, shared with streaming chat) around answering and recording.
        plane.conversations.check_continuation(
            request.user_id, request.conversation_id, request.parent_message_id
        )
        turn_context = turn_rules.prepare_turn(
            app_attrs=app.attrs, plane=plane, store=plane.attachments, request=request,
            attachments=sent_attachments, now=ctx.now,
        )  # fmt: skip
        answer = turn_rules.answer_turn(
            turn_context, app_attrs=app.attrs, plane=plane, request=request
        )
        turn = plane.conversations.record_turn(
            request.user_id,
            request.user_message,
            answer,
            conversation_id=request.conversation_id,
            parent_message_id=request.parent_message_id,
        )
        failed = turn_rules.finish_turn(
            turn_context, store=plane.attachments, user_id=request.user_id,
            conversation_id=turn.conversation_id,
        )  # fmt: skip
        return {
            "conversationId": turn.conversation_id,
            "systemMessage": answer.system_message,
            "systemMessageId": turn.system_message_id,
            "userMessageId": turn.user_message_id,
            "sourceAttributions": [s.to_wire() for s in answer.source_attributions],
            "failedAttachments": failed,
        }

    return idempotent(
        ctx, params, f"{app.resource_id}:{request.user_id.lower()}", run, exclusive=False
    )


@registry.operation("ListAttachments", access=Access.USER)
def list_attachments(ctx: OperationContext, params: Params) -> Result:
    app = _user_app(ctx, params)
    plane = _app_data(state_of(ctx), app.resource_id).plane
    conversation_id = params.get("conversationId")
    if conversation_id is not None:
        plane.conversations.require(_user(ctx), conversation_id)
    items = [a.to_wire() for a in plane.attachments.list(_user(ctx), conversation_id)]
    chunk, token = page(
        items,
        scope=f"ListAttachments:{app.resource_id}:{_user(ctx).lower()}:{conversation_id}",
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=MAX_LIST_ATTACHMENTS,
    )
    return {"attachments": chunk, "nextToken": token}


@registry.operation("DeleteAttachment", access=Access.USER)
def delete_attachment(ctx: OperationContext, params: Params) -> Result:
    app = _user_app(ctx, params)
    plane = _app_data(state_of(ctx), app.resource_id).plane
    plane.conversations.require(_user(ctx), params["conversationId"])
    plane.attachments.delete(_user(ctx), params["conversationId"], params["attachmentId"])
    return {}


@registry.operation("ListConversations", access=Access.USER)
def list_conversations(ctx: OperationContext, params: Params) -> Result:
    app = _user_app(ctx, params)
    listing = _app_data(state_of(ctx), app.resource_id).plane.conversations.list_conversations(
        _user(ctx), max_results=params.get("maxResults"), next_token=params.get("nextToken")
    )
    return {
        "conversations": [
            {"conversationId": c.conversation_id, "title": c.title, "startTime": c.start_time}
            for c in listing.items
        ],
        "nextToken": listing.next_token,
    }


@registry.operation("ListMessages", access=Access.USER)
def list_messages(ctx: OperationContext, params: Params) -> Result:
    app = _user_app(ctx, params)
    listing = _app_data(state_of(ctx), app.resource_id).plane.conversations.list_messages(
        _user(ctx),
        params["conversationId"],
        max_results=params.get("maxResults"),
        next_token=params.get("nextToken"),
    )
    return {
        "messages": [
            {
                "messageId": m.message_id,
                "body": m.body,
                "time": m.time,
                "type": m.type.value,
                "sourceAttribution": [s.to_wire() for s in m.source_attribution],
            }
            for m in listing.items
        ],
        "nextToken": listing.next_token,
    }


@registry.operation("DeleteConversation", access=Access.USER)
def delete_conversation(ctx: OperationContext, params: Params) -> Result:
    app = _user_app(ctx, params)
    plane = _app_data(state_of(ctx), app.resource_id).plane
    plane.conversations.delete_conversation(_user(ctx), params["conversationId"])
    plane.attachments.drop_conversation(_user(ctx), params["conversationId"])
    return {}


@registry.operation("PutFeedback", access=Access.USER)
def put_feedback(ctx: OperationContext, params: Params) -> Result:
    from qbizfed.local.qbusiness.conversations import Feedback

    app = _user_app(ctx, params)
    feedback = Feedback.from_wire(params.get("messageUsefulness"), params.get("messageCopiedAt"))
    _app_data(state_of(ctx), app.resource_id).plane.conversations.put_feedback(
        _user(ctx), params["conversationId"], params["messageId"], feedback
    )
    return {}


def _confidence(coverage: float) -> str:
    if coverage >= 0.9:
        return "VERY_HIGH"
    if coverage >= 0.7:
        return "HIGH"
    if coverage >= 0.5:
        return "MEDIUM"
    return "LOW"


def _attribute_wire(attribute: DocumentAttribute) -> Result:
    value = attribute.value
    wire: Result = {}
    if value.string_value is not None:
        wire["stringValue"] = value.string_value
    elif value.string_list_value is not None:
        wire["stringListValue"] = list(value.string_list_value)
    elif value.long_value is not None:
        wire["longValue"] = value.long_value
    else:
        wire["dateValue"] = value.date_value
    return {"name": attribute.name, "value": wire}


MAX_RELEVANT_CONTENT = 100


@registry.operation("SearchRelevantContent", access=Access.USER)
def search_relevant_content(ctx: OperationContext, params: Params) -> Result:
    """Passages the user may see, from the retriever's native index, best first."""
    app = _user_app(ctx, params)
    retriever = get_child(
        ctx, app.resource_id, "retriever", params["contentSource"]["retriever"]["retrieverId"]
    )
    native = (retriever.attrs.get("configuration") or {}).get("nativeIndexConfiguration")
    if not native:
        raise ValidationError(
            "SearchRelevantContent in qbizfed local needs a NATIVE_INDEX retriever.",
            fields=[("contentSource.retriever.retrieverId", "Member must name a native retriever")],
        )
    index = get_child(ctx, app.resource_id, "index", native["indexId"])
    filter_raw = params.get("attributeFilter")
    hits = (
        _app_data(state_of(ctx), app.resource_id)
        .plane.index(index.resource_id)
        .search(
            _user(ctx),
            str(params["queryText"]),
            attribute_filter=AttributeFilter.from_wire(filter_raw) if filter_raw else None,
            k=MAX_RELEVANT_CONTENT,
        )
    )
    items: list[Result] = []
    for hit in hits:
        doc = hit.document
        item: Result = {
            "content": hit.passage[:2048],
            "documentId": doc.document_id,
            "documentTitle": doc.title or doc.document_id,
            "documentUri": doc.url,
            "scoreAttributes": {"scoreConfidence": _confidence(hit.coverage)},
        }
        if doc.attributes:
            item["documentAttributes"] = [_attribute_wire(a) for a in doc.attributes]
        items.append(item)
    chunk, token = page(
        items,
        scope="SearchRelevantContent:"
        + hashlib.sha256(
            f"{retriever.resource_id}\n{_user(ctx)}\n{params['queryText']}".encode()
        ).hexdigest()[:32],
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=MAX_RELEVANT_CONTENT,
    )
    return {"relevantContent": chunk, "nextToken": token}


# ---------------------------------------------------------------------------- documents' content


def document_for(state: EmulatorState, claims: LinkClaims) -> Content | None:
    """A document's content if the claims' user may see it now (None otherwise)."""
    data = state.extensions.get(claims.application_id)
    if not isinstance(data, _AppData) or claims.index_id not in data.plane.index_ids():
        return None
    index = data.plane.index(claims.index_id)
    document = index.documents.get(claims.document_id)
    if document is None or not index.permissions.may_see(
        claims.document_id, index.identity(claims.user_id)
    ):
        return None
    if claims.output_format == "EXTRACTED":
        return document.text.encode(), "text/plain"
    with state.lock:
        stored = data.book(claims.index_id).document_content.get(claims.document_id)
    return stored if stored is not None else (document.text.encode(), "text/plain")


@registry.operation("GetDocumentContent", access=Access.USER)
def get_document_content(ctx: OperationContext, params: Params) -> Result:
    """A presigned URL for a document the user may see (the same ACL as retrieval)."""
    app = _user_app(ctx, params)
    index = get_child(ctx, app.resource_id, "index", params["indexId"])
    document_id = str(params["documentId"])
    claims = LinkClaims(
        application_id=app.resource_id,
        index_id=index.resource_id,
        document_id=document_id,
        user_id=_user(ctx),
        output_format=str(params.get("outputFormat") or "RAW"),
        expires=expiry(ctx.now),
    )
    found = document_for(state_of(ctx), claims)
    source = params.get("dataSourceId")
    if found is None or (source is not None and not _from_source(ctx, claims, source)):
        raise denied(document_id)
    return {"presignedUrl": presigned_url(ctx, claims), "mimeType": found[1]}


def _from_source(ctx: OperationContext, claims: LinkClaims, data_source_id: str) -> bool:
    data = _app_data(state_of(ctx), claims.application_id)
    document = data.plane.index(claims.index_id).documents.get(claims.document_id)
    return document is not None and document.data_source_id == data_source_id
