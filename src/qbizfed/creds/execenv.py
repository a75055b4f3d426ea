"""``qbizfed exec``: the environment a command runs with, and the nesting guard.

The child gets the profile's temporary credentials and region (``AWS_REGION`` and
``AWS_DEFAULT_REGION``; the variables of ``qbizfed creds --format env``,
:func:`qbizfed.creds.output.environment`), ``AWS_ENDPOINT_URL`` for a local-stack profile, and
``QBIZFED_EXEC_PROFILE`` so that a nested ``qbizfed exec`` refuses to run (nested
sessions would shadow each other's credentials silently). ``AWS_PROFILE`` and
``AWS_DEFAULT_PROFILE`` are removed: the SDKs would otherwise mix two identities.
"""

from __future__ import annotations

from collections.abc import Mapping

from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.output import environment
from qbizfed.errors import ConfigError

NESTING_VAR = "QBIZFED_EXEC_PROFILE"
_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CREDENTIAL_PROCESS")


class NestedExecError(ConfigError):
    """``qbizfed exec`` inside another ``qbizfed exec``."""


def refuse_nesting(environ: Mapping[str, str]) -> None:
    outer = environ.get(NESTING_VAR)
    if outer:
        raise NestedExecError(
            f"already inside `qbizfed exec` for profile {outer!r}; refusing to nest",
            remedy="exit the outer qbizfed exec shell first, or run the command directly "
            "(the credentials are already in its environment)",
        )


def child_environment(
    environ: Mapping[str, str], entry: CacheEntry, *, endpoint_url: str | None = None
) -> dict[str, str]:
    """A copy of ``environ`` with the profile's credentials in it."""
    refuse_nesting(environ)
    env = {key: value for key, value in environ.items() if key not in _REMOVED}
    env.update(environment(entry.credentials.to_record()))
    env[NESTING_VAR] = entry.profile
    env.pop("AWS_SECURITY_TOKEN", None)
    if endpoint_url and "AWS_ENDPOINT_URL" not in env:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env
