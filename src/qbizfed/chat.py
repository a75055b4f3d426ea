"""The qbizfed chat library: identity-aware Q Business conversations over ChatSync.

>>> import boto3
>>> from qbizfed.chat import ChatClient
>>> chat = ChatClient.from_session(boto3.Session(profile_name="alice"), "app-id")
>>> conversation = chat.conversation()
>>> turn = conversation.ask("What is our travel policy?")
>>> turn.text, [c.title for c in turn.citations]
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

__all__ = [
    "Attachment",
    "ChatClient",
    "ChatError",
    "ChatTurn",
    "Citation",
    "Conversation",
    "ConversationSummary",
    "HistoryMessage",
    "RelevantPassage",
]
