"""STS throttling and server errors during the token exchange (``qbizfed.aws.sts``).

The exchange runs against ``fresh_local_aws`` (its own fault rules) with a real token
from a loopback issuer, through :class:`StsFederation` as the web app and the CLI use
it, and through :class:`HttpxStsFederation` (botocore's request, answer and retry rules
over httpx) as ``serve`` uses it: both must behave the same. Faults come from the
control endpoint. What must hold: a few throttled or failed
calls are retried by botocore with backoff and the user never notices; when STS keeps
failing, the user gets a clear error naming the cause and what to do, and nothing
secret in it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from qbizfed.aws.sts import (
    AwsCredentials,
    StsFederation,
    StsThrottledError,
    StsUnavailableError,
    StsUnreachableError,
)
from qbizfed.aws.sts_httpx import HttpxStsFederation
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.local.stack import LocalAws
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET
from tests.support.oidc_issuer import OidcIssuer, oidc_trust_policy, running_oidc_issuer

RETRIES = 2  # botocore retries after the first attempt: three attempts in all


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


def set_faults(stack: LocalAws, *rules: dict[str, Any]) -> None:
    assert httpx.post(f"{stack.url}/_qbizfed/faults", json={"rules": list(rules)}).is_success


def remaining_hits(stack: LocalAws) -> list[int | None]:
    return [r["count"] for r in httpx.get(f"{stack.url}/_qbizfed/faults").json()["rules"]]


def role_for(stack: LocalAws, issuer: OidcIssuer, name: str) -> str:
    iam = boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY, aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name="us-east-1",
    ).client("iam", endpoint_url=stack.url)  # fmt: skip
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
            if p["Arn"].endswith(issuer.host_path)]  # fmt: skip
    provider = arns[0] if arns else iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=[issuer.client_id], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]  # fmt: skip
    policy = oidc_trust_policy(provider, issuer.host_path, issuer.client_id)
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))
               ["Role"]["Arn"])  # fmt: skip


def identity(issuer: OidcIssuer) -> FederatedIdentity:
    return FederatedIdentity(
        protocol="oidc", email="ada@example.com", subject="user-0001", issuer=issuer.url,
        credential=issuer.mint(), session_tags=(("Email", "ada@example.com"),),
        audiences=(issuer.client_id,),
    )  # fmt: skip


def assume(transport: str, url: str, who: FederatedIdentity, role: str) -> AwsCredentials:
    """One AssumeRoleWithWebIdentity through boto3 (``boto3``) or serve's httpx path."""
    if transport == "boto3":
        return StsFederation(endpoint_url=url, max_attempts=RETRIES).assume(who, role)

    async def through_httpx() -> AwsCredentials:
        async with httpx.AsyncClient() as http:
            federation = HttpxStsFederation(http, endpoint_url=url, max_attempts=RETRIES)
            return await federation.assume_async(who, role)

    return asyncio.run(through_httpx())


TRANSPORTS = pytest.mark.parametrize("transport", ["boto3", "httpx"])


@TRANSPORTS
@pytest.mark.parametrize("kind", ["throttle", "error"], ids=["throttling", "server_error"])
def test_a_few_sts_faults_are_retried_with_backoff(
    fresh_local_aws: LocalAws, issuer: OidcIssuer, unique_name: str, kind: str, transport: str
) -> None:
    role = role_for(fresh_local_aws, issuer, unique_name)
    set_faults(fresh_local_aws, {"kind": kind, "service": "sts",
                                 "operation": "AssumeRoleWithWebIdentity", "count": 2})  # fmt: skip
    credentials = assume(transport, fresh_local_aws.url, identity(issuer), role)
    assert remaining_hits(fresh_local_aws) == []  # both faults were met, then served
    assert credentials.tags == {"Email": "ada@example.com"}
    assert credentials.access_key_id.startswith("ASIA")


def test_the_retries_are_botocores_standard_mode() -> None:
    # Exponential backoff with full jitter; HttpxStsFederation runs the same policy objects.
    sts = StsFederation(endpoint_url="http://127.0.0.1:9", max_attempts=RETRIES)
    assert sts.client.meta.config.retries["mode"] == "standard"


@TRANSPORTS
def test_persistent_throttling_ends_in_a_clear_message(
    fresh_local_aws: LocalAws, issuer: OidcIssuer, unique_name: str, transport: str
) -> None:
    role = role_for(fresh_local_aws, issuer, unique_name)
    set_faults(fresh_local_aws, {"kind": "throttle", "service": "sts", "count": 50})
    who = identity(issuer)
    with pytest.raises(StsThrottledError) as failure:
        assume(transport, fresh_local_aws.url, who, role)
    assert remaining_hits(fresh_local_aws) == [50 - (RETRIES + 1)]
    assert failure.value.code == "Throttling"
    assert "wait" in failure.value.remedy
    assert who.credential not in failure.value.diagnostics()


@TRANSPORTS
def test_persistent_sts_server_errors_end_in_a_clear_message(
    fresh_local_aws: LocalAws, issuer: OidcIssuer, unique_name: str, transport: str
) -> None:
    role = role_for(fresh_local_aws, issuer, unique_name)
    set_faults(fresh_local_aws, {"kind": "error", "service": "sts", "count": 50})
    who = identity(issuer)
    with pytest.raises(StsUnavailableError) as failure:
        assume(transport, fresh_local_aws.url, who, role)
    assert remaining_hits(fresh_local_aws) == [50 - (RETRIES + 1)]
    assert failure.value.code == "InternalFailure"
    assert who.credential not in failure.value.diagnostics()
    remedy = failure.value.remedy.lower()
    assert "again" in remedy or "retry" in remedy, failure.value.remedy
    assert "trust policy" not in remedy, failure.value.remedy


@TRANSPORTS
def test_an_sts_endpoint_that_does_not_answer_is_named(issuer: OidcIssuer, transport: str) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(StsUnreachableError) as failure:
        assume(transport, url, identity(issuer), "arn:aws:iam::123456789012:role/nobody")
    assert "could not reach STS" in failure.value.message
