"""Control-plane and wire errors of the Q Business emulator, with AWS's codes.

They extend the data-plane error tree (``dataplane_errors``) so the wire layer turns
every refusal into the same rest-json error AWS sends: ``x-amzn-ErrorType`` header,
HTTP status from the model's error shape, and a JSON body with ``message`` plus the
shape's extra members (``resourceId``/``resourceType``, ``reason``/``fields``).

    DataPlaneError (dataplane_errors)
     +-- ApiError                      any code, status and extra members
          +-- AccessDeniedError        AccessDeniedException, 403
          +-- NotFoundError            ResourceNotFoundException, 404 (+ resource id/type)
          +-- ConflictError            ConflictException, 409 (+ resource id/type)
          +-- QuotaExceededError       ServiceQuotaExceededException, 402
          +-- ValidationError          ValidationException, 400 (+ reason, fields)
          +-- NotImplementedByLocalError    NotImplementedException, 501
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError


class ApiError(DataPlaneError):
    """An error with arbitrary extra members for the JSON body."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: Mapping[str, Any] | None = None,
        remedy: str = "",
    ) -> None:
        super().__init__(message, remedy=remedy)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra: dict[str, Any] = dict(extra or {})


class AccessDeniedError(ApiError):
    code = "AccessDeniedException"
    status = 403


class NotFoundError(ApiError):
    code = "ResourceNotFoundException"
    status = 404

    def __init__(self, message: str, *, resource_id: str, resource_type: str) -> None:
        super().__init__(message, extra={"resourceId": resource_id, "resourceType": resource_type})


class ConflictError(ApiError):
    code = "ConflictException"
    status = 409

    def __init__(self, message: str, *, resource_id: str, resource_type: str) -> None:
        super().__init__(message, extra={"resourceId": resource_id, "resourceType": resource_type})


class QuotaExceededError(ApiError):
    code = "ServiceQuotaExceededException"
    status = 402

    def __init__(self, message: str, *, resource_id: str, resource_type: str) -> None:
        super().__init__(message, extra={"resourceId": resource_id, "resourceType": resource_type})


class ValidationError(ApiError):
    code = "ValidationException"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[tuple[str, str]] = (),
        reason: str = "FIELD_VALIDATION_FAILED",
    ) -> None:
        extra: dict[str, Any] = {"reason": reason}
        if fields:
            extra["fields"] = [{"name": name, "message": msg} for name, msg in fields]
        super().__init__(message, extra=extra)


class NotImplementedByLocalError(ApiError):
    code = "NotImplementedException"
    status = 501

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"{operation} is not implemented by qbizfed local",
            remedy="run this call against real AWS, or ask for it to be added to the emulator",
        )
