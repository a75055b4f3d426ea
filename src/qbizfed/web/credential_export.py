"""What the credentials page shows: masked values, and the formats a user takes away.

The formats themselves (shell ``export`` lines, ``credential_process`` JSON, an
``~/.aws/credentials`` block) come from the one renderer shared with ``qbizfed creds``,
:mod:`qbizfed.creds.output`; this module only names the profile and hands the session's
credentials to it. The page renders them only after the user asks (a CSRF-protected
POST). ``mask`` is what every page shows by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import output

_PROFILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def mask(value: str, *, keep: int = 4) -> str:
    """``AKIA************WXYZ``-style masking; ``keep=0`` or short values: all stars.

    Fully masked values are always 16 stars, so not even the length leaks.
    """
    if keep <= 0 or len(value) <= keep * 4:
        return "*" * 16
    return value[:keep] + "*" * 12 + value[-keep:]


def profile_name(email: str) -> str:
    local = email.split("@", 1)[0]
    return "qbizfed-" + (_PROFILE_UNSAFE.sub("-", local)[:40] or "user")


@dataclass(frozen=True)
class RevealedCredentials:
    """Everything the credentials page shows after the user asked to reveal them."""

    export: str
    credential_process: str
    credentials_file: str
    profile: str


def reveal(creds: AwsCredentials, *, email: str) -> RevealedCredentials:
    profile = profile_name(email)
    record = creds.to_record(profile=profile)
    return RevealedCredentials(
        export=output.render(record, "env"),
        credential_process=output.render(record, "process"),
        credentials_file=output.render(record, "ini"),
        profile=profile,
    )


def credential_process_json(creds: AwsCredentials) -> str:
    """The ``credential_process`` document for tools that fetch it from serve."""
    return output.render(creds.to_record(), "process")
