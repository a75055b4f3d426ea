"""AssumeRoleWithWebIdentity through boto3 against ``qbizfed local aws``, as users call it.

A loopback OIDC issuer mints real ID tokens; IAM (moto) holds the provider and the
role; the federation STS validates the token, evaluates the trust policy and records
the session with its tags.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from tests.conftest import ACCOUNT_ID, REGION
from tests.support.oidc_issuer import (
    OidcIssuer,
    OidcRole,
    ensure_oidc_provider,
    oidc_trust_policy,
    register_oidc_role,
    running_oidc_issuer,
)


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


@pytest.fixture
def oidc_role(admin_client: Any, issuer: OidcIssuer, unique_name: str) -> OidcRole:
    return register_oidc_role(admin_client("iam"), issuer, unique_name)


@pytest.fixture
def unsigned_sts(local_aws: LocalAws) -> Any:
    return boto3.session.Session(region_name=REGION).client(
        "sts",
        endpoint_url=local_aws.url,
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )


def test_valid_token_gets_tagged_credentials(
    local_aws: LocalAws, unsigned_sts: Any, issuer: OidcIssuer, oidc_role: OidcRole
) -> None:
    token = issuer.mint(sub="user-ada", email="ada@example.com")
    answer = unsigned_sts.assume_role_with_web_identity(
        RoleArn=oidc_role.role_arn,
        RoleSessionName="ada-session",
        WebIdentityToken=token,
        DurationSeconds=1800,
    )
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    remaining = credentials["Expiration"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=1790) < remaining <= dt.timedelta(seconds=1800)
    assert answer["SubjectFromWebIdentityToken"] == "user-ada"
    assert answer["Audience"] == issuer.client_id
    assert answer["Provider"] == issuer.url
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{oidc_role.role_name}/ada-session"
    )
    session = local_aws.registry.lookup(credentials["AccessKeyId"])
    assert session is not None
    assert session.email == "ada@example.com"
    assert dict(session.tags) == {"Email": "ada@example.com"}
    assert session.federated_by == oidc_role.provider_arn
    assert session.subject == "user-ada"


def test_caller_identity_of_the_issued_session(
    local_aws: LocalAws, unsigned_sts: Any, issuer: OidcIssuer, oidc_role: OidcRole
) -> None:
    credentials = unsigned_sts.assume_role_with_web_identity(
        RoleArn=oidc_role.role_arn, RoleSessionName="who-am-i", WebIdentityToken=issuer.mint()
    )["Credentials"]
    role_id = boto3.client("iam", endpoint_url=local_aws.url).get_role(
        RoleName=oidc_role.role_name
    )["Role"]["RoleId"]
    identity = (
        boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        .client("sts", endpoint_url=local_aws.url)
        .get_caller_identity()
    )
    assert identity["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{oidc_role.role_name}/who-am-i"
    )
    assert identity["UserId"] == f"{role_id}:who-am-i"
    assert identity["Account"] == ACCOUNT_ID


def test_transitive_tag_keys_are_recorded(
    local_aws: LocalAws, unsigned_sts: Any, issuer: OidcIssuer, oidc_role: OidcRole
) -> None:
    tags = {
        "principal_tags": {"Email": ["bo@example.com"], "Dept": ["eng"]},
        "transitive_tag_keys": ["Dept"],
    }
    credentials = unsigned_sts.assume_role_with_web_identity(
        RoleArn=oidc_role.role_arn,
        RoleSessionName="bo",
        WebIdentityToken=issuer.mint(tags=tags),
    )["Credentials"]
    session = local_aws.registry.lookup(credentials["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": "bo@example.com", "Dept": "eng"}
    assert session.transitive_tag_keys == ("Dept",)


def test_source_identity_when_the_trust_policy_allows_it(
    admin_client: Any, unsigned_sts: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    iam = admin_client("iam")
    provider_arn = ensure_oidc_provider(iam, issuer)
    policy = oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id)
    policy["Statement"][1]["Action"] = ["sts:TagSession", "sts:SetSourceIdentity"]
    role = register_oidc_role(iam, issuer, unique_name, trust_policy=policy)
    token = issuer.mint(extra_claims={"https://aws.amazon.com/source_identity": "ada-lovelace"})
    answer = unsigned_sts.assume_role_with_web_identity(
        RoleArn=role.role_arn, RoleSessionName="traced", WebIdentityToken=token
    )
    assert answer["SourceIdentity"] == "ada-lovelace"


def test_jwks_is_cached_per_issuer(
    local_aws: LocalAws, unsigned_sts: Any, issuer: OidcIssuer, oidc_role: OidcRole
) -> None:
    for name in ("first", "second", "third"):
        unsigned_sts.assume_role_with_web_identity(
            RoleArn=oidc_role.role_arn, RoleSessionName=name, WebIdentityToken=issuer.mint()
        )
    before = issuer.jwks_requests
    unsigned_sts.assume_role_with_web_identity(
        RoleArn=oidc_role.role_arn, RoleSessionName="fourth", WebIdentityToken=issuer.mint()
    )
    assert issuer.jwks_requests == before


def test_rotated_key_is_fetched_once(
    local_aws: LocalAws, admin_client: Any, unique_name: str
) -> None:
    with running_oidc_issuer() as rotating:
        role = register_oidc_role(admin_client("iam"), rotating, unique_name)
        sts = boto3.client("sts", endpoint_url=local_aws.url)
        sts.assume_role_with_web_identity(
            RoleArn=role.role_arn, RoleSessionName="before", WebIdentityToken=rotating.mint()
        )
        fetched = rotating.jwks_requests
        rotating.rotate("test-key-2")
        sts.assume_role_with_web_identity(
            RoleArn=role.role_arn, RoleSessionName="after", WebIdentityToken=rotating.mint()
        )
        assert rotating.jwks_requests == fetched + 1


def test_aws_cli_assume_role_with_web_identity(
    local_aws: LocalAws, issuer: OidcIssuer, oidc_role: OidcRole, tmp_path: Path
) -> None:
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed in this venv")
    token_file = tmp_path / "token"
    token_file.write_text(issuer.mint(email="cli@example.com"))
    completed = subprocess.run(
        [
            str(aws),
            "sts",
            "assume-role-with-web-identity",
            "--endpoint-url",
            local_aws.url,
            "--region",
            REGION,
            "--role-arn",
            oidc_role.role_arn,
            "--role-session-name",
            "from-cli",
            "--web-identity-token",
            f"file://{token_file}",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert session.email == "cli@example.com"
    assert answer["AssumedRoleUser"]["Arn"].endswith(f"/{oidc_role.role_name}/from-cli")


@pytest.mark.parametrize(
    ("forgery", "code"),
    [("wrong_secret", "SignatureDoesNotMatch"), ("wrong_session_token", "InvalidClientTokenId")],
)
def test_caller_identity_with_forged_credentials_is_refused(
    forgery: str,
    code: str,
    local_aws: LocalAws,
    unsigned_sts: Any,
    issuer: OidcIssuer,
    oidc_role: OidcRole,
) -> None:
    credentials = unsigned_sts.assume_role_with_web_identity(
        RoleArn=oidc_role.role_arn, RoleSessionName="forger", WebIdentityToken=issuer.mint()
    )["Credentials"]
    secret = credentials["SecretAccessKey"]
    token = credentials["SessionToken"]
    if forgery == "wrong_secret":
        secret = "A" * 40
    else:
        token = token[:-4] + "AAAA"
    sts = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    ).client("sts", endpoint_url=local_aws.url, config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as info:
        sts.get_caller_identity()
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
