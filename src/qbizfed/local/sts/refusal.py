"""Why the local STS refuses a call, in AWS's words.

``StsRefusalError`` is a wire-level error: it carries STS's error code, message and HTTP
status, and ``FederationSts`` turns it into the query-protocol ``ErrorResponse`` that
boto3 and the AWS CLI parse. Codes are the ones in botocore's STS model
(``InvalidIdentityToken``, ``IDPRejectedClaim``, ``IDPCommunicationError``,
``ExpiredTokenException``, ``MalformedPolicyDocument``, ``PackedPolicyTooLarge``)
plus the common ``AccessDenied`` and ``ValidationError``.
"""

from __future__ import annotations


class StsRefusalError(Exception):
    """An STS error response: ``code`` and ``message`` as AWS sends them."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def invalid_token(message: str) -> StsRefusalError:
    return StsRefusalError("InvalidIdentityToken", message)


def access_denied(message: str) -> StsRefusalError:
    return StsRefusalError("AccessDenied", message, status=403)


def validation_error(message: str) -> StsRefusalError:
    return StsRefusalError("ValidationError", message)


def expired_token(message: str) -> StsRefusalError:
    return StsRefusalError("ExpiredTokenException", message)


def idp_communication(message: str) -> StsRefusalError:
    return StsRefusalError("IDPCommunicationError", message)
