"""Errors of the Q Business emulator's data plane, carrying AWS's wire codes.

The data-plane modules (permissions, retrieval, answers, conversations) are pure;
when a request cannot be served they raise one of these, and the emulator's wire
layer turns ``code``/``status``/``message`` into the JSON error AWS would send.

    LocalStackError (qbizfed.errors)
     +-- DataPlaneError                 code, status, message
          +-- ResourceNotFoundError     ResourceNotFoundException, 404
          +-- DataPlaneValidationError  ValidationException, 400
          +-- DataPlaneConflictError    ConflictException, 409
"""

from __future__ import annotations

from qbizfed.errors import LocalStackError


class DataPlaneError(LocalStackError):
    """A data-plane request refused the way Amazon Q Business refuses it."""

    code = "InternalServerException"
    status = 500

    def __init__(self, message: str, *, remedy: str = "") -> None:
        super().__init__(message, remedy=remedy)


class ResourceNotFoundError(DataPlaneError):
    """The conversation, message or document does not exist *for this user*."""

    code = "ResourceNotFoundException"
    status = 404


class DataPlaneValidationError(DataPlaneError):
    """The input is well-formed JSON but not acceptable (bad token, too long, ...)."""

    code = "ValidationException"
    status = 400


class DataPlaneConflictError(DataPlaneError):
    """The request conflicts with the current state (e.g. a stale parent message)."""

    code = "ConflictException"
    status = 409
