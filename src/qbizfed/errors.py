"""The one error base of qbizfed.

Every error a user can meet carries a remediation line: what to do next. The CLI
catches ``QbizfedError`` once, at its entry point, and prints both parts.

    QbizfedError
     +-- ConfigError          a setting is missing or malformed
     +-- NetworkError         an IdP, AWS or local endpoint could not be reached
     +-- IdentityError        a token or assertion was refused
     +-- AwsError             an AWS call failed (wraps botocore's ClientError)
     +-- LocalStackError      the offline stack could not start or serve
"""

from __future__ import annotations


class QbizfedError(Exception):
    """Base class: ``str(err)`` says what happened, ``remedy`` what to do."""

    def __init__(self, message: str, *, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def diagnostics(self) -> str:
        """The message and the remediation line, as printed to a user."""
        if self.remedy:
            return f"{self.message}\n  fix: {self.remedy}"
        return self.message


class ConfigError(QbizfedError):
    """A setting is missing, malformed or inconsistent."""


class NetworkError(QbizfedError):
    """An endpoint could not be reached or answered nonsense."""


class IdentityError(QbizfedError):
    """A token, assertion or login response was refused."""


class AwsError(QbizfedError):
    """An AWS call failed; ``code`` is AWS's error code."""

    def __init__(self, message: str, *, code: str = "", remedy: str = "") -> None:
        super().__init__(message, remedy=remedy)
        self.code = code


class LocalStackError(QbizfedError):
    """The offline stack could not start or serve a request."""
