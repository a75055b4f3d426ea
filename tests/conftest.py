"""Shared fixtures: a running local AWS endpoint and boto3 clients pointed at it.

Tests reach the local stack over real HTTP on 127.0.0.1, exactly as users do.
Credentials are fake; nothing here can reach the internet or real AWS.

Under ``CI=true`` a skipped test fails the run: a part that bootstrap should have
installed (or a test that cannot run here) must not turn into a quiet green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from qbizfed.local.stack import LocalAws, LocalAwsSettings
from tests.support.ci_skips import pytest_runtest_makereport  # noqa: F401 - the hook

FAKE_ADMIN_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_ADMIN_SECRET = "fake-secret-for-the-local-stack-only-000"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@pytest.fixture(autouse=True, scope="session")
def _offline_aws_environment() -> Iterator[None]:
    """No test may pick up real credentials or talk to real AWS."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("AWS_"):
            del os.environ[key]
    os.environ["AWS_ACCESS_KEY_ID"] = FAKE_ADMIN_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = FAKE_ADMIN_SECRET
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """One local AWS endpoint for the whole run (resources are named uniquely per test)."""
    stack = LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.2)).start()
    os.environ["AWS_ENDPOINT_URL"] = stack.url
    try:
        yield stack
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        stack.stop()


@pytest.fixture
def fresh_local_aws() -> Iterator[LocalAws]:
    """A private endpoint for tests that change faults or need their own emulator state.

    moto's IAM state is process-wide, so names must still be unique.
    """
    stack = LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.2)).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def admin_client(local_aws: LocalAws) -> Any:
    """``admin_client("iam")``: a boto3 client with fake admin credentials at the local stack."""

    def make(service: str, **kwargs: Any) -> Any:
        return boto3.session.Session(
            aws_access_key_id=FAKE_ADMIN_KEY,
            aws_secret_access_key=FAKE_ADMIN_SECRET,
            region_name=REGION,
        ).client(service, endpoint_url=local_aws.url, **kwargs)

    return make


@pytest.fixture
def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:12]
