"""Credential expiration times as text: ISO 8601 in UTC, the form STS, the AWS CLI and
``credential_process`` use.

Light module (only :mod:`datetime`): the ``credential_process`` fast path reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_expiration(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as ``credential_process`` and the AWS CLI expect."""
    if moment.tzinfo is None:
        raise ValueError("expiration must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiration(text: str) -> datetime:
    """Parse an aware ISO 8601 timestamp; naive ones are refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp without a timezone")
    return moment
