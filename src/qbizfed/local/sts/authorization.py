"""May this federated caller assume this role (and tag the session, and set a source
identity)? The role's trust policy decides, evaluated with the request's context.

AWS evaluates ``sts:TagSession`` (when the IdP passes session tags) and
``sts:SetSourceIdentity`` (when it passes a source identity) as separate actions
against the same trust policy and context; each must be allowed on its own.
"""

from __future__ import annotations

from qbizfed.iam.conditions import PolicyError, RequestContext
from qbizfed.local.moto_backend import RoleView
from qbizfed.local.sts.refusal import access_denied
from qbizfed.local.sts.trust_policy import Decision, FederatedRequest, TrustPolicy


def _decide(policy: TrustPolicy, provider_arn: str, action: str, context: RequestContext) -> bool:
    request = FederatedRequest(provider_arn=provider_arn, action=action, context=context)
    return policy.decide(request) is Decision.ALLOW


def authorize_federation(
    *,
    role: RoleView,
    provider_arn: str,
    action: str,
    context: RequestContext,
    passes_tags: bool,
    passes_source_identity: bool,
) -> None:
    """Return if the trust policy allows everything the call needs; else raise AccessDenied."""
    try:
        policy = TrustPolicy.parse(role.trust_policy)
        if not _decide(policy, provider_arn, action, context):
            raise access_denied(f"Not authorized to perform {action}")
        for needed, wanted in (
            ("sts:TagSession", passes_tags),
            ("sts:SetSourceIdentity", passes_source_identity),
        ):
            if wanted and not _decide(policy, provider_arn, needed, context):
                raise access_denied(
                    f"User: {provider_arn} is not authorized to perform: {needed} on resource: "
                    f"{role.arn} because the role's trust policy does not allow {needed}"
                )
    except PolicyError as exc:
        # IAM would not have stored this policy; refuse rather than guess.
        raise access_denied(f"Not authorized to perform {action}") from exc
