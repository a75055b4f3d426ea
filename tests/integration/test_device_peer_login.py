"""``qbizfed login --device`` against a third-party IdP: npm ``oidc-provider`` with its
``deviceFlow`` feature (tests/peers/oidc_provider/server.mjs, interval 1 s as the peer
announces it, and a short device-code lifetime for the expiry case).

"Another device" walks oidc-provider's own pages: code entry, confirmation (with its
abort button), devInteractions login and consent.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from qbizfed.creds import cache, device_login
from qbizfed.creds.session import default_role_exchange
from qbizfed.local.stack import LocalAws
from qbizfed.settings.profiles import Profile, load_profile, write_profile
from tests.conftest import REGION
from tests.peers.conftest import running_oidc_provider
from tests.peers.federation import oidc_federated_role
from tests.support.device_user import login_on_another_device, read_announcement, sign_in_device

pytestmark = pytest.mark.peers

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))
CLIENT_ID = "qbizfed-device-peer"
CLIENT_SECRET = "qbizfed-device-peer-secret-0123456789abcdef"
SECRET_ENV = "QBIZFED_PEER_CLIENT_SECRET"


@dataclass(frozen=True)
class Peer:
    issuer: str
    role_arn: str
    endpoint_url: str


@pytest.fixture(scope="module")
def peer(local_aws: LocalAws) -> Iterator[Peer]:
    yield from _peer(local_aws, ttl=60)


def _peer(local_aws: LocalAws, *, ttl: int) -> Iterator[Peer]:
    client: dict[str, object] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": ["http://127.0.0.1:1/unused"],
    }
    with running_oidc_provider([client], device={"interval": 1, "ttl": ttl}) as issuer:
        iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
        role = oidc_federated_role(
            iam, issuer=issuer, client_id=CLIENT_ID, name="device-peer-" + uuid.uuid4().hex[:8]
        )
        yield Peer(issuer, role.role_arn, local_aws.url)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    return tmp_path


def write_device_profile(peer: Peer) -> Profile:
    profile = Profile(
        name="peer", protocol="oidc", role_arn=peer.role_arn, region=REGION,
        endpoint_url=peer.endpoint_url, allow_insecure_loopback_http=True, issuer=peer.issuer,
        client_id=CLIENT_ID, client_secret_env=SECRET_ENV, scopes=("openid", "email", "aws"),
        device=True,
    )  # fmt: skip
    write_profile(profile)
    return profile


def test_device_login_with_npm_oidc_provider(peer: Peer, home: Path) -> None:
    write_device_profile(peer)
    done, final_page = login_on_another_device("--profile", "peer", username="carol", approve=True)
    assert done.returncode == 0, done.stderr
    assert "Sign-in Success" in final_page or "success" in final_page.lower()
    assert "(or open " in done.stderr  # oidc-provider sends verification_uri_complete
    creds = cache.load("peer")
    assert creds is not None
    assert creds.credentials.email == "carol@example.com"


def test_denied_at_npm_oidc_provider(peer: Peer, home: Path) -> None:
    write_device_profile(peer)
    done, _ = login_on_another_device("--profile", "peer", username="carol", approve=False)
    assert done.returncode == 1
    assert "the sign-in was denied at the IdP" in done.stderr
    assert cache.load("peer") is None


def test_expired_at_npm_oidc_provider(local_aws: LocalAws, home: Path) -> None:
    for short in _peer(local_aws, ttl=2):
        write_device_profile(short)
        done = subprocess.run(
            [QBIZFED, "login", "--profile", "peer"], capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 1
    assert "the device code expired" in done.stderr
    assert cache.load("peer") is None


def test_slow_down_from_npm_oidc_provider(peer: Peer, home: Path) -> None:
    write_device_profile(peer)
    waits: list[float] = []

    async def hasty_sleep(seconds: float) -> None:
        import asyncio

        waits.append(seconds)
        if len(waits) > 2:  # two polls at once, then the raised interval (compressed)
            await asyncio.sleep(1.05)

    def announce(text: str) -> None:
        if "enter the code" in text:
            threading.Thread(
                target=sign_in_device,
                args=(read_announcement(text),),
                kwargs={"username": "alice", "approve": True},
                daemon=True,
            ).start()

    creds = device_login.device_login_oidc(
        load_profile("peer"), announce=announce, exchange=default_role_exchange, timeout=60,
        sleep=hasty_sleep,
    )  # fmt: skip
    assert creds.credentials.email == "alice@example.com"
    assert waits[:2] == [1, 1]
    assert waits[2:]
    assert set(waits[2:]) == {6}
