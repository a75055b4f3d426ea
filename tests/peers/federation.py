"""IAM set-up for federation tests: an IdP registered in IAM and a role that trusts it.

Trust policies follow docs/aws-facts.md ("Trust policies"): OIDC
``sts:AssumeRoleWithWebIdentity`` with
``<issuer host+path>:aud`` = client ID (and the stricter ``aws:RequestTag/Email``
requirement), SAML ``sts:AssumeRoleWithSAML`` with ``SAML:aud`` = the ACS URL, and
``sts:TagSession`` for both, so the ``Email`` session tag can be set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore
from botocore.config import Config


@dataclass(frozen=True)
class FederatedRole:
    provider_arn: str
    role_arn: str


def _tag_session(provider_arn: str) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:TagSession",
        "Condition": {"StringLike": {"aws:RequestTag/Email": "*"}},
    }


def issuer_host_path(issuer: str) -> str:
    parts = urlsplit(issuer)
    return parts.netloc + parts.path.rstrip("/")


def ensure_oidc_provider(iam: Any, *, issuer: str, client_ids: list[str]) -> str:
    """The IAM OIDC provider for ``issuer`` (IAM keeps one per URL), knowing ``client_ids``.

    An earlier test's IdP may have had the same loopback port, so a provider for the URL
    can exist already: the missing client ids are added to it (the local stack implements
    AddClientIDToOpenIDConnectProvider, which moto lacks).
    """
    wanted = issuer_host_path(issuer)
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        arn = str(entry["Arn"])
        if arn.split(":oidc-provider/", 1)[1] == wanted:
            known = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]
            for client_id in sorted(set(client_ids) - set(known)):
                iam.add_client_id_to_open_id_connect_provider(
                    OpenIDConnectProviderArn=arn, ClientID=client_id
                )
            return arn
    return str(
        iam.create_open_id_connect_provider(
            Url=issuer, ClientIDList=client_ids, ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
    )


def oidc_federated_role(iam: Any, *, issuer: str, client_id: str, name: str) -> FederatedRole:
    provider_arn = ensure_oidc_provider(iam, issuer=issuer, client_ids=[client_id])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{issuer_host_path(issuer)}:aud": client_id},
                    "StringLike": {"aws:RequestTag/Email": "*"},
                },
            },
            _tag_session(provider_arn),
        ],
    }
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"][
        "Arn"
    ]
    return FederatedRole(provider_arn, role_arn)


def saml_federated_role(iam: Any, *, metadata: str, acs_url: str, name: str) -> FederatedRole:
    provider_arn = iam.create_saml_provider(SAMLMetadataDocument=metadata, Name=name)[
        "SAMLProviderArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": acs_url}},
            },
            _tag_session(provider_arn),
        ],
    }
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"][
        "Arn"
    ]
    return FederatedRole(provider_arn, role_arn)


def unsigned_sts(endpoint_url: str) -> Any:
    """STS federation calls are unsigned, as AWS SDKs send them."""
    return boto3.session.Session(region_name="us-east-1").client(
        "sts",
        endpoint_url=endpoint_url,
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )
