"""The lean path of STS's unsigned federation calls (``qbizfed.aws.unsigned_sts``) answers
exactly as the boto3 client it is built from, against ``qbizfed local aws``.

Retries and the error mapping through the lean path are tested where users meet them:
tests/integration/test_faults_sts.py (throttling, 5xx, attempt counts) and
tests/integration/test_identity_sts_exchange.py (each refusal's explanation).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qbizfed.aws.sts import StsFederation, federation_client, role_session_name
from qbizfed.aws.unsigned_sts import UnsignedStsCalls
from qbizfed.local.stack import LocalAws
from tests.integration.test_identity_sts_exchange import issuer, validated_identity
from tests.support.oidc_issuer import OidcIssuer, register_oidc_role

__all__ = ["issuer"]  # the module-scoped fixture, shared


def _params(issuer: OidcIssuer, role_arn: str, **extra: Any) -> dict[str, Any]:
    identity = validated_identity(issuer)
    return {"RoleArn": role_arn, "RoleSessionName": role_session_name(identity.email),
            "WebIdentityToken": identity.credential, "DurationSeconds": 900, **extra}  # fmt: skip


def test_the_lean_call_answers_as_the_client_does(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    client = federation_client()
    lean = UnsignedStsCalls.of(client, max_attempts=1)
    assert lean is not None
    params = _params(issuer, role.role_arn)
    expected = client.assume_role_with_web_identity(**params)
    answer = lean.call("AssumeRoleWithWebIdentity", params)
    assert answer.keys() == expected.keys()
    assert answer["Credentials"].keys() == expected["Credentials"].keys()
    assert answer["Credentials"]["Expiration"].tzinfo is not None
    assert answer["AssumedRoleUser"]["Arn"] == expected["AssumedRoleUser"]["Arn"]
    assert answer["SubjectFromWebIdentityToken"] == expected["SubjectFromWebIdentityToken"]


def test_a_refusal_is_the_clients_client_error(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    client = federation_client()
    lean = UnsignedStsCalls.of(client, max_attempts=1)
    assert lean is not None
    params = _params(issuer, f"arn:aws:iam::123456789012:role/{unique_name}-missing")
    with pytest.raises(ClientError) as from_client:
        client.assume_role_with_web_identity(**params)
    with pytest.raises(ClientError) as from_lean:
        lean.call("AssumeRoleWithWebIdentity", params)
    mine, theirs = from_lean.value.response, from_client.value.response
    assert mine["Error"] == theirs["Error"]
    assert (mine["ResponseMetadata"]["HTTPStatusCode"]
            == theirs["ResponseMetadata"]["HTTPStatusCode"])  # fmt: skip
    assert from_lean.value.operation_name == "AssumeRoleWithWebIdentity"


def test_only_an_unsigned_sts_client_gets_the_lean_path(local_aws: LocalAws) -> None:
    signed = boto3.session.Session(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="fake", region_name="us-east-1"
    ).client("sts")
    assert UnsignedStsCalls.of(signed, max_attempts=1) is None
    assert UnsignedStsCalls.of(object(), max_attempts=1) is None
    federation = StsFederation()
    assert UnsignedStsCalls.of(federation.client, max_attempts=1) is not None
