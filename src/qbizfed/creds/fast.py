"""The ``credential_process`` fast path: ``qbizfed creds`` answered from a warm cache.

The AWS CLI and SDKs run ``qbizfed creds --profile NAME`` on every call, so this path
imports only the standard library's light modules and qbizfed's light ``creds``
modules; no Typer, Rich or boto3. It handles exactly one case: a valid, private cache
file whose credentials are not yet due for refresh. Everything else (no cache, corrupt
or insecure files, refresh due, expired, ``--help``, unknown options) returns ``None``
so that ``main()`` falls back to the Typer command, which refreshes or explains.
"""

from __future__ import annotations

import os
import sys

from qbizfed.creds import locations, output, record, securefile
from qbizfed.errors import QbizfedError


def parse_args(args: list[str]) -> tuple[str, str] | None:
    """``(profile, format)`` from ``[--profile NAME] [--format FMT]``, or ``None``."""
    profile = locations.default_profile_name()
    fmt = "process"
    index = 0
    while index < len(args):
        arg = args[index]
        name, eq, inline = arg.partition("=")
        if name not in ("--profile", "-p", "--format", "-f"):
            return None
        if eq:
            value = inline
            index += 1
        elif index + 1 < len(args):
            value = args[index + 1]
            index += 2
        else:
            return None
        if name in ("--profile", "-p"):
            profile = value
        else:
            fmt = value
    if fmt not in output.FORMATS or not locations.is_valid_profile_name(profile):
        return None
    return profile, fmt


def warm_record(profile: str) -> dict[str, object] | None:
    """The profile's cache record if it is private, valid and not due for refresh."""
    path = locations.cache_file(profile)
    try:
        data = securefile.read_private(path)
        if data is None:
            return None
        rec = record.parse_record(data, path, profile=profile)
    except (QbizfedError, OSError):
        return None
    return None if record.needs_renewal(rec) else rec


def answer_from_warm_cache(args: list[str]) -> int | None:
    """Print the credentials and return 0, or ``None`` to fall back to the full command."""
    if os.environ.get("QBIZFED_NO_FAST_PATH"):
        return None
    parsed = parse_args(args)
    if parsed is None:
        return None
    profile, fmt = parsed
    rec = warm_record(profile)
    if rec is None:
        return None
    sys.stdout.write(output.render(rec, fmt))
    sys.stdout.flush()
    return 0
