"""The ways a user can take their credentials away: shell exports, credential_process, profile.

Pure functions from :class:`SessionCredentials` to text; the credentials page renders
them only after the user asks (a CSRF-protected POST). ``mask`` is what every page
shows by default.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import UTC

from qbizfed.web.browser_session import SessionCredentials

_PROFILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def mask(value: str, *, keep: int = 4) -> str:
    """``AKIA************WXYZ``-style masking; ``keep=0`` or short values: all stars.

    Fully masked values are always 16 stars, so not even the length leaks.
    """
    if keep <= 0 or len(value) <= keep * 4:
        return "*" * 16
    return value[:keep] + "*" * 12 + value[-keep:]


def expiration_iso(creds: SessionCredentials) -> str:
    return creds.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_lines(creds: SessionCredentials) -> str:
    """POSIX shell lines: ``export AWS_ACCESS_KEY_ID=...`` etc."""
    pairs = (
        ("AWS_ACCESS_KEY_ID", creds.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key),
        ("AWS_SESSION_TOKEN", creds.session_token),
        ("AWS_REGION", creds.region),
        ("AWS_CREDENTIAL_EXPIRATION", expiration_iso(creds)),
    )
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in pairs) + "\n"


def credential_process_json(creds: SessionCredentials) -> str:
    """The JSON a ``credential_process`` program prints (AWS CLI/SDK format, Version 1)."""
    return json.dumps(
        {
            "Version": 1,
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "SessionToken": creds.session_token,
            "Expiration": expiration_iso(creds),
        },
        indent=2,
    )


def profile_name(email: str) -> str:
    local = email.split("@", 1)[0]
    return "qbizfed-" + (_PROFILE_UNSAFE.sub("-", local)[:40] or "user")


def credentials_file_block(creds: SessionCredentials, *, profile: str) -> str:
    """An ``~/.aws/credentials`` profile section."""
    return (
        f"[{profile}]\n"
        f"aws_access_key_id = {creds.access_key_id}\n"
        f"aws_secret_access_key = {creds.secret_access_key}\n"
        f"aws_session_token = {creds.session_token}\n"
        f"# region = {creds.region}; expires {expiration_iso(creds)}\n"
    )


@dataclass(frozen=True)
class RevealedCredentials:
    """Everything the credentials page shows after the user asked to reveal them."""

    export: str
    credential_process: str
    credentials_file: str
    profile: str


def reveal(creds: SessionCredentials, *, email: str) -> RevealedCredentials:
    profile = profile_name(email)
    return RevealedCredentials(
        export=export_lines(creds),
        credential_process=credential_process_json(creds),
        credentials_file=credentials_file_block(creds, profile=profile),
        profile=profile,
    )
