"""Chat controls of an application: Update/GetChatControlsConfiguration.

Stored per application and returned as AWS returns them (defaults: response scope
ENTERPRISE_CONTENT_ONLY, creator mode DISABLED, orchestration DISABLED, no blocked
phrases, no topics). GetChatControlsConfiguration is readable by the administrator
and by federated users (the web experience role allows it).

Enforced on every chat turn (ChatSync now, streaming chat through the same
:mod:`qbizfed.local.qbusiness.turn_rules` hook):

* blocked phrases: case-insensitive substring of the user's message or of the composed
  answer -> the answer is ``blockedPhrases.systemMessageOverride`` (or
  :data:`DEFAULT_BLOCKED_MESSAGE`, *unconfirmed* wording) with no sources;
* topics (an *emulator approximation* of Q's model-based topic detection): a message
  is on a topic when it shares at least half of the content words of one of the
  topic's ``exampleChatMessages`` (case-folded, common stop words ignored). The
  first rule of that topic that applies to the user (``includedUsersAndGroups``
  empty or naming the user or one of their PutGroup groups, and
  ``excludedUsersAndGroups`` not) decides: ``CONTENT_BLOCKER_RULE`` answers with its
  ``contentBlockerRule.systemMessageOverride``; ``CONTENT_RETRIEVAL_RULE`` limits
  retrieval to its ``eligibleDataSources`` (index id, and data source id when given);
* creator mode: ``chatMode=CREATOR_MODE`` while ``creatorModeControl`` is DISABLED
  -> ValidationException (*unconfirmed* code and wording).

Response scope and orchestration are stored and reported only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from qbizfed.local.qbusiness.api_errors import ValidationError
from qbizfed.local.qbusiness.operations import (
    Access,
    OperationContext,
    OperationRegistry,
    Params,
    Result,
)
from qbizfed.local.qbusiness.pagination import page
from qbizfed.local.qbusiness.resource_lookup import get_application, state_of

registry = OperationRegistry()

_KEY = "chatControls"
DEFAULT_BLOCKED_MESSAGE = "This message was blocked by the application's chat controls."


def blocked_reply(app_attrs: dict[str, Any], *texts: str) -> str | None:
    """The reply that replaces an answer when any text contains a blocked phrase."""
    blocked = (app_attrs.get(_KEY) or {}).get("blockedPhrases") or {}
    phrases = [p.casefold() for p in blocked.get("blockedPhrases") or [] if p]
    folded = [t.casefold() for t in texts]
    if any(p in t for p in phrases for t in folded):
        return str(blocked.get("systemMessageOverride") or DEFAULT_BLOCKED_MESSAGE)
    return None


TOPIC_MATCH_SHARE = 0.5


@dataclass(frozen=True)
class TopicDecision:
    """What a matching topic rule does to a turn."""

    topic: str
    blocked_message: str | None = None
    """CONTENT_BLOCKER_RULE: the reply instead of an answer."""
    eligible_sources: tuple[tuple[str, str | None], ...] | None = None
    """CONTENT_RETRIEVAL_RULE: (indexId, dataSourceId or None) retrieval may use."""


def _stored(app_attrs: dict[str, Any]) -> dict[str, Any]:
    stored = app_attrs.get(_KEY)
    return stored if isinstance(stored, dict) else {}


def check_chat_mode(app_attrs: dict[str, Any], chat_mode: str | None) -> None:
    """Refuse CREATOR_MODE when the application's creator mode is disabled."""
    if chat_mode != "CREATOR_MODE":
        return
    control = (_stored(app_attrs).get("creatorModeConfiguration") or {}).get(
        "creatorModeControl", "DISABLED"
    )
    if control != "ENABLED":
        raise ValidationError(
            "Creator mode is disabled for this application. Ask your administrator to "
            "enable it, or chat in RETRIEVAL_MODE.",
            fields=[("chatMode", "CREATOR_MODE is not enabled for this application")],
        )


def _on_topic(message_words: set[str], topic: dict[str, Any]) -> bool:
    from qbizfed.local.qbusiness.attachments import words

    for example in topic.get("exampleChatMessages") or []:
        wanted = words(str(example))
        if wanted and len(message_words & wanted) >= TOPIC_MATCH_SHARE * len(wanted):
            return True
    return False


def _names(principals: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    principals = principals or {}
    users = {str(u).casefold() for u in principals.get("userIds") or []}
    groups = {str(g).casefold() for g in principals.get("userGroups") or []}
    return users, groups


def _applies(rule: dict[str, Any], user_id: str, groups: Iterable[str]) -> bool:
    user = user_id.casefold()
    mine = {g.casefold() for g in groups}
    inc_users, inc_groups = _names(rule.get("includedUsersAndGroups"))
    exc_users, exc_groups = _names(rule.get("excludedUsersAndGroups"))
    if user in exc_users or mine & exc_groups:
        return False
    if not inc_users and not inc_groups:
        return True
    return user in inc_users or bool(mine & inc_groups)


def topic_decision(
    app_attrs: dict[str, Any],
    user_id: str,
    message: str,
    groups_of: Callable[[str], Iterable[str]],
) -> TopicDecision | None:
    """The first topic rule the message and the user fall under, if any."""
    from qbizfed.local.qbusiness.attachments import words

    message_words = words(message)
    for topic in _stored(app_attrs).get("topicConfigurations") or []:
        if not _on_topic(message_words, topic):
            continue
        for rule in topic.get("rules") or []:
            if not _applies(rule, user_id, groups_of(user_id)):
                continue
            config = rule.get("ruleConfiguration") or {}
            if rule.get("ruleType") == "CONTENT_BLOCKER_RULE":
                override = (config.get("contentBlockerRule") or {}).get("systemMessageOverride")
                return TopicDecision(topic["name"], blocked_message=str(
                    override or DEFAULT_BLOCKED_MESSAGE))  # fmt: skip
            if rule.get("ruleType") == "CONTENT_RETRIEVAL_RULE":
                sources = (config.get("contentRetrievalRule") or {}).get("eligibleDataSources")
                return TopicDecision(
                    topic["name"],
                    eligible_sources=tuple(
                        (str(s.get("indexId")), s.get("dataSourceId")) for s in sources or []
                    ),
                )
    return None


def _controls(attrs: dict[str, Any]) -> dict[str, Any]:
    stored = attrs.get(_KEY)
    if not isinstance(stored, dict):
        stored = {
            "responseScope": "ENTERPRISE_CONTENT_ONLY",
            "orchestrationConfiguration": {"control": "DISABLED"},
            "blockedPhrases": {"blockedPhrases": []},
            "topicConfigurations": [],
            "creatorModeConfiguration": {"creatorModeControl": "DISABLED"},
        }
        attrs[_KEY] = stored
    return stored


@registry.operation("UpdateChatControlsConfiguration")
def update_chat_controls_configuration(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        app = get_application(ctx, params["applicationId"])
        controls = _controls(app.attrs)
        for name in ("responseScope", "orchestrationConfiguration", "creatorModeConfiguration",
                     "hallucinationReductionConfiguration"):  # fmt: skip
            if params.get(name) is not None:
                controls[name] = params[name]
        update = params.get("blockedPhrasesConfigurationUpdate") or {}
        blocked = controls["blockedPhrases"]
        phrases = [p for p in blocked["blockedPhrases"] if p not in (
            update.get("blockedPhrasesToDelete") or [])]  # fmt: skip
        for phrase in update.get("blockedPhrasesToCreateOrUpdate") or []:
            if phrase not in phrases:
                phrases.append(phrase)
        blocked["blockedPhrases"] = phrases
        if update.get("systemMessageOverride") is not None:
            blocked["systemMessageOverride"] = update["systemMessageOverride"]
        deleted = {t["name"] for t in params.get("topicConfigurationsToDelete") or []}
        topics = {t["name"]: t for t in controls["topicConfigurations"] if t["name"] not in deleted}
        for topic in params.get("topicConfigurationsToCreateOrUpdate") or []:
            topics[topic["name"]] = topic
        controls["topicConfigurations"] = list(topics.values())
        app.updated_at = ctx.now
    return {}


@registry.operation("GetChatControlsConfiguration", access=Access.READ)
def get_chat_controls_configuration(ctx: OperationContext, params: Params) -> Result:
    app = get_application(ctx, params["applicationId"])
    with state_of(ctx).lock:
        controls = dict(_controls(app.attrs))
    topics, token = page(
        controls.pop("topicConfigurations"),
        scope=f"GetChatControlsConfiguration:{app.resource_id}",
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=50,
    )
    return {**controls, "topicConfigurations": topics, "nextToken": token}
