"""Destroy: remove everything the stack owns, in dependency order, and nothing else.

Owned means found by the stack's names *and* tagged ``qbizfed:stack=<name>``. The
service-linked role and a shared OIDC provider (one not tagged for this stack) are
left alone. Deletion is idempotent: running it again after a failure finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from botocore.exceptions import ClientError

from qbizfed.aws.provision.clients import AwsClients
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import (
    ObservedRole,
    ObservedStack,
    is_not_found,
    observe,
    wrap_client_error,
)
from qbizfed.aws.provision.plan import Action, Change, Plan, Resource
from qbizfed.aws.provision.progress import Progress, SilentProgress
from qbizfed.aws.provision.waiting import wait_until_gone
from qbizfed.settings.stack import StackConfig


@dataclass(frozen=True)
class DestroyResult:
    deleted: tuple[Change, ...]
    kept: tuple[Change, ...]


def destroy_plan(config: StackConfig, observed: ObservedStack) -> Plan:
    """What destroy would delete (and what it keeps), in the order it deletes."""
    names = StackNames(config.name)
    changes: list[Change] = []
    if observed.web_experience is not None:
        changes.append(Change(Resource.WEB_EXPERIENCE, observed.web_experience.id, Action.DELETE))
    if observed.retriever is not None:
        changes.append(Change(Resource.RETRIEVER, names.retriever, Action.DELETE))
    if observed.index is not None:
        changes.append(Change(Resource.INDEX, names.index, Action.DELETE))
    if observed.application is not None:
        changes.append(Change(Resource.APPLICATION, names.application, Action.DELETE))
    for resource, role in ((Resource.SECRETS_ROLE, observed.secrets_role),
                           (Resource.WEB_ROLE, observed.web_role)):
        if role is not None:
            action = Action.DELETE if role.owned else Action.KEEP
            reasons = () if role.owned else ("not tagged for this stack: kept",)
            changes.append(Change(resource, role.name, action, reasons))
    if observed.provider is not None:
        if observed.provider.owned:
            changes.append(Change(Resource.PROVIDER, observed.provider.arn, Action.DELETE))
        else:
            changes.append(Change(Resource.PROVIDER, observed.provider.arn, Action.KEEP,
                                  ("shared, not owned by this stack: kept",)))
    if observed.service_role_arn:
        changes.append(Change(Resource.SERVICE_ROLE, observed.service_role_arn, Action.KEEP,
                              ("shared by every Q Business application: kept",)))
    return Plan(tuple(changes))


def _ignore_missing(call: Callable[[], object]) -> None:
    try:
        call()
    except ClientError as err:
        if not is_not_found(err):
            raise


def _delete_role(clients: AwsClients, role: ObservedRole) -> None:
    iam = clients.iam
    for name in iam.list_role_policies(RoleName=role.name).get("PolicyNames", []):
        _ignore_missing(partial(iam.delete_role_policy, RoleName=role.name, PolicyName=name))
    attached = iam.list_attached_role_policies(RoleName=role.name)
    for policy in attached.get("AttachedPolicies", []):
        _ignore_missing(partial(iam.detach_role_policy, RoleName=role.name,
                                PolicyArn=policy["PolicyArn"]))
    _ignore_missing(lambda: clients.iam.delete_role(RoleName=role.name))


def destroy_stack(
    config: StackConfig,
    *,
    clients: AwsClients,
    progress: Progress | None = None,
    observed: ObservedStack | None = None,
) -> DestroyResult:
    """Delete what the stack owns; returns what was deleted and what was kept."""
    progress = progress or SilentProgress()
    current = observed or observe(config, clients)
    plan = destroy_plan(config, current)
    q = clients.qbusiness
    try:
        app = current.application
        if app is not None:
            if current.web_experience is not None:
                progress.step("deleting the web experience")
                web_id = current.web_experience.id
                _ignore_missing(lambda: q.delete_web_experience(applicationId=app.id,
                                                                webExperienceId=web_id))
            if current.retriever is not None:
                progress.step("deleting the retriever")
                retriever_id = current.retriever.id
                _ignore_missing(lambda: q.delete_retriever(applicationId=app.id,
                                                           retrieverId=retriever_id))
            if current.index is not None:
                progress.step("deleting the index")
                index_id = current.index.id
                _ignore_missing(lambda: q.delete_index(applicationId=app.id, indexId=index_id))
            progress.step("deleting the application")
            _ignore_missing(lambda: q.delete_application(applicationId=app.id))

            def status() -> str | None:
                try:
                    return str(q.get_application(applicationId=app.id).get("status", ""))
                except ClientError as err:
                    if is_not_found(err):
                        return None
                    raise

            wait_until_gone("application", status, progress=progress)
        for role in (current.secrets_role, current.web_role):
            if role is not None and role.owned:
                progress.step(f"deleting role {role.name}")
                _delete_role(clients, role)
        provider = current.provider
        if provider is not None and provider.owned:
            progress.step("deleting the IAM identity provider")
            if ":oidc-provider/" in provider.arn:
                _ignore_missing(lambda: clients.iam.delete_open_id_connect_provider(
                    OpenIDConnectProviderArn=provider.arn))
            else:
                _ignore_missing(lambda: clients.iam.delete_saml_provider(
                    SAMLProviderArn=provider.arn))
    except ClientError as err:
        wrapped = wrap_client_error(err, "destroy")
        wrapped.remedy = "run `qbizfed admin destroy` again: it continues with what is left"
        raise wrapped from err
    return DestroyResult(
        deleted=tuple(c for c in plan.changes if c.action is Action.DELETE),
        kept=tuple(c for c in plan.changes if c.action is Action.KEEP),
    )
