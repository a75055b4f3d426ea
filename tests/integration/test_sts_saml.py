"""AssumeRoleWithSAML through boto3 against ``qbizfed local aws``, as users call it.

A test IdP's metadata is registered with CreateSAMLProvider; signed Responses from
``tests.support.saml_assertions`` are exchanged for tagged credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config

from qbizfed.local.stack import LocalAws
from tests.conftest import ACCOUNT_ID, REGION
from tests.support.saml_assertions import (
    AWS_SIGNIN,
    SamlIdp,
    SamlRole,
    build_response,
    encode,
    make_idp,
    register_saml_role,
)


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return make_idp()


@pytest.fixture
def saml_role(local_aws: LocalAws, idp: SamlIdp, unique_name: str) -> SamlRole:
    iam = boto3.client("iam", endpoint_url=local_aws.url, region_name=REGION)
    return register_saml_role(iam, idp, unique_name)


@pytest.fixture(scope="module")
def unsigned_sts(local_aws: LocalAws) -> Any:
    return boto3.session.Session(region_name=REGION).client(
        "sts",
        endpoint_url=local_aws.url,
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )


def _assume(sts: Any, role: SamlRole, assertion: bytes, **extra: Any) -> Any:
    return sts.assume_role_with_saml(
        RoleArn=role.role_arn,
        PrincipalArn=role.provider_arn,
        SAMLAssertion=encode(assertion),
        **extra,
    )


@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_signed_response_gets_tagged_credentials(
    sign: Any, local_aws: LocalAws, unsigned_sts: Any, idp: SamlIdp, saml_role: SamlRole
) -> None:
    spec = saml_role.spec(email="grace@example.com", session_name="grace@example.com")
    answer = _assume(unsigned_sts, saml_role, build_response(idp, spec, sign=sign))
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{saml_role.role_name}/grace@example.com"
    )
    assert answer["Subject"] == "ada@example.com"
    assert answer["SubjectType"] == "persistent"
    assert answer["Issuer"] == idp.entity_id
    assert answer["Audience"] == AWS_SIGNIN
    expected_qualifier = base64.b64encode(
        hashlib.sha1(
            f"{idp.entity_id}{ACCOUNT_ID}/{saml_role.role_name}".encode(), usedforsecurity=False
        ).digest()
    ).decode()
    assert answer["NameQualifier"] == expected_qualifier
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert session.email == "grace@example.com"
    assert session.federated_by == saml_role.provider_arn


def test_session_duration_attribute_caps_the_duration(
    unsigned_sts: Any, idp: SamlIdp, saml_role: SamlRole
) -> None:
    spec = saml_role.spec(session_duration="1000")
    answer = _assume(unsigned_sts, saml_role, build_response(idp, spec), DurationSeconds=3000)
    remaining = answer["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=990) < remaining <= dt.timedelta(seconds=1000)


def test_session_not_on_or_after_caps_the_duration(
    unsigned_sts: Any, idp: SamlIdp, saml_role: SamlRole
) -> None:
    spec = saml_role.spec(session_not_on_or_after_offset=1200)
    answer = _assume(unsigned_sts, saml_role, build_response(idp, spec))
    remaining = answer["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=1180) < remaining <= dt.timedelta(seconds=1200)


def test_caller_identity_of_a_saml_session(
    local_aws: LocalAws, unsigned_sts: Any, idp: SamlIdp, saml_role: SamlRole
) -> None:
    credentials = _assume(unsigned_sts, saml_role, build_response(idp, saml_role.spec()))[
        "Credentials"
    ]
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
    assert identity["Arn"].endswith(f":assumed-role/{saml_role.role_name}/ada@example.com")
    assert identity["UserId"].endswith(":ada@example.com")
