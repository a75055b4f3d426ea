"""The third-party peers' tokens and assertions become Email-tagged credentials too.

Same IAM set-up as for the dev IdP (tests/integration/test_idp_sts_federation.py):
an IAM provider for the peer, a role trusting it with TagSession, then boto3's
AssumeRoleWithWebIdentity / AssumeRoleWithSAML against ``qbizfed local aws``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from qbizfed.local.stack import LocalAws
from tests.peers.conftest import OidcPeer, Pysaml2Factory
from tests.peers.federation import oidc_federated_role, saml_federated_role, unsigned_sts
from tests.peers.flows import (
    authorize_url,
    login_for_code,
    login_for_saml,
    new_browser,
    stateless_client,
)

HTTP = stateless_client()  # one pooled client for plain requests

pytestmark = pytest.mark.peers

ACS_URL = "http://127.0.0.1:8765/saml"


def test_oidc_provider_peer_token_gives_email_tagged_credentials(
    local_aws: LocalAws, admin_client: Any, oidc_provider_peer: OidcPeer, unique_name: str
) -> None:
    peer = oidc_provider_peer
    doc = HTTP.get(peer.discovery_url).json()
    url = authorize_url(
        doc["authorization_endpoint"],
        client_id=peer.client_id,
        redirect_uri=peer.redirect_uri,
        scope="openid email aws",
        nonce="n-0123456789",
    )
    with new_browser() as browser:
        code = login_for_code(
            browser, url, redirect_uri=peer.redirect_uri, username="alice", password="demo"
        )["code"]
    id_token = HTTP.post(
        doc["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": peer.redirect_uri},
        auth=(peer.client_id, peer.client_secret),
    ).json()["id_token"]
    role = oidc_federated_role(
        admin_client("iam"), issuer=peer.issuer, client_id=peer.client_id, name=unique_name
    )
    answer = unsigned_sts(local_aws.url).assume_role_with_web_identity(
        RoleArn=role.role_arn, RoleSessionName="alice-peer", WebIdentityToken=id_token
    )
    assert answer["Provider"] == peer.issuer
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": "alice@example.com"}


def test_pysaml2_peer_assertion_gives_email_tagged_credentials(
    local_aws: LocalAws, admin_client: Any, pysaml2_peer_factory: Pysaml2Factory, unique_name: str
) -> None:
    from tests.peers.pysaml2_idp import PeerSp

    idp = pysaml2_peer_factory([])
    role = saml_federated_role(
        admin_client("iam"), metadata=idp.metadata_xml, acs_url=ACS_URL, name=unique_name
    )
    sp_entity = f"urn:test:{unique_name}"
    idp.register_sp(PeerSp(sp_entity, ACS_URL, f"{role.role_arn},{role.provider_arn}"))
    with new_browser() as browser:
        posted = login_for_saml(
            browser,
            f"{idp.url}/sso/idp-initiated?sp={sp_entity}",
            username="carol",
            password="demo",
        )
    answer = unsigned_sts(local_aws.url).assume_role_with_saml(
        RoleArn=role.role_arn,
        PrincipalArn=role.provider_arn,
        SAMLAssertion=base64.b64encode(posted.saml_response_xml).decode(),
    )
    assert answer["Audience"] == ACS_URL
    assert answer["Issuer"] == idp.entity_id
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": "carol@example.com"}
