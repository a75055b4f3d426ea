"""``qbizfed login`` against a third-party OIDC provider: the npm ``oidc-provider``.

Its login and consent forms are driven by an HTTP client up to the loopback redirect;
the ID token is validated by the shared relying party and exchanged by the local STS.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from qbizfed.creds import cache
from qbizfed.creds.login import login
from qbizfed.local.stack import LocalAws
from qbizfed.settings.profiles import Profile
from tests.conftest import REGION
from tests.peers.conftest import OidcPeer, oidc_provider_peer  # noqa: F401 - fixture
from tests.peers.federation import oidc_federated_role
from tests.peers.flows import browse

SECRET_ENV = "QBIZFED_PEER_CLIENT_SECRET"

pytestmark = pytest.mark.peers


def test_login_with_npm_oidc_provider(
    oidc_provider_peer: OidcPeer,  # noqa: F811
    local_aws: LocalAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(SECRET_ENV, oidc_provider_peer.client_secret)
    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
    role = oidc_federated_role(
        iam,
        issuer=oidc_provider_peer.issuer,
        client_id=oidc_provider_peer.client_id,
        name="creds-peer-" + uuid.uuid4().hex[:8],
    )
    redirect = urlsplit(oidc_provider_peer.redirect_uri)
    assert redirect.path == "/callback"
    assert redirect.port is not None
    profile = Profile(
        name="peer",
        protocol="oidc",
        role_arn=role.role_arn,
        region=REGION,
        endpoint_url=local_aws.url,
        redirect_port=redirect.port,  # the peer registers one exact redirect URI
        allow_insecure_loopback_http=True,
        issuer=oidc_provider_peer.issuer,
        client_id=oidc_provider_peer.client_id,
        client_secret_env=SECRET_ENV,
        scopes=("openid", "email", "aws"),
    )

    def open_browser(url: str) -> bool:
        with httpx.Client(timeout=10) as client:
            page = browse(client, url, username="carol", password="any")
        assert isinstance(page, httpx.Response)
        assert "Signed in" in page.text, page.text[:300]
        return True

    result = login(profile, announce=lambda _: None, open_browser=open_browser, timeout=30)
    creds = result.entry
    assert creds.credentials.email == "carol@example.com"
    assert cache.load("peer") == creds
    who = (
        boto3.session.Session(
            aws_access_key_id=creds.credentials.access_key_id,
            aws_secret_access_key=creds.credentials.secret_access_key,
            aws_session_token=creds.credentials.session_token,
            region_name=REGION,
        )
        .client("sts", endpoint_url=local_aws.url)
        .get_caller_identity()
    )
    assert who["Arn"].endswith("/carol@example.com")
