"""Full admin cycles against ``qbizfed local aws``: apply, re-apply, drift, destroy.

Mutating calls are counted through botocore's event hooks (``CallLog``); a re-apply of
an up-to-date stack must make none. The OIDC issuer URL is never fetched here (that is
the preflight's job, tested on loopback in the unit tests); it has no port because
Q Business's ``iamIdentityProviderArn`` pattern does not allow one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from qbizfed.aws.provision import (
    Action,
    ApplyFailedError,
    AwsClients,
    CallLog,
    PlanBlockedError,
    Resource,
    apply_stack,
    destroy_stack,
    idp_instructions,
    make_plan,
    observe,
    status_rows,
)
from qbizfed.errors import ConfigError
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.support.saml_assertions import make_idp

REGION = "us-east-1"


def make_clients(url: str) -> AwsClients:
    return AwsClients.from_session(region=REGION, endpoint_url=url)


def oidc_config(name: str, secret_arn: str) -> StackConfig:
    return config_from_mapping({
        "name": name, "mode": "oidc", "region": REGION,
        "oidc": {"issuer_url": f"https://{name}.idp.example.test/oauth2/default",
                 "client_id": f"client-{name}", "secret_id": secret_arn},
    })


def saml_config(name: str) -> StackConfig:
    return config_from_mapping({
        "name": name, "mode": "saml", "region": REGION,
        "saml": {"metadata_document": make_idp(f"https://{name}.idp.example.test").metadata_xml(),
                 "sso_url": f"https://{name}.idp.example.test/sso",
                 "custom_acs_url": "http://localhost:8000/saml"},
    })


@pytest.fixture
def secret_arn(admin_client: Callable[..., Any], unique_name: str) -> str:
    sm = admin_client("secretsmanager")
    return str(sm.create_secret(Name=f"{unique_name}-idp",
                                SecretString='{"client_secret": "not-a-real-secret"}')["ARN"])


def assert_nothing_left(config: StackConfig, clients: AwsClients) -> None:
    apps = clients.qbusiness.list_applications()["applications"]
    assert config.name not in [a["displayName"] for a in apps]
    roles = [r["RoleName"] for r in clients.iam.list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(f"qbizfed-{config.name}-")]
    providers = (clients.iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
                 + clients.iam.list_saml_providers()["SAMLProviderList"])
    assert not [p for p in providers if config.name in p["Arn"]]
    states = {r.resource: r.state for r in status_rows(config, observe(config, clients))}
    assert states["application"] == "MISSING"
    assert states["service-linked role"] == "EXISTS"  # shared: destroy keeps it


def test_oidc_apply_reapply_drift_destroy(local_aws: LocalAws, unique_name: str,
                                          secret_arn: str) -> None:
    config = oidc_config(unique_name, secret_arn)
    clients = make_clients(local_aws.url)
    log = clients.attach(CallLog())

    final = apply_stack(config, clients=clients)
    created = [op for _, op in log.mutating]
    assert "CreateApplication" in created
    assert "CreateWebExperience" in created
    assert final.application is not None
    assert final.application.status == "ACTIVE"
    assert final.application.auto_subscribe == "ENABLED"
    assert final.application.client_ids == (f"client-{unique_name}",)
    assert final.web_experience is not None
    assert final.web_experience.status == "ACTIVE"
    assert final.web_experience.identity_provider_configuration == {
        "openIDConnectConfiguration": {"secretsArn": secret_arn,
                                       "secretsRole": final.secrets_role.arn
                                       if final.secrets_role else None}}
    states = {r.resource: r.state for r in status_rows(config, observe(config, clients))}
    assert states["index"] == states["retriever"] == "ACTIVE"

    log.clear()
    apply_stack(config, clients=clients)
    assert log.mutating == []
    assert log.calls  # it did look

    # Drift: someone drops sts:TagSession from the trust policy.
    role = clients.iam.get_role(RoleName=f"qbizfed-{unique_name}-web")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust["Statement"] = [s for s in trust["Statement"] if s["Action"] != "sts:TagSession"]
    clients.iam.update_assume_role_policy(RoleName=role["RoleName"],
                                          PolicyDocument=json.dumps(trust))
    plan = make_plan(config, observe(config, clients))
    assert [(c.resource, c.action, c.reasons) for c in plan.pending] == [
        (Resource.WEB_ROLE, Action.UPDATE, ("trust policy differs",))]
    log.clear()
    apply_stack(config, clients=clients)
    assert log.mutating == [("iam", "UpdateAssumeRolePolicy")]
    assert make_plan(config, observe(config, clients)).is_empty

    info = idp_instructions(config, observe(config, clients))
    assert info.redirect_uris[0] == (
        str(final.web_experience.endpoint).rstrip("/") + "/authorization-code/callback")

    result = destroy_stack(config, clients=clients)
    assert {c.resource for c in result.deleted} >= {Resource.APPLICATION, Resource.PROVIDER,
                                                   Resource.WEB_ROLE, Resource.SECRETS_ROLE}
    assert_nothing_left(config, clients)
    log.clear()
    destroy_stack(config, clients=clients)  # idempotent: nothing left to delete
    assert log.mutating == []


def test_saml_apply_reapply_destroy(local_aws: LocalAws, unique_name: str) -> None:
    config = saml_config(unique_name)
    clients = make_clients(local_aws.url)
    log = clients.attach(CallLog())
    final = apply_stack(config, clients=clients)
    assert final.application is not None
    assert final.application.status == "ACTIVE"
    assert final.application.identity_type == "AWS_IAM_IDP_SAML"
    assert final.web_experience is not None
    assert final.web_experience.endpoint
    web_acs = final.web_experience.endpoint.rstrip("/") + "/saml"
    trust = clients.iam.get_role(RoleName=f"qbizfed-{unique_name}-web")["Role"][
        "AssumeRolePolicyDocument"]
    audiences = trust["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"]
    assert set(audiences) == {web_acs, "https://us-east-1.signin.aws.amazon.com/saml",
                              "http://localhost:8000/saml"}
    info = idp_instructions(config, final).as_dict()
    assert info["role_attribute_value"] == f"{final.web_role.arn},{final.provider.arn}" \
        if final.web_role and final.provider else False
    assert info["acs_urls"] == [web_acs, "http://localhost:8000/saml"]

    log.clear()
    apply_stack(config, clients=clients)
    assert log.mutating == []

    # Drift: the IdP metadata was edited by hand in IAM.
    other = make_idp(f"https://{unique_name}.idp.example.test").metadata_xml()
    clients.iam.update_saml_provider(SAMLProviderArn=final.provider.arn if final.provider
                                     else "", SAMLMetadataDocument=other)
    plan = make_plan(config, observe(config, clients))
    assert [(c.resource, c.action) for c in plan.pending] == [(Resource.PROVIDER, Action.UPDATE)]
    apply_stack(config, clients=clients)
    assert make_plan(config, observe(config, clients)).is_empty

    destroy_stack(config, clients=clients)
    assert_nothing_left(config, clients)


def test_failure_midway_then_reapply_completes(fresh_local_aws: LocalAws,
                                              unique_name: str) -> None:
    sm = make_clients(fresh_local_aws.url).secretsmanager
    secret = sm.create_secret(Name=f"{unique_name}-idp", SecretString="{}")["ARN"]
    config = oidc_config(unique_name, secret)
    clients = make_clients(fresh_local_aws.url)
    # More failures than botocore's 5 attempts: the step fails for good.
    httpx.post(f"{fresh_local_aws.url}/_qbizfed/faults", json={"rules": [
        {"kind": "error", "service": "qbusiness", "operation": "CreateWebExperience",
         "count": 5}]}).raise_for_status()
    with pytest.raises(ApplyFailedError) as info:
        apply_stack(config, clients=clients)
    err = info.value
    assert "create web experience" in err.message
    assert "exists so far" in err.message
    assert "application" in err.message
    assert "re-run `qbizfed admin apply`" in err.remedy
    assert "destroy" in err.remedy

    log = clients.attach(CallLog())
    final = apply_stack(config, clients=clients)
    assert final.web_experience is not None
    assert final.web_experience.status == "ACTIVE"
    created = [op for _, op in log.mutating if op.startswith("Create")]
    assert created == ["CreateWebExperience"]  # nothing else was created twice
    apps = clients.qbusiness.list_applications()["applications"]
    assert [a["displayName"] for a in apps].count(unique_name) == 1
    destroy_stack(config, clients=clients)
    assert_nothing_left(config, clients)


def test_throttling_is_retried(fresh_local_aws: LocalAws, unique_name: str) -> None:
    config = saml_config(unique_name)
    clients = make_clients(fresh_local_aws.url)
    httpx.post(f"{fresh_local_aws.url}/_qbizfed/faults", json={"rules": [
        {"kind": "throttle", "service": "qbusiness", "operation": "CreateIndex",
         "count": 2}]}).raise_for_status()
    final = apply_stack(config, clients=clients)
    assert final.index is not None
    destroy_stack(config, clients=clients)


def test_destroy_keeps_what_it_does_not_own(local_aws: LocalAws, unique_name: str,
                                           secret_arn: str) -> None:
    config = oidc_config(unique_name, secret_arn)
    clients = make_clients(local_aws.url)
    assert config.oidc is not None
    # An OIDC provider for the same issuer, created by someone else (no stack tag) and
    # already trusting our client ID. (moto lacks AddClientIDToOpenIDConnectProvider, so
    # adding the ID to a shared provider is covered by the plan's unit tests only.)
    shared = clients.iam.create_open_id_connect_provider(
        Url=config.oidc.issuer,
        ClientIDList=["someone-elses-client", config.oidc.client_id])[
        "OpenIDConnectProviderArn"]
    final = apply_stack(config, clients=clients)
    assert final.provider is not None
    assert final.provider.arn == shared
    assert not final.provider.owned
    result = destroy_stack(config, clients=clients)
    assert Resource.PROVIDER in {c.resource for c in result.kept}
    assert clients.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=shared)
    clients.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=shared)


def test_role_of_the_same_name_not_owned_blocks_apply(local_aws: LocalAws, unique_name: str,
                                                      secret_arn: str) -> None:
    config = oidc_config(unique_name, secret_arn)
    clients = make_clients(local_aws.url)
    clients.iam.create_role(RoleName=f"qbizfed-{unique_name}-web",
                            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                 "Statement": []}))
    log = clients.attach(CallLog())
    with pytest.raises(PlanBlockedError) as info:
        apply_stack(config, clients=clients)
    assert "not tagged for this stack" in info.value.message
    assert log.mutating == []  # refused before any change
    clients.iam.delete_role(RoleName=f"qbizfed-{unique_name}-web")


def test_missing_secret_blocks_apply_but_not_destroy(local_aws: LocalAws,
                                                   unique_name: str) -> None:
    config = oidc_config(unique_name, f"{unique_name}-no-such-secret")
    clients = make_clients(local_aws.url)
    log = clients.attach(CallLog())
    with pytest.raises(PlanBlockedError, match="no such secret") as info:
        apply_stack(config, clients=clients)
    assert "create-secret" in info.value.remedy
    assert log.mutating == []
    destroy_stack(config, clients=clients)  # nothing to do, and no error


def test_wrong_account_is_refused_before_any_change(local_aws: LocalAws,
                                                    unique_name: str) -> None:
    config = replace(saml_config(unique_name), account_id="210987654321")
    clients = make_clients(local_aws.url)
    log = clients.attach(CallLog())
    with pytest.raises(ConfigError, match="belong to account 123456789012") as info:
        apply_stack(config, clients=clients)
    assert "AWS_PROFILE" in info.value.remedy
    assert log.mutating == []
