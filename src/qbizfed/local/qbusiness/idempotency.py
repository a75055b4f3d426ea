"""``clientToken`` idempotency of the emulator's create and chat operations.

The same token with the same input returns the first result; the same token with
different input is a ``ConflictException``. Shared by the control plane (resource
creation) and the data plane (chat turns, subscriptions).
"""

from __future__ import annotations

from collections.abc import Callable

from qbizfed.local.qbusiness.api_errors import ConflictError
from qbizfed.local.qbusiness.operations import OperationContext, Params, Result
from qbizfed.local.qbusiness.resource_lookup import state_of
from qbizfed.local.qbusiness.state import fingerprint


def idempotent(
    ctx: OperationContext,
    params: Params,
    scope: str,
    create: Callable[[], Result],
    *,
    exclusive: bool = True,
) -> Result:
    """Run ``create`` once per client token; replay its result for the same input.

    ``exclusive`` runs ``create`` under the state lock (resource creation: strictly
    once). Slow work such as a chat turn passes ``exclusive=False``: it runs outside
    the lock and the first result stored for the token wins.
    """
    token = params.get("clientToken")
    if not token:
        return create()
    state = state_of(ctx)
    key = (ctx.account_id, ctx.region, ctx.operation, scope, str(token))
    digest = fingerprint(params)

    def replay() -> Result | None:
        seen = state.idempotency.get(key)
        if seen is None:
            return None
        if seen[0] != digest:
            raise ConflictError(
                "The client token was already used with a different request. "
                "Use a new client token for a new request.",
                resource_id=str(token),
                resource_type="ClientToken",
            )
        return dict(seen[1])

    with state.lock:
        earlier = replay()
        if earlier is not None:
            return earlier
        if exclusive:
            result = create()
            state.idempotency[key] = (digest, dict(result))
            return result
    result = create()
    with state.lock:
        earlier = replay()
        if earlier is not None:
            return earlier
        state.idempotency[key] = (digest, dict(result))
    return result
