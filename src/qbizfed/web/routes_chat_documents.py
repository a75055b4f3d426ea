"""The chat page's documents: open a cited source, delete an attached file.

``GET /chat/source/{conversation}/{message}/{n}`` opens citation ``n`` of an answer
in one of the signed-in user's conversations: the ids must have Q Business's shapes
(anything else is a 404 before any call), the citation is looked up in the user's
own ListMessages (so only sources Q Business cited to this user can be asked for),
and its content is fetched with the user's credentials by GetDocumentContent, which
checks the document's ACL again. The bytes are streamed back by
:func:`qbizfed.web.served_documents.document_response`; the presigned URL and the
credentials never reach the browser.

``POST /chat/{conversation}/attachments/{attachment}/delete`` (CSRF-checked) removes
a file from the conversation with DeleteAttachment.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from qbizfed.aws.chat import ChatClient, Citation
from qbizfed.errors import ConfigError, QbizfedError
from qbizfed.web.context import web_context
from qbizfed.web.csrf import verify_csrf
from qbizfed.web.routes_chat import (
    _blocking,
    _chat_path,
    _checked_id,
    _render_chat,
    _runtime,
    _signed_in,
    _to_signin,
)
from qbizfed.web.served_documents import document_response

router = APIRouter()

_ATTACHMENT_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
MAX_CITATION = 100


def _cited(client: ChatClient, conversation_id: str, message_id: str, number: int) -> Citation:
    for message in client.history(conversation_id):
        if message.message_id != message_id:
            continue
        for citation in message.citations:
            if citation.number == number and citation.can_open:
                return citation
    raise ConfigError(
        f"this conversation has no source [{number}] to open",
        remedy="open a source from the list under an answer",
    )


@router.get("/chat/source/{conversation_id}/{message_id}/{number}")
async def open_source(
    request: Request, conversation_id: str, message_id: str, number: str
) -> Response:
    conversation_id = _checked_id(conversation_id)
    message_id = _checked_id(message_id)
    if not number.isdigit() or not 0 < int(number) <= MAX_CITATION:
        raise HTTPException(404)
    who = await _signed_in(request)
    if who is None:
        return _to_signin(_chat_path(conversation_id))
    runtime = _runtime(request)
    try:
        content = await _blocking(
            lambda: (
                lambda client: client.document_content(
                    _cited(client, conversation_id, message_id, int(number))
                )
            )(runtime.client_for(who.user, who.credentials))
        )
    except QbizfedError as exc:
        return await _render_chat(request, who, conversation_id=conversation_id, error=exc)
    return document_response(content)


@router.post("/chat/{conversation_id}/attachments/{attachment_id}/delete")
async def delete_attachment(request: Request, conversation_id: str, attachment_id: str) -> Response:
    conversation_id = _checked_id(conversation_id)
    if not _ATTACHMENT_ID.match(attachment_id):
        raise HTTPException(404)
    ctx = web_context(request)
    await verify_csrf(request, await ctx.current_session(request),
                      public_url=ctx.settings.public_url)  # fmt: skip
    who = await _signed_in(request)
    if who is None:
        return _to_signin(_chat_path(conversation_id))
    runtime = _runtime(request)
    try:
        await _blocking(
            lambda: runtime.client_for(who.user, who.credentials).delete_attachment(
                conversation_id, attachment_id
            )
        )
    except QbizfedError as exc:
        return await _render_chat(request, who, conversation_id=conversation_id, error=exc)
    return RedirectResponse(
        f"{_chat_path(conversation_id)}?notice=detached#attachments", status_code=303
    )
