"""IAM actions moto lacks that federation setups use, answered in IAM's wire format.

``AddClientIDToOpenIDConnectProvider`` and ``RemoveClientIDFromOpenIDConnectProvider``:
an administrator adds a new app's client id to an existing shared OIDC provider this
way. Everything else goes to moto.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from qbizfed.local.moto_backend import edit_oidc_client_ids
from qbizfed.local.wire import error_response, request_id

_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
_ACTIONS = ("AddClientIDToOpenIDConnectProvider", "RemoveClientIDFromOpenIDConnectProvider")
_MAX_CLIENT_ID = 255


class IamGaps:
    """The edge's handler for ``iam``: the few actions moto does not implement."""

    def operation_name(self, request: Request) -> str | None:
        action = request.values.get("Action")
        return str(action) if action else None

    def handle(self, request: Request) -> Response | None:
        action = request.values.get("Action")
        if action not in _ACTIONS:
            return None
        arn = request.values.get("OpenIDConnectProviderArn", "")
        client_id = request.values.get("ClientID", "")
        if not arn or not client_id:
            missing = "OpenIDConnectProviderArn" if not arn else "ClientID"
            return error_response(
                "iam", status=400, code="ValidationError",
                message=f"1 validation error detected: Value null at '{missing}' failed to "
                "satisfy constraint: Member must not be null",
            )  # fmt: skip
        if len(client_id) > _MAX_CLIENT_ID:
            return error_response(
                "iam", status=400, code="InvalidInput",
                message=f"ClientID must be at most {_MAX_CLIENT_ID} characters",
            )  # fmt: skip
        adding = action == "AddClientIDToOpenIDConnectProvider"
        found = edit_oidc_client_ids(
            arn, add=client_id if adding else None, remove=None if adding else client_id
        )
        if not found:
            return error_response(
                "iam", status=404, code="NoSuchEntity",
                message=f"OpenIDConnect Provider not found for arn {arn}",
            )  # fmt: skip
        body = (
            f'<{action}Response xmlns="{_NAMESPACE}"><ResponseMetadata>'
            f"<RequestId>{request_id()}</RequestId></ResponseMetadata></{action}Response>"
        )
        return Response(body, status=200, content_type="text/xml")
