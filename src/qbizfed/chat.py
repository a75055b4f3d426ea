"""The qbizfed chat library: identity-aware Q Business conversations, whole or streamed.

>>> import boto3
>>> from qbizfed.chat import ChatClient
>>> chat = ChatClient.from_session(boto3.Session(profile_name="alice"), "app-id")
>>> conversation = chat.conversation()
>>> turn = conversation.ask("What is our travel policy?")
>>> turn.text, [c.title for c in turn.citations]
>>> for event in conversation.stream("And for trains?"):  # TextDelta..., then the ChatTurn
...     print(event.text if isinstance(event, TextDelta) else "", end="")
"""

from qbizfed.aws.chat import (
    Attachment,
    ChatClient,
    ChatError,
    ChatTurn,
    Citation,
    Conversation,
    ConversationSummary,
    HistoryMessage,
    RelevantPassage,
)
from qbizfed.aws.chat_stream import AsyncChatStream, ChatStream, StreamEvent, TextDelta

__all__ = [
    "AsyncChatStream",
    "Attachment",
    "ChatClient",
    "ChatError",
    "ChatStream",
    "ChatTurn",
    "Citation",
    "Conversation",
    "ConversationSummary",
    "HistoryMessage",
    "RelevantPassage",
    "StreamEvent",
    "TextDelta",
]
