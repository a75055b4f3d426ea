"""Subscriptions: who may use an application, and the first-call auto-subscription.

Q Business's subscription principal is an Identity Center user or group id (a UUID
pattern). IAM-federated users have no such id, so the emulator derives one from the
user's email: :func:`user_id_for_email` (a UUIDv5, stable and case-insensitive). An
administrator subscribes an IAM-federated user with ``CreateSubscription(principal=
{"user": user_id_for_email(email)})``.

A user's first identity-aware call without a subscription fails with
``AccessDeniedException`` "User does not have a subscription for the given
application." — and, when the application's ``autoSubscribe`` is ENABLED, that very
call subscribes the user, so the retry succeeds (docs/aws-facts.md).

Upgrades (Q_LITE -> Q_BUSINESS) apply at once; downgrades and cancellations take
effect at the end of the month, so ``currentSubscription`` is kept and only
``nextSubscription`` changes (a cancelled subscription still grants access).
"""

from __future__ import annotations

import uuid

from qbizfed.local.qbusiness.api_errors import AccessDeniedError, ConflictError, NotFoundError
from qbizfed.local.qbusiness.idempotency import idempotent
from qbizfed.local.qbusiness.operations import OperationContext, OperationRegistry, Params, Result
from qbizfed.local.qbusiness.pagination import page
from qbizfed.local.qbusiness.resource_lookup import arn, get_application, state_of
from qbizfed.local.qbusiness.state import Resource, Subscription, new_id

registry = OperationRegistry()

NO_SUBSCRIPTION = "User does not have a subscription for the given application."
_EMAIL_NAMESPACE = uuid.UUID("6f1c3f52-8a53-4c1e-9a55-7a0c2e1b9d11")
_RANK = {"Q_LITE": 1, "Q_BUSINESS": 2}


def user_id_for_email(email: str) -> str:
    """The subscription principal id the emulator uses for an IAM-federated user."""
    return str(uuid.uuid5(_EMAIL_NAMESPACE, email.strip().lower()))


def _view(sub: Subscription) -> Result:
    return {
        "subscriptionId": sub.subscription_id,
        "subscriptionArn": sub.arn,
        "principal": dict(sub.principal),
        "currentSubscription": {"type": sub.current_type},
        "nextSubscription": {"type": sub.next_type} if sub.next_type else None,
    }


def _of_app(ctx: OperationContext, app_id: str) -> list[Subscription]:
    subs = [s for s in state_of(ctx).subscriptions.values() if s.application_id == app_id]
    return sorted(subs, key=lambda s: (s.started_at, s.subscription_id))


def _add(ctx: OperationContext, app_id: str, principal: dict[str, str], kind: str) -> Subscription:
    sid = new_id()
    sub = Subscription(
        subscription_id=sid,
        arn=arn(ctx, f"application/{app_id}/subscription/{sid}"),
        application_id=app_id,
        principal=principal,
        current_type=kind,
        next_type=kind,
        started_at=ctx.now,
    )
    state_of(ctx).subscriptions[sid] = sub
    return sub


@registry.operation("CreateSubscription")
def create_subscription(ctx: OperationContext, params: Params) -> Result:
    app_id = params["applicationId"]
    principal = {k: str(v) for k, v in params["principal"].items() if v}

    def create() -> Result:
        get_application(ctx, app_id)
        for existing in _of_app(ctx, app_id):
            if existing.principal == principal:
                raise ConflictError(
                    "The principal already has a subscription for this application. "
                    "Use UpdateSubscription to change it.",
                    resource_id=existing.subscription_id,
                    resource_type="AWS::QBusiness::Subscription",
                )
        result = _view(_add(ctx, app_id, principal, params["type"]))
        result.pop("principal")
        return result

    with state_of(ctx).lock:
        return idempotent(ctx, params, app_id, create)


@registry.operation("ListSubscriptions")
def list_subscriptions(ctx: OperationContext, params: Params) -> Result:
    app_id = params["applicationId"]
    get_application(ctx, app_id)
    chunk, token = page(
        _of_app(ctx, app_id),
        scope=f"ListSubscriptions:{app_id}",
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=100,
    )
    return {"subscriptions": [_view(s) for s in chunk], "nextToken": token}


def _subscription(ctx: OperationContext, app_id: str, sid: str) -> Subscription:
    get_application(ctx, app_id)
    sub = state_of(ctx).subscriptions.get(sid)
    if sub is None or sub.application_id != app_id:
        raise NotFoundError(
            f"The subscription {sid} was not found in application {app_id}.",
            resource_id=sid,
            resource_type="AWS::QBusiness::Subscription",
        )
    return sub


@registry.operation("UpdateSubscription")
def update_subscription(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        sub = _subscription(ctx, params["applicationId"], params["subscriptionId"])
        wanted = str(params["type"])
        if _RANK[wanted] > _RANK[sub.current_type]:
            sub.current_type = wanted  # upgrades apply at once
        sub.next_type = wanted
        sub.cancelled = False
        result = _view(sub)
    result.pop("principal")
    result.pop("subscriptionId")
    return result


@registry.operation("CancelSubscription")
def cancel_subscription(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        sub = _subscription(ctx, params["applicationId"], params["subscriptionId"])
        sub.cancelled = True
        sub.next_type = None
        result = _view(sub)
    result.pop("principal")
    result.pop("subscriptionId")
    return result


def ensure_subscribed(ctx: OperationContext, app: Resource, email: str) -> None:
    """Refuse an unsubscribed user; auto-subscribe them when the application allows it.

    The refused call itself creates the subscription (when ENABLED), as AWS does,
    so the client's retry succeeds.
    """
    user_id = user_id_for_email(email)
    with state_of(ctx).lock:
        for sub in _of_app(ctx, app.resource_id):
            if sub.principal.get("user") == user_id:
                return
        auto = app.attrs.get("autoSubscriptionConfiguration") or {}
        if auto.get("autoSubscribe") == "ENABLED":
            kind = str(auto.get("defaultSubscriptionType") or "Q_BUSINESS")
            _add(ctx, app.resource_id, {"user": user_id}, kind)
    raise AccessDeniedError(NO_SUBSCRIPTION)
