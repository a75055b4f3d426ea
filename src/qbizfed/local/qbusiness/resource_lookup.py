"""The caller's Q Business resources in the emulator's state, as both planes look them up.

A resource belongs to one account and region; another account's (or region's)
application behaves exactly like one that does not exist (``ResourceNotFoundException``
naming the resource type, as AWS does). Used by the control plane, the data plane and
the chat controls alike, so none of them imports another's operations.
"""

from __future__ import annotations

from qbizfed.local.qbusiness.api_errors import NotFoundError
from qbizfed.local.qbusiness.operations import OperationContext
from qbizfed.local.qbusiness.state import EmulatorState, Resource


def state_of(ctx: OperationContext) -> EmulatorState:
    state: EmulatorState = ctx.state
    return state


def arn(ctx: OperationContext, path: str) -> str:
    return f"arn:aws:qbusiness:{ctx.region}:{ctx.account_id}:{path}"


def visible(ctx: OperationContext, resource: Resource) -> bool:
    return resource.account_id == ctx.account_id and resource.region == ctx.region


def get_application(ctx: OperationContext, application_id: str) -> Resource:
    """The caller's application, or ``ResourceNotFoundException``."""
    resource = state_of(ctx).resources.get(application_id)
    if resource is None or resource.kind != "application" or not visible(ctx, resource):
        raise NotFoundError(
            f"The application {application_id} was not found.",
            resource_id=application_id,
            resource_type="AWS::QBusiness::Application",
        )
    return resource


def get_child(ctx: OperationContext, application_id: str, kind: str, child_id: str) -> Resource:
    get_application(ctx, application_id)
    resource = state_of(ctx).resources.get(child_id)
    if resource is None or resource.kind != kind or resource.application_id != application_id:
        type_name = {"index": "Index", "retriever": "Retriever"}.get(kind, "WebExperience")
        raise NotFoundError(
            f"The {kind.replace('-', ' ')} {child_id} was not found in application "
            f"{application_id}.",
            resource_id=child_id,
            resource_type=f"AWS::QBusiness::{type_name}",
        )
    return resource
