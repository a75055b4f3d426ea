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


def _with_certificate(idp: SamlIdp, *, not_before: dt.datetime, not_after: dt.datetime) -> SamlIdp:
    """``idp`` with its key in a self-signed certificate valid from/to the given moments."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qbizfed expired test IdP")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(idp.private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(idp.private_key, hashes.SHA256())
    )
    return SamlIdp(entity_id=idp.entity_id, private_key=idp.private_key, certificate=certificate)


def test_expired_provider_certificate_is_named_not_a_bad_signature(
    local_aws: LocalAws, unsigned_sts: Any, unique_name: str
) -> None:
    """Signed by the key the provider's (expired) certificate holds, right issuer, fresh:
    the only fault is the certificate's validity, and the refusal says so."""
    now = dt.datetime.now(dt.UTC)
    expired = _with_certificate(
        make_idp(), not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=2)
    )
    iam = boto3.client("iam", endpoint_url=local_aws.url, region_name=REGION)
    role = register_saml_role(iam, expired, unique_name)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        _assume(unsigned_sts, role, build_response(expired, role.spec()))
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidIdentityToken"
    assert "signing certificate expired at" in error["Message"]
    assert "signature invalid" not in error["Message"]


def test_other_key_under_an_expired_certificate_is_still_a_bad_signature(
    local_aws: LocalAws, unsigned_sts: Any, unique_name: str
) -> None:
    """"Expired" is only said when the expired certificate's key made the signature."""
    now = dt.datetime.now(dt.UTC)
    expired = _with_certificate(
        make_idp(), not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=2)
    )
    iam = boto3.client("iam", endpoint_url=local_aws.url, region_name=REGION)
    role = register_saml_role(iam, expired, unique_name)
    attacker = SamlIdp(
        entity_id=expired.entity_id, private_key=make_idp().private_key,
        certificate=expired.certificate,
    )  # fmt: skip
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        _assume(unsigned_sts, role, build_response(attacker, role.spec()))
    assert refused.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "signature invalid" in refused.value.response["Error"]["Message"]
    assert "expired" not in refused.value.response["Error"]["Message"]
