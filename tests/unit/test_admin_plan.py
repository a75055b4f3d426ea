"""Plan/diff logic over hand-built observed states (pure, no AWS)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.instructions import idp_instructions
from qbizfed.aws.provision.observed import (
    ObservedApplication,
    ObservedChild,
    ObservedProvider,
    ObservedRole,
    ObservedStack,
    ObservedWebExperience,
)
from qbizfed.aws.provision.plan import Action, Resource, make_plan
from qbizfed.aws.provision.status import status_rows
from qbizfed.settings.stack import StackConfig, config_from_mapping

ACCOUNT = "123456789012"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:idp-AbCdEf"


def oidc_config(**app: Any) -> StackConfig:
    return config_from_mapping({
        "name": "demo", "mode": "oidc", "region": "us-east-1", "account_id": ACCOUNT,
        "oidc": {"issuer_url": "https://idp.test/oauth2/default", "client_id": "client-1",
                 "secret_id": SECRET},
        "application": app,
    })


def up_to_date(config: StackConfig) -> ObservedStack:
    """A state in which every resource matches ``config``."""
    base = ObservedStack(
        account_id=ACCOUNT, secret_arn=SECRET,
        service_role_arn=f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
        "qbusiness.amazonaws.com/AWSServiceRoleForQBusiness",
        provider=ObservedProvider(arn=desired.provider_arn(config, ACCOUNT), owned=True,
                                  client_ids=("client-1",)),
    )
    app = ObservedApplication(
        id="app-1", arn=f"arn:aws:qbusiness:us-east-1:{ACCOUNT}:application/app-1",
        status="ACTIVE", identity_type="AWS_IAM_IDP_OIDC",
        provider_arn=base.provider.arn if base.provider else None, client_ids=("client-1",),
        role_arn=base.service_role_arn, auto_subscribe="ENABLED",
        default_subscription_type="Q_BUSINESS")
    state = replace(base, application=app,
                    index=ObservedChild(id="ix-1", arn="arn:ix", status="ACTIVE"),
                    retriever=ObservedChild(id="rt-1", arn="arn:rt", status="ACTIVE",
                                            index_id="ix-1"))
    state = replace(state, web_role=ObservedRole(
        name="qbizfed-demo-web", arn=f"arn:aws:iam::{ACCOUNT}:role/qbizfed-demo-web",
        trust_policy=desired.web_role_trust_policy(config, state),
        permission_policy=desired.web_role_permission_policy(config, state), owned=True))
    state = replace(state, secrets_role=ObservedRole(
        name="qbizfed-demo-secrets", arn=f"arn:aws:iam::{ACCOUNT}:role/qbizfed-demo-secrets",
        trust_policy=desired.secrets_role_trust_policy(config, state),
        permission_policy=desired.secrets_role_permission_policy(config, state), owned=True))
    return replace(state, web_experience=ObservedWebExperience(
        id="web-1", arn="arn:web", status="ACTIVE",
        endpoint="https://abc.chat.qbusiness.us-east-1.on.aws/",
        role_arn=state.web_role.arn if state.web_role else None,
        identity_provider_configuration=desired.web_identity_provider_configuration(
            config, state)))


def test_empty_account_plans_every_resource() -> None:
    config = oidc_config()
    plan = make_plan(config, ObservedStack(account_id=ACCOUNT, secret_arn=SECRET,
                                           service_role_arn=None))
    assert [c.action for c in plan.changes] == [Action.CREATE] * 9
    assert plan.blocked == ()


def test_up_to_date_stack_plans_nothing() -> None:
    config = oidc_config()
    plan = make_plan(config, up_to_date(config))
    assert plan.is_empty, plan.pending


def _drift(state: ObservedStack, **changes: Any) -> ObservedStack:
    return replace(state, **changes)


def _changed_trust(state: ObservedStack) -> ObservedStack:
    assert state.web_role is not None
    trust = dict(state.web_role.trust_policy)
    trust["Statement"] = trust["Statement"][:1]  # someone removed sts:TagSession
    return replace(state, web_role=replace(state.web_role, trust_policy=trust))


# (drift name, how to make it, resource that must change, expected action)
DRIFTS = [
    ("trust-policy-lost-tag-session", _changed_trust, Resource.WEB_ROLE, Action.UPDATE),
    ("permission-policy-deleted",
     lambda s: replace(s, web_role=replace(s.web_role, permission_policy=None)),
     Resource.WEB_ROLE, Action.UPDATE),
    ("web-role-not-owned",
     lambda s: replace(s, web_role=replace(s.web_role, owned=False)),
     Resource.WEB_ROLE, Action.BLOCKED),
    ("auto-subscription-disabled",
     lambda s: replace(s, application=replace(s.application, auto_subscribe="DISABLED")),
     Resource.AUTO_SUBSCRIPTION, Action.UPDATE),
    ("client-id-removed-from-provider",
     lambda s: replace(s, provider=replace(s.provider, client_ids=())),
     Resource.PROVIDER, Action.UPDATE),
    ("application-identity-type-changed",
     lambda s: replace(s, application=replace(s.application, identity_type="AWS_IAM_IDC")),
     Resource.APPLICATION, Action.BLOCKED),
    ("web-experience-role-swapped",
     lambda s: replace(s, web_experience=replace(s.web_experience, role_arn="arn:other")),
     Resource.WEB_EXPERIENCE, Action.UPDATE),
    ("retriever-points-at-another-index",
     lambda s: replace(s, retriever=replace(s.retriever, index_id="ix-other")),
     Resource.RETRIEVER, Action.UPDATE),
    ("secrets-role-trust-for-another-app",
     lambda s: replace(s, secrets_role=replace(s.secrets_role, trust_policy={})),
     Resource.SECRETS_ROLE, Action.UPDATE),
]


@pytest.mark.parametrize(("case", "drift", "resource", "action"), DRIFTS,
                         ids=[d[0] for d in DRIFTS])
def test_drift_is_planned(case: str, drift: Any, resource: Resource, action: Action) -> None:
    config = oidc_config()
    plan = make_plan(config, drift(up_to_date(config)))
    assert [(c.resource, c.action) for c in plan.pending] == [(resource, action)]


def test_email_tag_setting_changes_the_trust_policy() -> None:
    config = oidc_config()
    plan = make_plan(oidc_config(require_email_tag=False), up_to_date(config))
    assert [(c.resource, c.reasons) for c in plan.pending] == [
        (Resource.WEB_ROLE, ("trust policy differs",))]


def test_status_and_instructions_of_an_up_to_date_stack() -> None:
    config = oidc_config()
    state = up_to_date(config)
    states = {row.resource: row.state for row in status_rows(config, state)}
    assert states["application"] == "ACTIVE"
    assert states["auto-subscription"] == "ENABLED (Q_BUSINESS)"
    info = idp_instructions(config, state).as_dict()
    assert info["redirect_uris"] == [
        "https://abc.chat.qbusiness.us-east-1.on.aws/authorization-code/callback",
        "http://localhost:8000/auth/oidc/callback"]
    assert info["sign_out_uri"] == "http://localhost:8000/login/oidc"
