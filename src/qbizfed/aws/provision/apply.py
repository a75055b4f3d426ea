"""Apply: bring the account to the config, one resource at a time, in dependency order.

For each step of :data:`plan.STEPS`, the diff is recomputed against the state as it
is *now* (identifiers created by earlier steps are known), and only a create or update
makes a call. An up-to-date stack therefore costs read calls only. Creations carry
UUID ``clientToken``\\ s; botocore retries throttling and 5xx with backoff. When a call
fails for good, :class:`ApplyFailedError` says what exists and that re-running ``apply``
continues (or ``destroy`` removes it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.clients import AwsClients
from qbizfed.aws.provision.names import SERVICE_LINKED_ROLE_SERVICE, StackNames
from qbizfed.aws.provision.observed import (
    ObservedApplication,
    ObservedChild,
    ObservedProvider,
    ObservedStack,
    get_web_experience,
    observe,
    observe_role,
    wrap_client_error,
)
from qbizfed.aws.provision.plan import STEPS, Action, Change, Plan, Resource, make_plan
from qbizfed.aws.provision.progress import Progress, SilentProgress
from qbizfed.aws.provision.waiting import wait_until_ready
from qbizfed.errors import AwsError
from qbizfed.settings.stack import Mode, StackConfig


class ApplyFailedError(AwsError):
    """Apply stopped midway; what exists is listed in the message."""


class PlanBlockedError(AwsError):
    """The plan contains a change apply must not make (an immutable setting differs)."""


Executor = Callable[[StackConfig, ObservedStack, AwsClients, Progress, Change], ObservedStack]


def _token() -> str:
    return str(uuid.uuid4())


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _service_role(config: StackConfig, observed: ObservedStack, clients: AwsClients,
                  progress: Progress, change: Change) -> ObservedStack:
    progress.step("creating the service-linked role for Q Business")
    try:
        role = clients.iam.create_service_linked_role(AWSServiceName=SERVICE_LINKED_ROLE_SERVICE)
        arn = str(role["Role"]["Arn"])
    except ClientError as err:
        # Another apply (or the console) created it meanwhile: use it.
        if err.response.get("Error", {}).get("Code") != "InvalidInput":
            raise
        arn = desired.service_role_arn(config, observed)
    return replace(observed, service_role_arn=arn)


def _provider(config: StackConfig, observed: ObservedStack, clients: AwsClients,
              progress: Progress, change: Change) -> ObservedStack:
    names = StackNames(config.name)
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        if observed.provider is None:
            progress.step(f"creating the IAM OIDC provider for {config.oidc.issuer}")
            arn = clients.iam.create_open_id_connect_provider(
                Url=config.oidc.issuer, ClientIDList=[config.oidc.client_id],
                Tags=names.iam_tags(),
            )["OpenIDConnectProviderArn"]
            return replace(observed, provider=ObservedProvider(
                arn=str(arn), owned=True, client_ids=(config.oidc.client_id,)))
        progress.step("adding the client ID to the IAM OIDC provider")
        clients.iam.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=observed.provider.arn, ClientID=config.oidc.client_id)
        return replace(observed, provider=replace(
            observed.provider,
            client_ids=(*observed.provider.client_ids, config.oidc.client_id)))
    assert config.saml is not None
    if observed.provider is None:
        progress.step(f"creating the IAM SAML provider {names.saml_provider}")
        arn = clients.iam.create_saml_provider(
            SAMLMetadataDocument=config.saml.metadata_document, Name=names.saml_provider,
            Tags=names.iam_tags(),
        )["SAMLProviderArn"]
    else:
        progress.step(f"updating the metadata of SAML provider {names.saml_provider}")
        arn = clients.iam.update_saml_provider(
            SAMLProviderArn=observed.provider.arn,
            SAMLMetadataDocument=config.saml.metadata_document,
        )["SAMLProviderArn"]
    return replace(observed, provider=ObservedProvider(
        arn=str(arn), owned=True, metadata_document=config.saml.metadata_document))


def _read_application(clients: AwsClients, app_id: str) -> ObservedApplication:
    app = clients.qbusiness.get_application(applicationId=app_id)
    auto = app.get("autoSubscriptionConfiguration") or {}
    return ObservedApplication(
        id=str(app["applicationId"]), arn=str(app["applicationArn"]),
        status=str(app.get("status", "")), identity_type=app.get("identityType"),
        provider_arn=app.get("iamIdentityProviderArn"),
        client_ids=tuple(app.get("clientIdsForOIDC", [])), role_arn=app.get("roleArn"),
        auto_subscribe=auto.get("autoSubscribe"),
        default_subscription_type=auto.get("defaultSubscriptionType"),
    )


def _wait_application(clients: AwsClients, app_id: str, progress: Progress) -> None:
    def status() -> tuple[str, str]:
        app = clients.qbusiness.get_application(applicationId=app_id)
        return str(app.get("status", "")), str((app.get("error") or {}).get("errorMessage", ""))

    wait_until_ready("application", status, progress=progress)


def _application(config: StackConfig, observed: ObservedStack, clients: AwsClients,
                 progress: Progress, change: Change) -> ObservedStack:
    names = StackNames(config.name)
    role_arn = desired.service_role_arn(config, observed)
    if observed.application is None:
        assert observed.provider is not None
        progress.step(f"creating application {names.application}")
        args: dict[str, Any] = {
            "displayName": names.application,
            "roleArn": role_arn,
            "identityType": desired.identity_type(config),
            "iamIdentityProviderArn": observed.provider.arn,
            "description": f"IAM-federated ({config.mode.value}) application managed by qbizfed",
            "tags": names.qbusiness_tags(),
            "clientToken": _token(),
        }
        if config.oidc is not None:
            args["clientIdsForOIDC"] = [config.oidc.client_id]
        app_id = str(clients.qbusiness.create_application(**args)["applicationId"])
    else:
        app_id = observed.application.id
        progress.step(f"updating application {names.application}: roleArn")
        clients.qbusiness.update_application(applicationId=app_id, roleArn=role_arn)
    _wait_application(clients, app_id, progress)
    return replace(observed, application=_read_application(clients, app_id))


def _index(config: StackConfig, observed: ObservedStack, clients: AwsClients,
           progress: Progress, change: Change) -> ObservedStack:
    assert observed.application is not None
    names = StackNames(config.name)
    app_id = observed.application.id
    progress.step(f"creating index {names.index}")
    created = clients.qbusiness.create_index(
        applicationId=app_id, displayName=names.index, type="ENTERPRISE",
        tags=names.qbusiness_tags(), clientToken=_token(),
    )
    index_id = str(created["indexId"])

    def status() -> tuple[str, str]:
        got = clients.qbusiness.get_index(applicationId=app_id, indexId=index_id)
        return str(got.get("status", "")), str((got.get("error") or {}).get("errorMessage", ""))

    final = wait_until_ready("index", status, progress=progress)
    return replace(observed, index=ObservedChild(id=index_id, arn=str(created["indexArn"]),
                                                 status=final))


def _retriever(config: StackConfig, observed: ObservedStack, clients: AwsClients,
               progress: Progress, change: Change) -> ObservedStack:
    assert observed.application is not None
    assert observed.index is not None
    names = StackNames(config.name)
    app_id = observed.application.id
    configuration = {"nativeIndexConfiguration": {"indexId": observed.index.id}}
    if observed.retriever is None:
        progress.step(f"creating retriever {names.retriever}")
        created = clients.qbusiness.create_retriever(
            applicationId=app_id, type="NATIVE_INDEX", displayName=names.retriever,
            configuration=configuration, tags=names.qbusiness_tags(), clientToken=_token(),
        )
        retriever_id, arn = str(created["retrieverId"]), str(created["retrieverArn"])
    else:
        progress.step(f"updating retriever {names.retriever}: index")
        retriever_id, arn = observed.retriever.id, observed.retriever.arn
        clients.qbusiness.update_retriever(applicationId=app_id, retrieverId=retriever_id,
                                           configuration=configuration)

    def status() -> tuple[str, str]:
        got = clients.qbusiness.get_retriever(applicationId=app_id, retrieverId=retriever_id)
        return str(got.get("status", "")), ""

    final = wait_until_ready("retriever", status, progress=progress)
    return replace(observed, retriever=ObservedChild(
        id=retriever_id, arn=arn, status=final, index_id=observed.index.id))


def _role(config: StackConfig, observed: ObservedStack, clients: AwsClients,
          progress: Progress, change: Change) -> ObservedStack:
    names = StackNames(config.name)
    if change.resource is Resource.WEB_ROLE:
        name, policy_name, current = names.web_role, names.web_policy, observed.web_role
        trust = desired.web_role_trust_policy(config, observed)
        permission = desired.web_role_permission_policy(config, observed)
        description = f"Assumed by {config.mode.value} users of Q Business app {config.name}"
    else:
        name, policy_name, current = names.secrets_role, names.secrets_policy, \
            observed.secrets_role
        trust = desired.secrets_role_trust_policy(config, observed)
        permission = desired.secrets_role_permission_policy(config, observed)
        description = f"Lets Q Business app {config.name} read the OIDC client secret"
    if current is None:
        progress.step(f"creating role {name}")
        clients.iam.create_role(RoleName=name, AssumeRolePolicyDocument=_dump(trust),
                                Description=description, Tags=names.iam_tags(),
                                MaxSessionDuration=3600)
    else:
        if "trust policy differs" in change.reasons:
            progress.step(f"updating the trust policy of role {name}")
            clients.iam.update_assume_role_policy(RoleName=name, PolicyDocument=_dump(trust))
    if current is None or any("permission" in r for r in change.reasons):
        progress.step(f"putting the permission policy of role {name}")
        clients.iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                                    PolicyDocument=_dump(permission))
    role = observe_role(clients, name, policy_name, names.stack)
    if change.resource is Resource.WEB_ROLE:
        return replace(observed, web_role=role)
    return replace(observed, secrets_role=role)


def _web_experience(config: StackConfig, observed: ObservedStack, clients: AwsClients,
                    progress: Progress, change: Change) -> ObservedStack:
    assert observed.application is not None
    assert observed.web_role is not None
    names = StackNames(config.name)
    app_id = observed.application.id
    idp = desired.web_identity_provider_configuration(config, observed)
    if observed.web_experience is None:
        progress.step("creating the web experience")
        args: dict[str, Any] = {
            "applicationId": app_id, "roleArn": observed.web_role.arn,
            "identityProviderConfiguration": idp, "tags": names.qbusiness_tags(),
            "clientToken": _token(),
        }
        if config.title:
            args["title"] = config.title
        web_id = str(clients.qbusiness.create_web_experience(**args)["webExperienceId"])
    else:
        web_id = observed.web_experience.id
        progress.step("updating the web experience: " + ", ".join(change.reasons))
        clients.qbusiness.update_web_experience(
            applicationId=app_id, webExperienceId=web_id, roleArn=observed.web_role.arn,
            identityProviderConfiguration=idp)

    def status() -> tuple[str, str]:
        web = clients.qbusiness.get_web_experience(applicationId=app_id, webExperienceId=web_id)
        return str(web.get("status", "")), str((web.get("error") or {}).get("errorMessage", ""))

    wait_until_ready("web experience", status, progress=progress)
    return replace(observed, web_experience=get_web_experience(clients, app_id, web_id))


def _auto_subscription(config: StackConfig, observed: ObservedStack, clients: AwsClients,
                       progress: Progress, change: Change) -> ObservedStack:
    assert observed.application is not None
    app_id = observed.application.id
    # Only possible through UpdateApplication, and only once the application is ACTIVE.
    _wait_application(clients, app_id, progress)
    if config.auto_subscribe is None:
        setting = {"autoSubscribe": "DISABLED"}
    else:
        setting = {"autoSubscribe": "ENABLED",
                   "defaultSubscriptionType": config.auto_subscribe.value}
    progress.step(f"setting auto-subscription: {change.name}")
    clients.qbusiness.update_application(applicationId=app_id,
                                         autoSubscriptionConfiguration=setting)
    return replace(observed, application=_read_application(clients, app_id))


EXECUTORS: dict[Resource, Executor] = {
    Resource.SERVICE_ROLE: _service_role,
    Resource.PROVIDER: _provider,
    Resource.APPLICATION: _application,
    Resource.INDEX: _index,
    Resource.RETRIEVER: _retriever,
    Resource.WEB_ROLE: _role,
    Resource.SECRETS_ROLE: _role,
    Resource.WEB_EXPERIENCE: _web_experience,
    Resource.AUTO_SUBSCRIPTION: _auto_subscription,
}


def describe_existing(observed: ObservedStack) -> list[str]:
    """One line per resource of the stack that exists (for failure messages)."""
    lines = []
    if observed.provider is not None:
        lines.append(f"identity provider {observed.provider.arn}")
    if observed.application is not None:
        lines.append(f"application {observed.application.id}")
    if observed.index is not None:
        lines.append(f"index {observed.index.id}")
    if observed.retriever is not None:
        lines.append(f"retriever {observed.retriever.id}")
    if observed.web_role is not None:
        lines.append(f"role {observed.web_role.name}")
    if observed.secrets_role is not None:
        lines.append(f"role {observed.secrets_role.name}")
    if observed.web_experience is not None:
        lines.append(f"web experience {observed.web_experience.id}")
    return lines


def _run_step(config: StackConfig, observed: ObservedStack, clients: AwsClients,
              progress: Progress, resource: Resource,
              diff: Callable[[StackConfig, ObservedStack], Change]) -> ObservedStack:
    change = diff(config, observed)
    if change.action is Action.NONE:
        return observed
    if change.action is Action.BLOCKED:
        raise _blocked_error(change)
    try:
        return EXECUTORS[resource](config, observed, clients, progress, change)
    except ClientError as err:
        wrapped = wrap_client_error(err, f"{change.action.value} {resource.value}")
        existing = describe_existing(observed)
        raise ApplyFailedError(
            f"{wrapped.message}\n  exists so far: "
            + (", ".join(existing) if existing else "nothing"),
            code=wrapped.code,
            remedy="re-run `qbizfed admin apply` to continue from here, "
            "or `qbizfed admin destroy` to remove what exists",
        ) from err
    except AwsError as err:
        existing = describe_existing(observed)
        raise ApplyFailedError(
            f"{err.message}\n  exists so far: " + (", ".join(existing) or "nothing"),
            code=err.code, remedy=err.remedy,
        ) from err


def _application_ready(observed: ObservedStack, clients: AwsClients, progress: Progress
                       ) -> ObservedStack:
    """An application left CREATING/UPDATING by an interrupted apply: wait before its children."""
    app = observed.application
    if app is None or app.status == "ACTIVE":
        return observed
    try:
        _wait_application(clients, app.id, progress)
        return replace(observed, application=_read_application(clients, app.id))
    except ClientError as err:
        raise wrap_client_error(err, "waiting for the application") from err


def _blocked_error(change: Change) -> PlanBlockedError:
    return PlanBlockedError(
        f"{change.resource.value} {change.name}: " + "; ".join(change.reasons),
        code="Blocked", remedy=_blocked_remedy(change))


def _blocked_remedy(change: Change) -> str:
    if change.resource is Resource.APPLICATION:
        return "`qbizfed admin destroy` then `qbizfed admin apply` (this recreates the app)"
    if change.resource is Resource.SERVICE_ROLE:
        return "set application.ensure_service_linked_role = true, or service_role_arn"
    if change.resource is Resource.SECRETS_ROLE and "no such secret" in change.reasons[0]:
        return ("create the secret (aws secretsmanager create-secret --secret-string "
                "'{\"client_secret\": \"...\"}') or fix oidc.secret_id")
    return "choose another `name`, or delete/tag the existing resource yourself"


def check_plan(plan: Plan) -> None:
    """Raise :class:`PlanBlockedError` if the plan contains a change apply refuses to make."""
    if plan.blocked:
        change = plan.blocked[0]
        raise _blocked_error(change)


def apply_stack(
    config: StackConfig,
    *,
    clients: AwsClients,
    progress: Progress | None = None,
    observed: ObservedStack | None = None,
) -> ObservedStack:
    """Converge the account to ``config``; returns the final observed state."""
    progress = progress or SilentProgress()
    current = observed or observe(config, clients)
    check_plan(make_plan(config, current))
    for resource, diff in STEPS:
        current = _run_step(config, current, clients, progress, resource, diff)
        if resource is Resource.APPLICATION:
            current = _application_ready(current, clients, progress)
    # The SAML trust policy names the web experience's /saml URL, known only now.
    for resource, diff in STEPS:
        if resource is Resource.WEB_ROLE:
            current = _run_step(config, current, clients, progress, resource, diff)
    return current

