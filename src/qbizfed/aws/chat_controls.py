"""What an application's chat controls let its users do (GetChatControlsConfiguration).

The chat page and ``qbizfed chat`` read these to decide what to offer: a creator-mode
toggle only when ``creatorModeControl`` is ENABLED, and the response scope
(``ENTERPRISE_CONTENT_ONLY``: answers only from the company's documents;
``EXTENDED_KNOWLEDGE_ENABLED``: the model's general knowledge too). Blocked phrases and
topics are enforced by the service, which answers with the configured message; the
interfaces show that message as the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCOPE_LABELS = {
    "ENTERPRISE_CONTENT_ONLY": "Answers come only from your company's documents.",
    "EXTENDED_KNOWLEDGE_ENABLED": "Answers may use general knowledge as well as your "
    "company's documents.",
}


@dataclass(frozen=True)
class ChatControls:
    """The parts of GetChatControlsConfiguration an interface acts on."""

    response_scope: str
    creator_mode_allowed: bool
    topics: tuple[str, ...] = ()
    blocked_phrase_count: int = 0

    @property
    def scope_label(self) -> str:
        """A sentence telling the user where answers come from."""
        return SCOPE_LABELS.get(self.response_scope, f"Response scope: {self.response_scope}")

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> ChatControls:
        creator = (raw.get("creatorModeConfiguration") or {}).get("creatorModeControl")
        return cls(
            response_scope=str(raw.get("responseScope") or "ENTERPRISE_CONTENT_ONLY"),
            creator_mode_allowed=creator == "ENABLED",
            topics=tuple(str(t.get("name", "")) for t in raw.get("topicConfigurations") or []),
            blocked_phrase_count=len((raw.get("blockedPhrases") or {}).get("blockedPhrases") or []),
        )

    @classmethod
    def default(cls) -> ChatControls:
        """What to assume when the controls cannot be read: nothing extra offered."""
        return cls(response_scope="ENTERPRISE_CONTENT_ONLY", creator_mode_allowed=False)
