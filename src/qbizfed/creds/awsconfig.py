"""Add a ``credential_process`` profile to the AWS CLI/SDK config file.

``qbizfed configure --aws-profile NAME`` writes::

    [profile NAME]
    credential_process = qbizfed creds --profile QBIZFED_PROFILE
    region = us-east-1
    endpoint_url = http://127.0.0.1:4566      # only for a local-stack profile

Only that section's managed keys change: other sections, comments and the section's
other keys stay byte for byte, and the previous file is kept as
``config.qbizfed-backup``. The file is ``AWS_CONFIG_FILE`` or ``~/.aws/config``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from qbizfed.creds.textfiles import replace_text_file
from qbizfed.errors import ConfigError

MANAGED_KEYS = ("credential_process", "region", "endpoint_url")


def aws_config_path() -> str:
    return os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")


def section_name(aws_profile: str) -> str:
    return "default" if aws_profile == "default" else f"profile {aws_profile}"


def qbizfed_command() -> str:
    """How the AWS CLI should start qbizfed: by name if it is on PATH, else by full path."""
    if shutil.which("qbizfed"):
        return "qbizfed"
    candidate = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(candidate) == "qbizfed" and os.access(candidate, os.X_OK):
        return shlex.quote(candidate)
    return "qbizfed"


def credential_process_line(qbizfed_profile: str, command: str | None = None) -> str:
    return f"{command or qbizfed_command()} creds --profile {shlex.quote(qbizfed_profile)}"


def _section_of(line: str) -> str | None:
    stripped = line.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        return " ".join(stripped[1:-1].split())
    return None


def _key_of(line: str) -> str | None:
    if line[:1].isspace() or line.lstrip().startswith(("#", ";")):
        return None
    key, sep, _ = line.partition("=")
    return key.strip() if sep else None


def with_profile(text: str, aws_profile: str, settings: dict[str, str]) -> str:
    """``text`` with ``settings`` set in the profile's section (added at the end if absent)."""
    for key, value in settings.items():
        if key not in MANAGED_KEYS or "\n" in value or "\r" in value:
            raise ValueError(f"refusing to write {key!r}")
    wanted = section_name(aws_profile)
    managed = [f"{key} = {value}\n" for key, value in settings.items()]
    out: list[str] = []
    in_section = found = dropping = False
    for line in text.splitlines(keepends=True):
        section = _section_of(line)
        if section is not None:
            in_section = section == wanted
            dropping = False
            if in_section:
                found = True
                out.append(line if line.endswith("\n") else line + "\n")
                out.extend(managed)
                continue
        elif in_section and dropping and line[:1] in (" ", "\t") and line.strip():
            continue  # continuation line of a value being replaced
        elif in_section:
            dropping = _key_of(line) in settings
            if dropping:
                continue  # replaced by the managed line written after the header
        out.append(line)
    if not found:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        if out and out[-1].strip():
            out.append("\n")
        out.append(f"[{wanted}]\n")
        out.extend(managed)
    return "".join(out)


def add_credential_process_profile(
    aws_profile: str,
    qbizfed_profile: str,
    *,
    region: str | None,
    endpoint_url: str | None = None,
    command: str | None = None,
    path: str | None = None,
) -> str:
    """Write the section; returns the config file's path."""
    if (
        not aws_profile
        or any(c in aws_profile for c in "[]\n\r")
        or aws_profile != aws_profile.strip()
    ):
        raise ConfigError(
            f"invalid AWS profile name {aws_profile!r}", remedy="use a plain name like qbiz-dev"
        )
    path = path or aws_config_path()
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    settings = {"credential_process": credential_process_line(qbizfed_profile, command)}
    if region:
        settings["region"] = region
    if endpoint_url:
        settings["endpoint_url"] = endpoint_url
    replace_text_file(path, with_profile(text, aws_profile, settings), backup=bool(text))
    return path
