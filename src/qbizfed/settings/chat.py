"""``[serve.chat]``: which Q Business application the chat pages of ``serve`` talk to.

An OIDC-federated and a SAML-federated application are different Q Business
applications (``identityType`` is fixed at creation), so a broker offering both
sign-ins needs one application id per protocol (TOML key / variable)::

    application_id       QBUSINESS_APPLICATION_ID        default for both protocols
    oidc_application_id  QBUSINESS_OIDC_APPLICATION_ID   for users signed in with OIDC
    saml_application_id  QBUSINESS_SAML_APPLICATION_ID   for users signed in with SAML

Without any of them the chat pages say so (with the remedy) instead of failing.

``max_concurrent_calls`` / ``QBIZFED_CHAT_CONCURRENCY`` (default 32) bounds the Q Business
calls in flight at once in one ``serve`` process (each holds a worker thread while it waits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from qbizfed.errors import ConfigError
from qbizfed.settings.environment import SERVE_CHAT

Protocol = Literal["oidc", "saml"]
# botocore's model: ApplicationId is a UUID-like 36-character id.
_APPLICATION_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{35}$")

ENV_CONCURRENCY = SERVE_CHAT["max_concurrent_calls"]
DEFAULT_CONCURRENCY = 32


@dataclass(frozen=True)
class ChatSettings:
    """Where the chat pages send questions, and how patient they are."""

    application_id: str | None = None
    oidc_application_id: str | None = None
    saml_application_id: str | None = None
    subscription_retries: int = 4
    """How often the first-call "no subscription" refusal is retried (it subscribes)."""
    subscription_backoff_seconds: float = 0.5
    expiry_warning_seconds: int = 300
    """Show the "credentials are about to expire" notice this long before they do."""
    max_concurrent_calls: int = DEFAULT_CONCURRENCY
    """Q Business calls in flight at once per process (each waits in a worker thread)."""

    def application_for(self, protocol: Protocol) -> str | None:
        """The application id for a user signed in with ``protocol``, if configured."""
        specific = self.oidc_application_id if protocol == "oidc" else self.saml_application_id
        return specific or self.application_id

    def check(self) -> ChatSettings:
        """Raise ``ConfigError`` for an application id that cannot be one."""
        for key, value in (
            ("application_id", self.application_id),
            ("oidc_application_id", self.oidc_application_id),
            ("saml_application_id", self.saml_application_id),
        ):
            if value is not None and not _APPLICATION_ID.match(value):
                raise ConfigError(
                    f"serve.chat.{key} ({SERVE_CHAT[key]}) is not a Q Business application id",
                    remedy="copy the 36-character id from `qbizfed admin status` or the console",
                )
        if self.subscription_retries < 0 or self.subscription_backoff_seconds < 0:
            raise ConfigError(
                "subscription retries and backoff must not be negative", remedy="fix the values"
            )
        if self.max_concurrent_calls < 1:
            raise ConfigError(
                f"{ENV_CONCURRENCY} must be at least 1",
                remedy=f"unset it (default {DEFAULT_CONCURRENCY})",
            )
        return self


def chat_from_values(values: Mapping[str, str | None], *, where: str) -> ChatSettings:
    """The ``[serve.chat]`` section from its string values (TOML over the environment)."""
    concurrency = (values.get("max_concurrent_calls") or "").strip() or str(DEFAULT_CONCURRENCY)
    if not concurrency.isdigit():
        raise ConfigError(
            f"{ENV_CONCURRENCY}={concurrency!r} is not a number",
            remedy=f"set a whole number of calls, e.g. {DEFAULT_CONCURRENCY} "
            f"(serve.chat.max_concurrent_calls in {where})",
        )
    return ChatSettings(
        max_concurrent_calls=int(concurrency),
        application_id=values.get("application_id") or None,
        oidc_application_id=values.get("oidc_application_id") or None,
        saml_application_id=values.get("saml_application_id") or None,
    ).check()
