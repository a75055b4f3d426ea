"""Chat controls of an application: Update/GetChatControlsConfiguration.

Stored per application and returned as AWS returns them (defaults: response scope
ENTERPRISE_CONTENT_ONLY, creator mode DISABLED, orchestration DISABLED, no blocked
phrases, no topics). GetChatControlsConfiguration is readable by the administrator
and by federated users (the web experience role allows it).

Enforced on ChatSync: blocked phrases (case-insensitive, in the user's message or in
the composed answer) replace the answer with ``systemMessageOverride`` (or
:data:`DEFAULT_BLOCKED_MESSAGE`, *unconfirmed* wording) and no sources. Response
scope, topics, creator mode and orchestration are stored and reported only.
"""

from __future__ import annotations

from typing import Any

from qbizfed.local.qbusiness.control_plane import get_application, state_of
from qbizfed.local.qbusiness.operations import (
    Access,
    OperationContext,
    OperationRegistry,
    Params,
    Result,
)
from qbizfed.local.qbusiness.pagination import page

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
