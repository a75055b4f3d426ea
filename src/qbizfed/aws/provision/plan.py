"""Plan: compare the desired stack with what exists, resource by resource (pure).

Each ``diff_*`` function takes the config and an :class:`ObservedStack` and returns one
:class:`Change`. :data:`STEPS` lists them in dependency order; ``apply`` walks the
same list, so what ``plan`` shows is what ``apply`` does.

Some settings of an application cannot change in place (``identityType``, the IAM
identity provider, ``clientIdsForOIDC``: UpdateApplication has no such fields); such a
difference is *blocked*: apply refuses and says to destroy and re-apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import ObservedRole, ObservedStack
from qbizfed.policies import policies_equal
from qbizfed.settings.stack import Mode, StackConfig


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NONE = "no change"
    BLOCKED = "blocked"
    DELETE = "delete"
    KEEP = "keep"
    """Destroy leaves it: not owned by the stack, or shared by the account."""


class Resource(StrEnum):
    SERVICE_ROLE = "service-linked role"
    PROVIDER = "IAM identity provider"
    APPLICATION = "application"
    INDEX = "index"
    RETRIEVER = "retriever"
    WEB_ROLE = "web experience role"
    SECRETS_ROLE = "secrets role"
    WEB_EXPERIENCE = "web experience"
    AUTO_SUBSCRIPTION = "auto-subscription"


@dataclass(frozen=True)
class Change:
    resource: Resource
    name: str
    action: Action
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"resource": self.resource.value, "name": self.name,
                "action": self.action.value, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action not in (Action.NONE, Action.KEEP))

    @property
    def blocked(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is Action.BLOCKED)

    @property
    def is_empty(self) -> bool:
        return not self.pending

    def as_dict(self) -> dict[str, object]:
        return {"changes": [c.as_dict() for c in self.changes],
                "pending": len(self.pending)}


def _unchanged(resource: Resource, name: str, *reasons: str) -> Change:
    return Change(resource, name, Action.NONE, tuple(reasons))


def diff_service_role(config: StackConfig, observed: ObservedStack) -> Change:
    name = "AWSServiceRoleForQBusiness"
    if config.service_role_arn:
        return _unchanged(Resource.SERVICE_ROLE, config.service_role_arn, "configured")
    if observed.service_role_arn:
        return _unchanged(Resource.SERVICE_ROLE, name, "exists (shared by the account)")
    if config.ensure_service_linked_role:
        return Change(Resource.SERVICE_ROLE, name, Action.CREATE,
                      ("missing; created once per account and never deleted by destroy",))
    return Change(Resource.SERVICE_ROLE, name, Action.BLOCKED,
                  ("missing and ensure_service_linked_role = false",))


def diff_provider(config: StackConfig, observed: ObservedStack) -> Change:
    prov = observed.provider
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        name = config.oidc.issuer
        if prov is None:
            return Change(Resource.PROVIDER, name, Action.CREATE)
        if config.oidc.client_id not in prov.client_ids:
            shared = "" if prov.owned else " (provider shared with others: only adds it)"
            return Change(Resource.PROVIDER, name, Action.UPDATE,
                          (f"client ID not in its audience list{shared}",))
        return _unchanged(Resource.PROVIDER, name,
                          *(() if prov.owned else ("shared, not owned: destroy keeps it",)))
    assert config.saml is not None
    name = StackNames(config.name).saml_provider
    if prov is None:
        return Change(Resource.PROVIDER, name, Action.CREATE)
    if not prov.owned:
        return Change(Resource.PROVIDER, name, Action.BLOCKED,
                      ("a SAML provider with this name exists but is not tagged for this stack",))
    if (prov.metadata_document or "").strip() != config.saml.metadata_document.strip():
        return Change(Resource.PROVIDER, name, Action.UPDATE, ("metadata document differs",))
    return _unchanged(Resource.PROVIDER, name)


def diff_application(config: StackConfig, observed: ObservedStack) -> Change:
    name = StackNames(config.name).application
    app = observed.application
    if app is None:
        return Change(Resource.APPLICATION, name, Action.CREATE)
    blocked = []
    want_type = desired.identity_type(config)
    if app.identity_type != want_type:
        blocked.append(f"identityType is {app.identity_type}, wants {want_type}")
    want_provider = desired.identity_provider_arn(config, observed)
    if app.provider_arn != want_provider:
        blocked.append(f"iamIdentityProviderArn is {app.provider_arn}, wants {want_provider}")
    if config.oidc is not None and config.oidc.client_id not in app.client_ids:
        blocked.append("clientIdsForOIDC does not contain the configured client ID")
    if blocked:
        return Change(Resource.APPLICATION, name, Action.BLOCKED, tuple(
            [*blocked, "these cannot change in place: `qbizfed admin destroy`, then `apply`"]))
    want_role = desired.service_role_arn(config, observed)
    if app.role_arn != want_role:
        return Change(Resource.APPLICATION, name, Action.UPDATE,
                      (f"roleArn is {app.role_arn}, wants {want_role}",))
    return _unchanged(Resource.APPLICATION, name, f"id {app.id}, {app.status}")


def diff_index(config: StackConfig, observed: ObservedStack) -> Change:
    name = StackNames(config.name).index
    if observed.index is None:
        return Change(Resource.INDEX, name, Action.CREATE)
    return _unchanged(Resource.INDEX, name, f"id {observed.index.id}, {observed.index.status}")


def diff_retriever(config: StackConfig, observed: ObservedStack) -> Change:
    name = StackNames(config.name).retriever
    retriever = observed.retriever
    if retriever is None:
        return Change(Resource.RETRIEVER, name, Action.CREATE)
    if observed.index is not None and retriever.index_id != observed.index.id:
        return Change(Resource.RETRIEVER, name, Action.UPDATE,
                      (f"uses index {retriever.index_id}, wants {observed.index.id}",))
    return _unchanged(Resource.RETRIEVER, name, f"id {retriever.id}, {retriever.status}")


def _diff_role(resource: Resource, name: str, role: ObservedRole | None,
               trust: dict[str, object], permission: dict[str, object]) -> Change:
    if role is None:
        return Change(resource, name, Action.CREATE)
    if not role.owned:
        return Change(resource, name, Action.BLOCKED,
                      ("a role with this name exists but is not tagged for this stack",))
    reasons = []
    if not policies_equal(role.trust_policy, trust):
        reasons.append("trust policy differs")
    if role.permission_policy is None:
        reasons.append("permission policy missing")
    elif not policies_equal(role.permission_policy, permission):
        reasons.append("permission policy differs")
    if reasons:
        return Change(resource, name, Action.UPDATE, tuple(reasons))
    return _unchanged(resource, name)


def diff_web_role(config: StackConfig, observed: ObservedStack) -> Change:
    return _diff_role(Resource.WEB_ROLE, StackNames(config.name).web_role, observed.web_role,
                      desired.web_role_trust_policy(config, observed),
                      desired.web_role_permission_policy(config, observed))


def diff_secrets_role(config: StackConfig, observed: ObservedStack) -> Change:
    name = StackNames(config.name).secrets_role
    if config.mode is not Mode.OIDC:
        return _unchanged(Resource.SECRETS_ROLE, name, "not used with SAML")
    if observed.secret_arn is None:
        assert config.oidc is not None
        return Change(Resource.SECRETS_ROLE, name, Action.BLOCKED, (
            f"oidc.secret_id (AWS_SECRET_ID) {config.oidc.secret_id!r}: no such secret in "
            f"{config.region}; create it with the IdP client secret or fix the name/ARN",))
    return _diff_role(Resource.SECRETS_ROLE, name, observed.secrets_role,
                      desired.secrets_role_trust_policy(config, observed),
                      desired.secrets_role_permission_policy(config, observed))


def diff_web_experience(config: StackConfig, observed: ObservedStack) -> Change:
    name = f"{config.name} web experience"
    web = observed.web_experience
    if web is None:
        return Change(Resource.WEB_EXPERIENCE, name, Action.CREATE)
    reasons = []
    if observed.web_role is None or web.role_arn != observed.web_role.arn:
        reasons.append(f"roleArn is {web.role_arn}")
    if web.identity_provider_configuration != desired.web_identity_provider_configuration(
            config, observed):
        reasons.append("identity provider configuration differs")
    if reasons:
        return Change(Resource.WEB_EXPERIENCE, name, Action.UPDATE, tuple(reasons))
    return _unchanged(Resource.WEB_EXPERIENCE, name, f"{web.status}, {web.endpoint}")


def diff_auto_subscription(config: StackConfig, observed: ObservedStack) -> Change:
    want = config.auto_subscribe.value if config.auto_subscribe else None
    name = f"{'ENABLED, ' + want if want else 'DISABLED'}"
    app = observed.application
    if app is None:
        if want is None:
            return _unchanged(Resource.AUTO_SUBSCRIPTION, name)
        return Change(Resource.AUTO_SUBSCRIPTION, name, Action.CREATE,
                      ("set once the application is ACTIVE",))
    if want is None:
        if app.auto_subscribe == "ENABLED":
            return Change(Resource.AUTO_SUBSCRIPTION, name, Action.UPDATE, ("is ENABLED",))
        return _unchanged(Resource.AUTO_SUBSCRIPTION, name)
    if app.auto_subscribe != "ENABLED" or app.default_subscription_type != want:
        return Change(Resource.AUTO_SUBSCRIPTION, name, Action.UPDATE,
                      (f"is {app.auto_subscribe or 'unset'}/"
                       f"{app.default_subscription_type or 'unset'}",))
    return _unchanged(Resource.AUTO_SUBSCRIPTION, name)


Diff = Callable[[StackConfig, ObservedStack], Change]

STEPS: tuple[tuple[Resource, Diff], ...] = (
    (Resource.SERVICE_ROLE, diff_service_role),
    (Resource.PROVIDER, diff_provider),
    (Resource.APPLICATION, diff_application),
    (Resource.INDEX, diff_index),
    (Resource.RETRIEVER, diff_retriever),
    (Resource.WEB_ROLE, diff_web_role),
    (Resource.SECRETS_ROLE, diff_secrets_role),
    (Resource.WEB_EXPERIENCE, diff_web_experience),
    (Resource.AUTO_SUBSCRIPTION, diff_auto_subscription),
)


def make_plan(config: StackConfig, observed: ObservedStack) -> Plan:
    """What apply would do to bring the observed stack to the config."""
    return Plan(tuple(diff(config, observed) for _, diff in STEPS))
