"""The local stack's streaming chat knobs, in one place for the streaming tests:
pacing between text events, stream faults, and a user's environment for the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from qbizfed.local.stack import LocalAws, LocalAwsSettings
from tests.conftest import ACCOUNT_ID, REGION


def stream_pacing(delay_ms: int) -> dict[str, Any]:
    """``LocalAwsSettings`` keyword arguments for a delay between text events."""
    return {"stream_delay_ms": delay_ms} if delay_ms else {}


@contextmanager
def paced_local_aws(delay_ms: int) -> Iterator[LocalAws]:
    stack = LocalAws(
        LocalAwsSettings(port=0, active_delay_seconds=0.05, **stream_pacing(delay_ms))
    ).start()
    try:
        yield stack
    finally:
        stack.stop()


def set_stream_faults(stack: LocalAws, *rules: dict[str, Any]) -> None:
    """Replace the stack's fault rules through its control endpoint, as a user would
    (``{"kind": "stream-close"|"stream-exception"|"stream-stall", "after_events": N,
    ...}``); none: streams behave again."""
    response = httpx.post(f"{stack.url}/_qbizfed/faults", json={"rules": list(rules)})
    assert response.status_code == 200, response.text


def user_environment(stack: LocalAws, email: str, application_id: str) -> dict[str, str]:
    """What a signed-in user's shell holds: identity-aware credentials, the local endpoint
    and the application (for ``qbizfed ask`` in a subprocess)."""
    session = stack.registry.issue(
        account_id=ACCOUNT_ID, role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/web",
        role_id="AROATESTROLE", session_name=email, duration_seconds=3600,
        tags={"Email": email},
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QBUSINESS_"))}
    env.pop("NO_COLOR", None)
    return {
        **env,
        "AWS_ENDPOINT_URL": stack.url,
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "QBUSINESS_APPLICATION_ID": application_id,
    }
