"""What IAM authorizes for each Amazon Q Business operation: its actions and resources.

Derived from botocore's ``qbusiness`` model rather than written out for 80-odd
operations, because AWS's rule is uniform (service authorization reference, "Actions,
resources, and condition keys for Amazon Q Business"; see docs/aws-facts.md):

* the action is ``qbusiness:<OperationName>`` (the streaming ``Chat`` is
  ``qbusiness:Chat``, ``ChatSync`` is ``qbusiness:ChatSync``);
* the required resources are the application named by the URI's ``{applicationId}``
  and every child resource the URI names (``{indexId}`` -> ``.../index/<id>``,
  ``{dataSourceId}`` -> ``.../index/<id>/data-source/<id>``, ``{webExperienceId}`` ->
  ``.../web-experience/<id>``, ...): the caller needs the action on each of them;
* ``TagResource``, ``UntagResource`` and ``ListTagsForResource`` are authorized on the
  ``{resourceARN}`` they name; operations naming no resource (``ListApplications``,
  ``CreateApplication``, ``ListPluginType*``) on ``*``.

Exceptions the reference lists are data in :data:`EXTRA_ACTIONS`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import botocore.session

from qbizfed.policies import application_arn

SERVICE = "qbusiness"
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")

# URI label -> (ARN resource type, label of the parent resource in the ARN).
CHILD_RESOURCES: Mapping[str, tuple[str, str]] = {
    "indexId": ("index", "applicationId"),
    "dataSourceId": ("data-source", "indexId"),
    "retrieverId": ("retriever", "applicationId"),
    "webExperienceId": ("web-experience", "applicationId"),
    "pluginId": ("plugin", "applicationId"),
    "subscriptionId": ("subscription", "applicationId"),
    "dataAccessorId": ("data-accessor", "applicationId"),
    "integrationId": ("integration", "applicationId"),
    "chatResponseConfigurationId": ("chat-response-configuration", "applicationId"),
}

# Operations that need a second action besides their own (the reference's "API
# operations" table). iam:PassRole and the TagResource needed when a Create call
# carries tags are not evaluated by the local stack (see docs/aws-facts.md).
EXTRA_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "AssociatePermission": ("qbusiness:PutResourcePolicy",),
    "DisassociatePermission": ("qbusiness:PutResourcePolicy",),
}

_RESOURCE_ARN_LABEL = "resourceARN"


@dataclass(frozen=True)
class OperationAuthorization:
    """The actions one operation needs, and which URI labels name its resources."""

    operation: str
    actions: tuple[str, ...]
    resource_labels: tuple[str, ...]
    """``applicationId`` first, then child labels in URI order; or ``resourceARN``."""

    def resources(
        self, labels: Mapping[str, str], *, region: str, account_id: str
    ) -> tuple[str, ...]:
        """The ARNs the caller needs every action on (``("*",)`` if none is named)."""
        if not self.resource_labels:
            return ("*",)
        if self.resource_labels == (_RESOURCE_ARN_LABEL,):
            return (labels[_RESOURCE_ARN_LABEL],)
        arns: dict[str, str] = {}
        for label in self.resource_labels:
            if label == "applicationId":
                arns[label] = application_arn(
                    region=region, account_id=account_id, application_id=labels[label]
                )
                continue
            kind, parent = CHILD_RESOURCES[label]
            arns[label] = f"{arns[parent]}/{kind}/{labels[label]}"
        return tuple(arns.values())


def _entry(operation: str, request_uri: str) -> OperationAuthorization:
    labels = _LABEL.findall(request_uri.partition("?")[0])
    if _RESOURCE_ARN_LABEL in labels:
        resource_labels: tuple[str, ...] = (_RESOURCE_ARN_LABEL,)
    elif "applicationId" in labels:
        resource_labels = ("applicationId", *(n for n in labels if n in CHILD_RESOURCES))
    else:
        resource_labels = ()
    return OperationAuthorization(
        operation=operation,
        actions=(f"{SERVICE}:{operation}", *EXTRA_ACTIONS.get(operation, ())),
        resource_labels=resource_labels,
    )


@functools.cache
def authorization_table() -> Mapping[str, OperationAuthorization]:
    """Operation name -> what IAM authorizes, for every operation of botocore's model."""
    model = botocore.session.get_session().get_service_model(SERVICE)
    return {
        name: _entry(name, str(model.operation_model(name).http["requestUri"]))
        for name in model.operation_names
    }


def required_permissions(
    operation: str, labels: Mapping[str, str], *, region: str, account_id: str
) -> tuple[tuple[str, str], ...]:
    """Every ``(action, resource ARN)`` pair the call needs allowed, in checking order."""
    entry = authorization_table()[operation]
    resources = entry.resources(labels, region=region, account_id=account_id)
    return tuple((action, resource) for action in entry.actions for resource in resources)
