"""The qbizfed chat library: identity-aware Q Business conversations, whole or streamed.

>>> import boto3
>>> from qbizfed.chat import ChatClient
>>> chat = ChatClient.from_session(boto3.Session(profile_name="alice"), "app-id")
>>> conversation = chat.conversation()
>>> turn = conversation.ask("What is our travel policy?")
>>> turn.text, [c.title for c in turn.citations]
>>> for event in conversation.stream("And for trains?"):  # TextDelta..., then the ChatTurn
...     print(event.text if isinstance(event, TextDelta) else "", end="")
>>> doc = chat.document_content(turn.citations[0])   # bytes + MIME type, ACL-checked
>>> chat.list_attachments(turn.conversation_id), chat.chat_controls().creator_mode_allowed
"""

from qbizfed.aws.chat import (
    Attachment,
    ChatClient,
    ChatError,
    ChatTurn,
    Citation,
    Conversation,
    ConversationAttachment,
    ConversationSummary,
    HistoryMessage,
    RelevantPassage,
)
from qbizfed.aws.chat_controls import ChatControls
from qbizfed.aws.chat_stream import AsyncChatStream, ChatStream, StreamEvent, TextDelta
from qbizfed.aws.document_content import DocumentContent

__all__ = [
    "AsyncChatStream",
    "Attachment",
    "ChatClient",
    "ChatControls",
    "ChatError",
    "ChatStream",
    "ChatTurn",
    "Citation",
    "Conversation",
    "ConversationAttachment",
    "ConversationSummary",
    "DocumentContent",
    "HistoryMessage",
    "RelevantPassage",
    "StreamEvent",
    "TextDelta",
]
