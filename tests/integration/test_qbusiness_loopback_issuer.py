"""Where the emulator is looser than AWS: the dev IdP on a loopback port over http.

AWS's pattern for identity-provider ARNs has no ``:``, so a real application can never
use an issuer with a port; the dev IdP always has one. For loopback hosts only, the
port is ignored when the pattern is checked. Anything else keeps AWS's rule.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from tests.conftest import ACCOUNT_ID, FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION


def _qb(local_aws: LocalAws) -> Any:
    return boto3.client(
        "qbusiness",
        endpoint_url=local_aws.url,
        region_name=REGION,
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1:9000", "localhost:41234", "127.0.0.1:9000/realms/demo"]
)
def test_loopback_issuer_with_port_backs_an_application(
    local_aws: LocalAws, unique_name: str, host: str
) -> None:
    created = _qb(local_aws).create_application(
        displayName=unique_name,
        identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn=f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}",
        clientIdsForOIDC=["demo"],
    )
    assert created["applicationId"]


@pytest.mark.parametrize(
    "host", ["idp.example.com:8443", "10.0.0.1:9000", "127.0.0.1.evil.test:80"]
)
def test_other_issuers_with_a_port_are_refused_as_aws_refuses_them(
    local_aws: LocalAws, unique_name: str, host: str
) -> None:
    with pytest.raises(ClientError) as info:
        _qb(local_aws).create_application(
            displayName=unique_name,
            identityType="AWS_IAM_IDP_OIDC",
            iamIdentityProviderArn=f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}",
            clientIdsForOIDC=["demo"],
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"


def _saml_app(local_aws: LocalAws, name: str) -> str:
    qb = _qb(local_aws)
    app = qb.create_application(
        displayName=name,
        identityType="AWS_IAM_IDP_SAML",
        iamIdentityProviderArn=f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/{name}",
    )["applicationId"]
    return str(app)


def test_loopback_http_saml_sign_in_url_is_accepted(local_aws: LocalAws, unique_name: str) -> None:
    app = _saml_app(local_aws, unique_name)
    created = _qb(local_aws).create_web_experience(
        applicationId=app,
        identityProviderConfiguration={
            "samlConfiguration": {"authenticationUrl": "http://127.0.0.1:9000/saml/sso"}
        },
    )
    assert created["webExperienceId"]


@pytest.mark.parametrize("url", ["http://idp.example.com/sso", "http://127.0.0.1.evil.test/sso"])
def test_other_plain_http_saml_sign_in_urls_are_refused(
    local_aws: LocalAws, unique_name: str, url: str
) -> None:
    app = _saml_app(local_aws, unique_name)
    with pytest.raises(ClientError) as info:
        _qb(local_aws).create_web_experience(
            applicationId=app,
            identityProviderConfiguration={"samlConfiguration": {"authenticationUrl": url}},
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
