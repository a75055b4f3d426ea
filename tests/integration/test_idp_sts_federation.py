"""The dev IdP's ID tokens and SAML assertions become Email-tagged STS credentials.

``qbizfed local aws`` plays AWS: IAM (moto) holds the OIDC/SAML provider created from
the IdP's issuer URL and metadata, and its federation STS validates what the IdP
issued before minting credentials. Everything goes through boto3 over loopback HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret, ServiceProvider
from qbizfed.local.stack import LocalAws
from tests.peers.federation import (
    ensure_oidc_provider,
    oidc_federated_role,
    saml_federated_role,
    unsigned_sts,
)
from tests.peers.flows import (
    authorize_url,
    login_for_code,
    login_for_saml,
    new_browser,
    stateless_client,
)

HTTP = stateless_client()  # one pooled client for plain requests

CLIENT_ID = "qbiz-dev-web"
CLIENT_SECRET = "qbiz-dev-web-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
ACS_URL = "http://127.0.0.1:8765/saml"


OTHER_CLIENT_ID = "some-other-client"


@pytest.fixture(scope="module")
def idp(local_aws: LocalAws) -> Iterator[DevIdp]:
    """The dev IdP, registered in IAM as an OIDC provider for two client IDs."""
    client = OidcClient(CLIENT_ID, Secret(CLIENT_SECRET), (REDIRECT_URI,))
    with DevIdp(DevIdpSettings(port=0, clients=(client,))) as running:
        iam = boto3.client("iam", endpoint_url=local_aws.url)
        ensure_oidc_provider(iam, issuer=running.issuer, client_ids=[CLIENT_ID, OTHER_CLIENT_ID])
        yield running


def id_token_for(idp: DevIdp, username: str) -> str:
    url = authorize_url(idp.url + "/oidc/authorize", client_id=CLIENT_ID, redirect_uri=REDIRECT_URI)
    with new_browser() as browser:
        code = login_for_code(
            browser, url, redirect_uri=REDIRECT_URI, username=username, password="demo"
        )["code"]
    tokens = HTTP.post(
        idp.url + "/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    tokens.raise_for_status()
    token: str = tokens.json()["id_token"]
    return token


@pytest.mark.parametrize("username", ["alice", "carol"])
def test_oidc_id_token_gives_email_tagged_credentials(
    local_aws: LocalAws, admin_client: Any, idp: DevIdp, unique_name: str, username: str
) -> None:
    role = oidc_federated_role(
        admin_client("iam"), issuer=idp.issuer, client_id=CLIENT_ID, name=unique_name
    )
    answer = unsigned_sts(local_aws.url).assume_role_with_web_identity(
        RoleArn=role.role_arn,
        RoleSessionName=f"{username}@example.com",
        WebIdentityToken=id_token_for(idp, username),
    )
    assert answer["Provider"] == idp.issuer
    assert answer["Audience"] == CLIENT_ID
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": f"{username}@example.com"}


def test_oidc_token_for_another_audience_is_refused_by_the_trust_policy(
    local_aws: LocalAws, admin_client: Any, idp: DevIdp, unique_name: str
) -> None:
    """The role trusts only ``some-other-client`` tokens; ours have aud = CLIENT_ID."""
    role = oidc_federated_role(
        admin_client("iam"), issuer=idp.issuer, client_id=OTHER_CLIENT_ID, name=unique_name
    )
    with pytest.raises(ClientError) as refused:
        unsigned_sts(local_aws.url).assume_role_with_web_identity(
            RoleArn=role.role_arn,
            RoleSessionName="bob-session",
            WebIdentityToken=id_token_for(idp, "bob"),
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_saml_assertion_gives_email_tagged_credentials(
    local_aws: LocalAws, admin_client: Any, idp: DevIdp, unique_name: str
) -> None:
    role = saml_federated_role(
        admin_client("iam"), metadata=idp.saml_metadata_xml, acs_url=ACS_URL, name=unique_name
    )
    sp_entity = f"urn:test:{unique_name}"
    idp.register_service_provider(
        ServiceProvider(
            entity_id=sp_entity,
            acs_urls=(ACS_URL,),
            role_arn=role.role_arn,
            provider_arn=role.provider_arn,
        )
    )
    with new_browser() as browser:
        posted = login_for_saml(
            browser, f"{idp.saml_sso_url}?providerId={sp_entity}", username="bob", password="demo"
        )
    answer = unsigned_sts(local_aws.url).assume_role_with_saml(
        RoleArn=role.role_arn,
        PrincipalArn=role.provider_arn,
        SAMLAssertion=base64.b64encode(posted.saml_response_xml).decode(),
    )
    assert answer["Audience"] == ACS_URL
    assert answer["Issuer"] == idp.saml_entity_id
    assert answer["Subject"] == "bob@example.com"
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": "bob@example.com"}


def test_saml_assertion_for_another_acs_is_refused_by_the_trust_policy(
    local_aws: LocalAws, admin_client: Any, idp: DevIdp, unique_name: str
) -> None:
    role = saml_federated_role(
        admin_client("iam"), metadata=idp.saml_metadata_xml, acs_url=ACS_URL, name=unique_name
    )
    sp_entity = f"urn:test:{unique_name}"
    other_acs = "http://127.0.0.1:8765/other-app/saml"
    idp.register_service_provider(
        ServiceProvider(
            sp_entity, (other_acs,), role_arn=role.role_arn, provider_arn=role.provider_arn
        )
    )
    with new_browser() as browser:
        posted = login_for_saml(
            browser, f"{idp.saml_sso_url}?providerId={sp_entity}", username="bob", password="demo"
        )
    with pytest.raises(ClientError) as refused:
        unsigned_sts(local_aws.url).assume_role_with_saml(
            RoleArn=role.role_arn,
            PrincipalArn=role.provider_arn,
            SAMLAssertion=base64.b64encode(posted.saml_response_xml).decode(),
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
