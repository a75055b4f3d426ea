"""STS throttling and server errors during the token exchange (``qbizfed.aws.sts``).

The exchange runs against ``fresh_local_aws`` (its own fault rules) with a real token
from a loopback issuer, through :class:`StsFederation` as the web app and the CLI use
it. Faults come from the control endpoint. What must hold: a few throttled or failed
calls are retried by botocore with backoff and the user never notices; when STS keeps
failing, the user gets a clear error naming the cause and what to do, and nothing
secret in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from qbizfed.aws.sts import StsError, StsFederation, StsThrottledError
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


@pytest.mark.parametrize("kind", ["throttle", "error"], ids=["throttling", "server_error"])
def test_a_few_sts_faults_are_retried_with_backoff(
    fresh_local_aws: LocalAws, issuer: OidcIssuer, unique_name: str, kind: str
) -> None:
    role = role_for(fresh_local_aws, issuer, unique_name)
    set_faults(fresh_local_aws, {"kind": kind, "service": "sts",
                                 "operation": "AssumeRoleWithWebIdentity", "count": 2})  # fmt: skip
    sts = StsFederation(endpoint_url=fresh_local_aws.url, max_attempts=RETRIES)
    credentials = sts.assume(identity(issuer), role)
    assert remaining_hits(fresh_local_aws) == []  # both faults were met, then served
    assert credentials.tags == {"Email": "ada@example.com"}
    assert credentials.access_key_id.startswith("ASIA")
    # The retries are botocore's standard mode: exponential backoff with full jitter.
    assert sts.client.meta.config.retries["mode"] == "standard"


def test_persistent_throttling_ends_in_a_clear_message(
    fresh_local_aws: LocalAws, issuer: OidcIssuer, unique_name: str
) -> None:
    role = role_for(fresh_local_aws, issuer, unique_name)
    set_faults(fresh_local_aws, {"kind": "throttle", "service": "sts", "count": 50})
    sts = StsFederation(endpoint_url=fresh_local_aws.url, max_attempts=RETRIES)
    who = identity(issuer)
    with pytest.raises(StsThrottledError) as failure:
        sts.assume(who, role)
    assert remaining_hits(fresh_local_aws) == [50 - (RETRIES + 1)]
    assert failure.value.code == "Throttling"
    assert "wait" in failure.value.remedy
    assert who.credential not in failure.value.diagnostics()


def test_persistent_sts_server_errors_end_in_a_clear_message(
    fresh_local_aws: LocalAws, issuer: OidcIssuer, unique_name: str
) -> None:
    role = role_for(fresh_local_aws, issuer, unique_name)
    set_faults(fresh_local_aws, {"kind": "error", "service": "sts", "count": 50})
    sts = StsFederation(endpoint_url=fresh_local_aws.url, max_attempts=RETRIES)
    who = identity(issuer)
    with pytest.raises(StsError) as failure:
        sts.assume(who, role)
    assert remaining_hits(fresh_local_aws) == [50 - (RETRIES + 1)]
    assert failure.value.code == "InternalFailure"
    assert who.credential not in failure.value.diagnostics()
    remedy = failure.value.remedy.lower()
    assert "again" in remedy or "retry" in remedy, failure.value.remedy
    assert "trust policy" not in remedy, failure.value.remedy
