"""Control-plane operations: applications, indices, retrievers, web experiences, tags.

Behaviour follows the Q Business API reference and docs/aws-facts.md:

* ids are 36-character UUIDs; ARNs are ``arn:aws:qbusiness:<region>:<account>:
  application/<id>[/index|retriever|web-experience/<id>]``;
* ``clientToken``: the same token with the same input returns the same resource,
  with different input ``ConflictException``;
* status is CREATING until ``active_delay_seconds`` have passed, then ACTIVE (a web
  experience of an IAM-federated application without an identity provider
  configuration settles at PENDING_AUTH_CONFIG, *unconfirmed*); an index goes
  UPDATING on update; an application stays ACTIVE on update (*unconfirmed* whether
  AWS shows UPDATING: staying ACTIVE never breaks a client waiting for ACTIVE);
* ``autoSubscriptionConfiguration`` can only be set by UpdateApplication, and only
  once the application has left CREATING (``ConflictException`` before that,
  *unconfirmed*: the sample scripts wait for ACTIVE first, so AWS needs it or not);
* deleting an application deletes its children; deleting an index a retriever
  still uses is a ``ConflictException`` (*unconfirmed*: the safe choice);
* at most ``application_quota`` applications per account and region (AWS's default
  quota, 50; ServiceQuotaExceededException).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from qbizfed.local.loopback import is_loopback_host
from qbizfed.local.qbusiness.api_errors import (
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    ValidationError,
)
from qbizfed.local.qbusiness.idempotency import idempotent
from qbizfed.local.qbusiness.operations import (
    Access,
    OperationContext,
    OperationRegistry,
    Params,
    Result,
)
from qbizfed.local.qbusiness.pagination import page
from qbizfed.local.qbusiness.resource_lookup import (
    arn,
    get_application,
    get_child,
    state_of,
    visible,
)
from qbizfed.local.qbusiness.state import (
    Resource,
    new_id,
    random_host_label,
)

registry = OperationRegistry()

IAM_IDP_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(oidc-provider|saml-provider)/.+")
IAM_IDENTITY_TYPES = ("AWS_IAM_IDP_OIDC", "AWS_IAM_IDP_SAML")
_APP_FIELDS = (
    "displayName", "description", "roleArn", "identityType", "iamIdentityProviderArn",
    "clientIdsForOIDC", "encryptionConfiguration", "attachmentsConfiguration",
    "qAppsConfiguration", "personalizationConfiguration", "quickSightConfiguration",
)  # fmt: skip


def _tags_in(params: Params) -> dict[str, str]:
    return {str(t["key"]): str(t["value"]) for t in params.get("tags") or []}


def _new_resource(
    ctx: OperationContext,
    *,
    kind: str,
    application_id: str,
    arn_path: str,
    attrs: dict[str, Any],
    tags: dict[str, str],
    settled: str = "ACTIVE",
    resource_id: str | None = None,
) -> Resource:
    state = state_of(ctx)
    rid = resource_id or new_id()
    resource = Resource(
        kind=kind,
        resource_id=rid,
        arn=arn(ctx, arn_path.format(id=rid)),
        account_id=ctx.account_id,
        region=ctx.region,
        application_id=application_id or rid,
        attrs=attrs,
        created_at=ctx.now,
        updated_at=ctx.now,
        pending_status="CREATING",
        settles_at=ctx.now + state.delay,
        settled_status=settled,
        tags=tags,
    )
    state.resources[rid] = resource
    return resource


def _pick(params: Params, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: params[name] for name in names if params.get(name) is not None}


def _paged(
    ctx: OperationContext, params: Params, items: list[Resource], default_max: int
) -> tuple[list[Resource], str | None]:
    ordered = sorted(items, key=lambda r: (r.created_at, r.resource_id))
    scope = f"{ctx.operation}:{params.get('applicationId', '')}"
    return page(
        ordered,
        scope=scope,
        next_token=params.get("nextToken"),
        max_results=params.get("maxResults"),
        default_max=default_max,
    )


# ---------------------------------------------------------------------------- applications


def _check_identity(params: Params) -> None:
    identity_type = params.get("identityType")
    provider = params.get("iamIdentityProviderArn")
    if identity_type in IAM_IDENTITY_TYPES:
        if not provider:
            raise ValidationError(
                f"iamIdentityProviderArn is required when identityType is {identity_type}.",
                fields=[("iamIdentityProviderArn", "Member must not be null")],
            )
        expected = "oidc-provider" if identity_type == "AWS_IAM_IDP_OIDC" else "saml-provider"
        found = IAM_IDP_ARN.fullmatch(provider)
        if found is None or found.group(1) != expected:
            raise ValidationError(
                f"iamIdentityProviderArn must be the ARN of an IAM {expected} for "
                f"identityType {identity_type}.",
                fields=[("iamIdentityProviderArn", f"Member must be an IAM {expected} ARN")],
            )
    elif provider:
        raise ValidationError(
            "iamIdentityProviderArn is only valid with identityType AWS_IAM_IDP_OIDC or "
            "AWS_IAM_IDP_SAML.",
            fields=[("iamIdentityProviderArn", "Member must be null for this identityType")],
        )
    if params.get("clientIdsForOIDC") and identity_type != "AWS_IAM_IDP_OIDC":
        raise ValidationError(
            "clientIdsForOIDC is only valid with identityType AWS_IAM_IDP_OIDC.",
            fields=[("clientIdsForOIDC", "Member must be null for this identityType")],
        )
    if identity_type == "AWS_IAM_IDC" and not params.get("identityCenterInstanceArn"):
        raise ValidationError(
            "identityCenterInstanceArn is required when identityType is AWS_IAM_IDC.",
            fields=[("identityCenterInstanceArn", "Member must not be null")],
        )


@registry.operation("CreateApplication")
def create_application(ctx: OperationContext, params: Params) -> Result:
    _check_identity(params)

    def create() -> Result:
        state = state_of(ctx)
        mine = [r for r in state.resources.values() if r.kind == "application" and visible(ctx, r)]
        if len(mine) >= state.application_quota:
            raise QuotaExceededError(
                f"You have reached the limit of {state.application_quota} applications in this "
                "account and region.",
                resource_id=ctx.account_id,
                resource_type="AWS::QBusiness::Application",
            )
        attrs = _pick(params, _APP_FIELDS)
        if params.get("identityCenterInstanceArn"):
            attrs["identityCenterApplicationArn"] = (
                f"arn:aws:sso::{ctx.account_id}:application/ssoins-local/apl-{new_id()[:16]}"
            )
        app = _new_resource(
            ctx,
            kind="application",
            application_id="",
            arn_path="application/{id}",
            attrs=attrs,
            tags=_tags_in(params),
        )
        return {"applicationId": app.resource_id, "applicationArn": app.arn}

    with state_of(ctx).lock:
        return idempotent(ctx, params, "", create)


def _application_view(app: Resource, ctx: OperationContext) -> Result:
    view: Result = {
        "applicationId": app.resource_id,
        "applicationArn": app.arn,
        "status": app.status(ctx.now),
        "createdAt": app.created_at,
        "updatedAt": app.updated_at,
    }
    view.update(app.attrs)
    return view


@registry.operation("GetApplication", access=Access.READ)
def get_application_op(ctx: OperationContext, params: Params) -> Result:
    return _application_view(get_application(ctx, params["applicationId"]), ctx)


@registry.operation("ListApplications")
def list_applications(ctx: OperationContext, params: Params) -> Result:
    apps = [
        r for r in state_of(ctx).resources.values() if r.kind == "application" and visible(ctx, r)
    ]
    chunk, token = _paged(ctx, params, apps, 100)
    summaries = [
        {
            "displayName": a.attrs.get("displayName"),
            "applicationId": a.resource_id,
            "createdAt": a.created_at,
            "updatedAt": a.updated_at,
            "status": a.status(ctx.now),
            "identityType": a.attrs.get("identityType"),
            "quickSightConfiguration": a.attrs.get("quickSightConfiguration"),
        }
        for a in chunk
    ]
    return {"applications": summaries, "nextToken": token}


@registry.operation("UpdateApplication")
def update_application(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        app = get_application(ctx, params["applicationId"])
        if app.status(ctx.now) == "CREATING":
            raise ConflictError(
                f"The application {app.resource_id} is still being created. "
                "Wait until its status is ACTIVE, then update it.",
                resource_id=app.resource_id,
                resource_type="AWS::QBusiness::Application",
            )
        for name in (
            "displayName", "description", "roleArn", "attachmentsConfiguration",
            "qAppsConfiguration", "personalizationConfiguration", "autoSubscriptionConfiguration",
        ):  # fmt: skip
            if params.get(name) is not None:
                app.attrs[name] = params[name]
        if params.get("identityCenterInstanceArn"):
            app.attrs["identityCenterApplicationArn"] = (
                f"arn:aws:sso::{ctx.account_id}:application/ssoins-local/apl-{new_id()[:16]}"
            )
        app.updated_at = ctx.now
    return {}


@registry.operation("DeleteApplication")
def delete_application(ctx: OperationContext, params: Params) -> Result:
    state = state_of(ctx)
    with state.lock:
        app = get_application(ctx, params["applicationId"])
        for rid in [r.resource_id for r in state.resources.values()
                    if r.application_id == app.resource_id]:  # fmt: skip
            del state.resources[rid]
        for sid in [s.subscription_id for s in state.subscriptions.values()
                    if s.application_id == app.resource_id]:  # fmt: skip
            del state.subscriptions[sid]
        state.extensions.pop(app.resource_id, None)
    return {}


# ---------------------------------------------------------------------------- indices


def _child_view(child: Resource, ctx: OperationContext, name: str) -> Result:
    """Get<Child> output: ids, ARN (``<name>Id``/``<name>Arn``), status, times, attributes."""
    view: Result = {
        "applicationId": child.application_id,
        f"{name}Id": child.resource_id,
        f"{name}Arn": child.arn,
        "status": child.status(ctx.now),
        "createdAt": child.created_at,
        "updatedAt": child.updated_at,
    }
    view.update(child.attrs)
    return view


def _index_view(index: Resource, ctx: OperationContext) -> Result:
    view: Result = {
        "applicationId": index.application_id,
        "indexId": index.resource_id,
        "indexArn": index.arn,
        "status": index.status(ctx.now),
        "type": index.attrs.get("type", "ENTERPRISE"),
        "createdAt": index.created_at,
        "updatedAt": index.updated_at,
        "capacityConfiguration": index.attrs.get("capacityConfiguration", {"units": 1}),
        "documentAttributeConfigurations": index.attrs.get("documentAttributeConfigurations"),
        "indexStatistics": index_statistics(ctx, index),
    }
    for name in ("displayName", "description"):
        if name in index.attrs:
            view[name] = index.attrs[name]
    return view


def index_statistics(ctx: OperationContext, index: Resource) -> Result:
    provider = state_of(ctx).index_statistics
    if provider is not None:
        result: Result = provider(ctx, index)
        return result
    return {"textDocumentStatistics": {"indexedTextBytes": 0, "indexedTextDocumentCount": 0}}


@registry.operation("CreateIndex")
def create_index(ctx: OperationContext, params: Params) -> Result:
    app_id = params["applicationId"]

    def create() -> Result:
        get_application(ctx, app_id)
        attrs = _pick(params, ("displayName", "description", "type", "capacityConfiguration"))
        attrs.setdefault("type", "ENTERPRISE")
        index = _new_resource(
            ctx,
            kind="index",
            application_id=app_id,
            arn_path=f"application/{app_id}/index/{{id}}",
            attrs=attrs,
            tags=_tags_in(params),
        )
        for hook in state_of(ctx).index_created_hooks:
            hook(ctx, index)
        return {"indexId": index.resource_id, "indexArn": index.arn}

    with state_of(ctx).lock:
        return idempotent(ctx, params, app_id, create)


@registry.operation("GetIndex")
def get_index(ctx: OperationContext, params: Params) -> Result:
    index = get_child(ctx, params["applicationId"], "index", params["indexId"])
    return _index_view(index, ctx)


@registry.operation("ListIndices")
def list_indices(ctx: OperationContext, params: Params) -> Result:
    get_application(ctx, params["applicationId"])
    items = state_of(ctx).children(params["applicationId"], "index")
    chunk, token = _paged(ctx, params, items, 100)
    return {
        "indices": [
            {
                "displayName": i.attrs.get("displayName"),
                "indexId": i.resource_id,
                "createdAt": i.created_at,
                "updatedAt": i.updated_at,
                "status": i.status(ctx.now),
            }
            for i in chunk
        ],
        "nextToken": token,
    }


@registry.operation("UpdateIndex")
def update_index(ctx: OperationContext, params: Params) -> Result:
    state = state_of(ctx)
    with state.lock:
        index = get_child(ctx, params["applicationId"], "index", params["indexId"])
        if index.status(ctx.now) != "ACTIVE":
            raise ConflictError(
                f"The index {index.resource_id} is {index.status(ctx.now)}; "
                "wait until it is ACTIVE.",
                resource_id=index.resource_id,
                resource_type="AWS::QBusiness::Index",
            )
        for name in (
            "displayName", "description", "capacityConfiguration",
            "documentAttributeConfigurations",
        ):  # fmt: skip
            if params.get(name) is not None:
                index.attrs[name] = params[name]
        index.change(ctx.now, "UPDATING", state.delay)
    return {}


@registry.operation("DeleteIndex")
def delete_index(ctx: OperationContext, params: Params) -> Result:
    state = state_of(ctx)
    with state.lock:
        index = get_child(ctx, params["applicationId"], "index", params["indexId"])
        for retriever in state.children(index.application_id, "retriever"):
            native = (retriever.attrs.get("configuration") or {}).get("nativeIndexConfiguration")
            if native and native.get("indexId") == index.resource_id:
                raise ConflictError(
                    f"The index {index.resource_id} is used by retriever "
                    f"{retriever.resource_id}. Delete the retriever first.",
                    resource_id=index.resource_id,
                    resource_type="AWS::QBusiness::Index",
                )
        del state.resources[index.resource_id]
        for hook in state.index_deleted_hooks:
            hook(ctx, index)
    return {}


# ---------------------------------------------------------------------------- retrievers


def _check_retriever_configuration(ctx: OperationContext, app_id: str, params: Params) -> None:
    kind = params.get("type")
    configuration = params.get("configuration") or {}
    if kind == "NATIVE_INDEX":
        native = configuration.get("nativeIndexConfiguration")
        if not native:
            raise ValidationError(
                "A NATIVE_INDEX retriever needs configuration.nativeIndexConfiguration.",
                fields=[("configuration.nativeIndexConfiguration", "Member must not be null")],
            )
        get_child(ctx, app_id, "index", native["indexId"])
    elif kind == "KENDRA_INDEX" and not configuration.get("kendraIndexConfiguration"):
        raise ValidationError(
            "A KENDRA_INDEX retriever needs configuration.kendraIndexConfiguration.",
            fields=[("configuration.kendraIndexConfiguration", "Member must not be null")],
        )


@registry.operation("CreateRetriever")
def create_retriever(ctx: OperationContext, params: Params) -> Result:
    app_id = params["applicationId"]

    def create() -> Result:
        get_application(ctx, app_id)
        _check_retriever_configuration(ctx, app_id, params)
        attrs = _pick(params, ("type", "displayName", "configuration", "roleArn"))
        retriever = _new_resource(
            ctx,
            kind="retriever",
            application_id=app_id,
            arn_path=f"application/{app_id}/retriever/{{id}}",
            attrs=attrs,
            tags=_tags_in(params),
        )
        return {"retrieverId": retriever.resource_id, "retrieverArn": retriever.arn}

    with state_of(ctx).lock:
        return idempotent(ctx, params, app_id, create)


@registry.operation("GetRetriever", access=Access.READ)
def get_retriever(ctx: OperationContext, params: Params) -> Result:
    r = get_child(ctx, params["applicationId"], "retriever", params["retrieverId"])
    return _child_view(r, ctx, "retriever")


@registry.operation("ListRetrievers", access=Access.READ)
def list_retrievers(ctx: OperationContext, params: Params) -> Result:
    get_application(ctx, params["applicationId"])
    items = state_of(ctx).children(params["applicationId"], "retriever")
    chunk, token = _paged(ctx, params, items, 50)
    return {
        "retrievers": [
            {
                "applicationId": r.application_id,
                "retrieverId": r.resource_id,
                "type": r.attrs.get("type"),
                "status": r.status(ctx.now),
                "displayName": r.attrs.get("displayName"),
            }
            for r in chunk
        ],
        "nextToken": token,
    }


@registry.operation("UpdateRetriever")
def update_retriever(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        r = get_child(ctx, params["applicationId"], "retriever", params["retrieverId"])
        if params.get("configuration") is not None:
            _check_retriever_configuration(
                ctx, r.application_id, {"type": r.attrs.get("type"), **params}
            )
        for name in ("configuration", "displayName", "roleArn"):
            if params.get(name) is not None:
                r.attrs[name] = params[name]
        r.updated_at = ctx.now
    return {}


@registry.operation("DeleteRetriever")
def delete_retriever(ctx: OperationContext, params: Params) -> Result:
    state = state_of(ctx)
    with state.lock:
        r = get_child(ctx, params["applicationId"], "retriever", params["retrieverId"])
        del state.resources[r.resource_id]
    return {}


# ---------------------------------------------------------------------------- web experiences

_WEB_FIELDS = (
    "title", "subtitle", "welcomeMessage", "samplePromptsControlMode", "origins", "roleArn",
    "identityProviderConfiguration", "browserExtensionConfiguration",
    "customizationConfiguration",
)  # fmt: skip


def _check_identity_provider(params: Params) -> None:
    config = params.get("identityProviderConfiguration") or {}
    saml = config.get("samlConfiguration")
    if saml:
        url = urlsplit(str(saml.get("authenticationUrl", "")))
        if url.scheme != "https" and not (url.scheme == "http" and is_loopback_host(url.hostname)):
            raise ValidationError(
                "samlConfiguration.authenticationUrl must be an https URL.",
                fields=[
                    (
                        "identityProviderConfiguration.samlConfiguration.authenticationUrl",
                        "Member must be an https URL",
                    )
                ],
            )


def _web_settled_status(app: Resource, attrs: dict[str, Any]) -> str:
    if app.attrs.get("identityType") in IAM_IDENTITY_TYPES and not attrs.get(
        "identityProviderConfiguration"
    ):
        return "PENDING_AUTH_CONFIG"
    return "ACTIVE"


@registry.operation("CreateWebExperience")
def create_web_experience(ctx: OperationContext, params: Params) -> Result:
    app_id = params["applicationId"]
    _check_identity_provider(params)

    def create() -> Result:
        app = get_application(ctx, app_id)
        attrs = _pick(params, _WEB_FIELDS)
        attrs.setdefault("samplePromptsControlMode", "DISABLED")
        attrs["defaultEndpoint"] = (
            f"https://{random_host_label()}.chat.qbusiness.{ctx.region}.on.aws/"
        )
        web = _new_resource(
            ctx,
            kind="web-experience",
            application_id=app_id,
            arn_path=f"application/{app_id}/web-experience/{{id}}",
            attrs=attrs,
            tags=_tags_in(params),
            settled=_web_settled_status(app, attrs),
        )
        return {"webExperienceId": web.resource_id, "webExperienceArn": web.arn}

    with state_of(ctx).lock:
        return idempotent(ctx, params, app_id, create)


@registry.operation("GetWebExperience", access=Access.READ)
def get_web_experience(ctx: OperationContext, params: Params) -> Result:
    w = get_child(ctx, params["applicationId"], "web-experience", params["webExperienceId"])
    return _child_view(w, ctx, "webExperience")


@registry.operation("ListWebExperiences")
def list_web_experiences(ctx: OperationContext, params: Params) -> Result:
    get_application(ctx, params["applicationId"])
    items = state_of(ctx).children(params["applicationId"], "web-experience")
    chunk, token = _paged(ctx, params, items, 100)
    return {
        "webExperiences": [
            {
                "webExperienceId": w.resource_id,
                "createdAt": w.created_at,
                "updatedAt": w.updated_at,
                "defaultEndpoint": w.attrs.get("defaultEndpoint"),
                "status": w.status(ctx.now),
            }
            for w in chunk
        ],
        "nextToken": token,
    }


@registry.operation("UpdateWebExperience")
def update_web_experience(ctx: OperationContext, params: Params) -> Result:
    _check_identity_provider(params)
    with state_of(ctx).lock:
        w = get_child(ctx, params["applicationId"], "web-experience", params["webExperienceId"])
        for name in (*_WEB_FIELDS, "authenticationConfiguration"):
            if params.get(name) is not None:
                w.attrs[name] = params[name]
        w.settled_status = _web_settled_status(get_application(ctx, w.application_id), w.attrs)
        w.updated_at = ctx.now
    return {}


@registry.operation("DeleteWebExperience")
def delete_web_experience(ctx: OperationContext, params: Params) -> Result:
    state = state_of(ctx)
    with state.lock:
        w = get_child(ctx, params["applicationId"], "web-experience", params["webExperienceId"])
        del state.resources[w.resource_id]
    return {}


# ---------------------------------------------------------------------------- tags


def _tagged(ctx: OperationContext, resource_arn: str) -> Resource:
    resource = state_of(ctx).by_arn(resource_arn)
    if resource is None or not visible(ctx, resource):
        raise NotFoundError(
            f"The resource {resource_arn} was not found.",
            resource_id=resource_arn,
            resource_type="AWS::QBusiness::Resource",
        )
    return resource


@registry.operation("TagResource")
def tag_resource(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        resource = _tagged(ctx, params["resourceARN"])
        resource.tags.update(_tags_in(params))
    return {}


@registry.operation("UntagResource")
def untag_resource(ctx: OperationContext, params: Params) -> Result:
    with state_of(ctx).lock:
        resource = _tagged(ctx, params["resourceARN"])
        for key in params["tagKeys"]:
            resource.tags.pop(key, None)
    return {}


@registry.operation("ListTagsForResource")
def list_tags_for_resource(ctx: OperationContext, params: Params) -> Result:
    resource = _tagged(ctx, params["resourceARN"])
    return {"tags": [{"key": k, "value": v} for k, v in sorted(resource.tags.items())]}
