"""AWS calls whose refusal names the IAM action to grant.

An ``AccessDenied`` from AWS says little about the fix; the fix is always "allow
``<service>:<Operation>`` on the resource". For the APIs qbizfed calls, the IAM action
is the signing name and the API operation name (``qbusiness:BatchPutDocument``,
``s3:PutObject``, ``qbusiness:CheckDocumentAccess``), so :func:`call` turns any refusal
into an :class:`~qbizfed.errors.AwsError` that names it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from qbizfed.errors import AwsError

DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
)


def iam_action(client: Any, method: str) -> str:
    """``qbusiness:BatchPutDocument`` for ``(qbusiness client, "batch_put_document")``."""
    operation = client.meta.method_to_api_mapping.get(method, method)
    prefix = client.meta.service_model.signing_name or client.meta.service_model.endpoint_prefix
    return f"{prefix}:{operation}"


def as_aws_error(err: ClientError, client: Any, method: str, doing: str) -> AwsError:
    """A qbizfed error for a failed call: the AWS code and message, and what to do."""
    error = err.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = f"{doing} failed: {code}: {error.get('Message', '')}"
    if code in DENIED_CODES:
        action = iam_action(client, method)
        return AwsError(
            f"{message} (the caller's policy does not allow {action})",
            code=code,
            remedy=f"Add {action} to the IAM policy of the credentials in use, then run again.",
        )
    return AwsError(
        message,
        code=code,
        remedy="Check the message; run the same command again to resume where it stopped.",
    )


def call(client: Any, method: str, doing: str, **kwargs: Any) -> Any:
    """``client.<method>(**kwargs)``, with a refusal raised as :class:`AwsError`."""
    try:
        return getattr(client, method)(**kwargs)
    except ClientError as err:
        raise as_aws_error(err, client, method, doing) from err
