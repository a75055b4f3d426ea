"""Full sign-ins through the web broker against third-party IdPs, with local AWS as STS.

* OIDC: the npm ``oidc-provider`` (OpenID-certified), started here with a client whose
  redirect URI is this broker's callback; the ``aws`` scope releases the AWS tags claim.
* SAML: pysaml2's IdP (signing through Debian's xmlsec1, RSA-SHA256).

Both end on the account page, with credentials that the local STS issued and tagged.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from qbizfed.local.stack import LocalAws
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.saml import SamlRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.conftest import REGION
from tests.integration.test_serve_harness import UvicornServer
from tests.peers.conftest import PEER_USERS, missing_peer, running_oidc_provider
from tests.peers.flows import browse, login_for_saml
from tests.support.chat_permissions import grant_chat_permissions
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.saml_assertions import saml_trust_policy

pytestmark = pytest.mark.peers

CLIENT_ID = "qbizfed-serve-peer"
CLIENT_SECRET = "qbizfed-serve-peer-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def server() -> Iterator[UvicornServer]:
    bound = UvicornServer()
    yield bound
    bound.stop()


@pytest.fixture(scope="module")
def node_peer(server: UvicornServer) -> Iterator[str]:
    """npm oidc-provider knowing this broker's callback; yields its issuer."""
    client: dict[str, object] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [server.url + "/auth/oidc/callback"],
        "post_logout_redirect_uris": [server.url + "/signed-out"],
    }
    # the name reaches the broker only by UserInfo
    with running_oidc_provider([client], profile_in_userinfo_only=True) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def saml_peer(server: UvicornServer) -> Iterator[Any]:
    if not Path("/usr/bin/xmlsec1").exists():
        missing_peer("Debian's xmlsec1 is missing")
    from tests.peers.pysaml2_idp import PeerUser, Pysaml2Idp

    users = [PeerUser(u["username"], u["email"], u["name"]) for u in PEER_USERS]
    idp = Pysaml2Idp(users, []).start()
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def broker(
    local_aws: LocalAws, server: UvicornServer, node_peer: str, saml_peer: Any
) -> dict[str, str]:
    from tests.peers.pysaml2_idp import PeerSp

    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
    name = "peer" + uuid.uuid4().hex[:8]
    oidc_provider = iam.create_open_id_connect_provider(
        Url=node_peer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    host_path = node_peer.split("://", 1)[1]
    oidc_role = iam.create_role(
        RoleName=name + "-oidc",
        AssumeRolePolicyDocument=json.dumps(oidc_trust_policy(oidc_provider, host_path, CLIENT_ID)),
    )["Role"]["Arn"]
    grant_chat_permissions(iam, oidc_role)
    acs = server.url + "/saml"
    saml_provider = iam.create_saml_provider(
        SAMLMetadataDocument=saml_peer.metadata_xml, Name=name + "-saml"
    )["SAMLProviderArn"]
    saml_role = iam.create_role(
        RoleName=name + "-saml",
        AssumeRolePolicyDocument=json.dumps(saml_trust_policy(saml_provider, [acs])),
    )["Role"]["Arn"]
    grant_chat_permissions(iam, saml_role)
    saml_peer.register_sp(PeerSp(entity_id=acs, acs_url=acs,
                                 role_attribute=f"{saml_role},{saml_provider}"))  # fmt: skip
    settings = WebSettings(
        oidc=OidcRegistration(
            issuer=node_peer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=server.url + "/auth/oidc/callback",
            role_arn=oidc_role,
            scopes=("openid", "email", "profile", "aws"),
            logout_redirect_uri=server.url + "/signed-out",
            allow_insecure_loopback_http=True,
        ),
        saml=SamlRegistration(
            idp_sso_url=saml_peer.sso_redirect_url,
            idp_issuer=saml_peer.entity_id,
            acs_url=acs,
            idp_certificate=saml_peer.certificate_pem,
            allow_insecure_loopback_http=True,
        ),
    )
    server.start(create_app(
        settings, sts=ThreadPoolStsIssuer(region=REGION, endpoint_url=local_aws.url)
    ))  # fmt: skip
    return {"url": server.url, "oidc_role": oidc_role, "saml_role": saml_role}


def test_oidc_sign_in_through_npm_oidc_provider(
    broker: dict[str, str], local_aws: LocalAws
) -> None:
    callback = broker["url"] + "/auth/oidc/callback"
    with httpx.Client(timeout=15) as browser:
        params = browse(browser, broker["url"] + "/login/oidc", username="alice",
                        password="demo", stop_at=callback)  # fmt: skip
        assert isinstance(params, dict), getattr(params, "text", params)
        done = browser.get(callback, params=params)
        assert done.status_code == 303, done.text[:1500]
        home = browser.get(broker["url"] + "/")
    assert 'id="email">alice@example.com<' in home.text
    assert 'id="name">Alice Anders<' in home.text  # from UserInfo: not in the ID token
    assert broker["oidc_role"] in home.text


def test_saml_sign_in_through_pysaml2(broker: dict[str, str], local_aws: LocalAws) -> None:
    with httpx.Client(timeout=15) as browser:
        post = login_for_saml(browser, broker["url"] + "/login/saml", username="bob",
                              password="demo")  # fmt: skip
        acs = browser.post(post.acs_url, data={
            "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
            "RelayState": post.relay_state or "",
        })  # fmt: skip
        assert acs.status_code == 303, acs.text[:1500]
        finish = browser.get(broker["url"] + acs.headers["location"])
        assert finish.status_code == 303, finish.text[:1500]
        home = browser.get(broker["url"] + "/")
    assert 'id="email">bob@example.com<' in home.text
    assert broker["saml_role"] in home.text
