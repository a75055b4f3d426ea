"""``qbizfed login --device`` (RFC 8628) against the dev IdP, end to end and offline.

The CLI runs as the user runs it (the installed console script in a subprocess); "another
device" is an HTTP client that reads the code the CLI printed, opens the dev IdP's
verification page, signs in and approves or denies. Intervals and lifetimes are the
dev IdP's test settings (1-second interval, as the IdP itself announces).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from qbizfed.creds import cache
from qbizfed.creds.login import login
from qbizfed.creds.session import default_role_exchange
from qbizfed.errors import ConfigError
from qbizfed.local.idp.device import DeviceFlowSettings
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.settings.profiles import Profile, load_profile, write_profile
from tests.conftest import REGION
from tests.support.device_user import login_on_another_device, read_announcement, sign_in_device
from tests.support.oidc_issuer import oidc_trust_policy, running_oidc_issuer

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))
CLIENT_ID = "qbizfed-device-test"
CLIENT_SECRET = "device-test-secret-0123456789abcdef"
SECRET_ENV = "QBIZFED_TEST_CLIENT_SECRET"


@dataclass(frozen=True)
class DeviceIdp:
    idp: DevIdp
    role_arn: str
    endpoint_url: str


@contextmanager
def device_idp(local_aws: LocalAws, settings: DeviceFlowSettings) -> Iterator[DeviceIdp]:
    idp = DevIdp(
        DevIdpSettings(
            port=0,
            clients=(
                OidcClient(
                    client_id=CLIENT_ID, client_secret=Secret(CLIENT_SECRET),
                    redirect_uris=("http://127.0.0.1:1/unused",),
                ),
            ),
            device_flow=settings,
        )
    ).start()  # fmt: skip
    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
    provider = iam.create_open_id_connect_provider(
        Url=idp.issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    role = iam.create_role(
        RoleName="device-" + uuid.uuid4().hex[:8],
        AssumeRolePolicyDocument=json.dumps(
            oidc_trust_policy(provider, idp.issuer.split("://", 1)[1], CLIENT_ID)
        ),
    )["Role"]["Arn"]
    try:
        yield DeviceIdp(idp, role, local_aws.url)
    finally:
        idp.stop()


@pytest.fixture(scope="module")
def fast_idp(local_aws: LocalAws) -> Iterator[DeviceIdp]:
    with device_idp(local_aws, DeviceFlowSettings(expires_in=60, interval=1)) as found:
        yield found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    return tmp_path


def configure(found: DeviceIdp, name: str = "dev") -> None:
    """``qbizfed configure --device`` as the user types it."""
    done = subprocess.run(
        [
            QBIZFED, "configure", "--profile", name, "--protocol", "oidc",
            "--role-arn", found.role_arn, "--region", REGION, "--duration", "900",
            "--endpoint-url", found.endpoint_url, "--issuer", found.idp.issuer,
            "--client-id", CLIENT_ID, "--client-secret-env", SECRET_ENV,
            "--allow-insecure-loopback-http", "--device",
        ],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_device_login_signs_in_assumes_the_role_and_caches(fast_idp: DeviceIdp, home: Path) -> None:
    configure(fast_idp)
    assert load_profile("dev").device is True
    assert "device = true" in (home / "config.toml").read_text()

    done, final_page = login_on_another_device("--profile", "dev", username="bob")
    assert done.returncode == 0, done.stderr
    assert "Device signed in" in final_page
    assert f"{fast_idp.idp.issuer}/device" in done.stderr
    assert "/device?user_code=" in done.stderr  # verification_uri_complete
    assert "signed in as bob@example.com" in done.stderr
    creds = cache.load("dev")
    assert creds is not None
    assert creds.credentials.email == "bob@example.com"
    assert creds.refresh_token  # offline_access was granted: silent refresh as usual
    assert CLIENT_SECRET not in done.stderr
    who = boto3.session.Session(
        **creds.credentials.boto3_session_kwargs(), region_name=REGION
    ).client("sts", endpoint_url=fast_idp.endpoint_url).get_caller_identity()  # fmt: skip
    assert who["Arn"].endswith("/bob@example.com")


def test_device_flag_works_on_a_browser_profile(fast_idp: DeviceIdp, home: Path) -> None:
    write_profile(
        Profile(
            name="plain", protocol="oidc", role_arn=fast_idp.role_arn, region=REGION,
            duration_seconds=900, endpoint_url=fast_idp.endpoint_url,
            allow_insecure_loopback_http=True, issuer=fast_idp.idp.issuer, client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
        )
    )  # fmt: skip
    done, _ = login_on_another_device("--profile", "plain", "--device", username="carol")
    assert done.returncode == 0, done.stderr
    cached = cache.load("plain")
    assert cached is not None
    assert cached.credentials.email == "carol@example.com"


def test_denied_device_login_fails_with_the_fix(fast_idp: DeviceIdp, home: Path) -> None:
    configure(fast_idp)
    done, final_page = login_on_another_device("--profile", "dev", username="alice", approve=False)
    assert "Sign-in denied" in final_page
    assert done.returncode == 1
    assert "the sign-in was denied at the IdP" in done.stderr
    assert "qbizfed login --device again" in done.stderr
    assert cache.load("dev") is None


def test_expired_device_code_fails_with_the_fix(local_aws: LocalAws, home: Path) -> None:
    with device_idp(local_aws, DeviceFlowSettings(expires_in=2, interval=1)) as short:
        configure(short)
        done = subprocess.run(
            [QBIZFED, "login", "--profile", "dev"], capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 1
    assert "the device code expired" in done.stderr
    assert "enter the new code sooner" in done.stderr
    assert cache.load("dev") is None


def test_slow_down_adds_five_seconds_to_the_interval(fast_idp: DeviceIdp, home: Path) -> None:
    """A client that polls too fast (its sleep returns at once the first time) gets
    ``slow_down`` from the dev IdP and from then on waits the interval plus 5 s."""
    configure(fast_idp)
    waits: list[float] = []
    messages: list[str] = []
    approved = threading.Event()

    async def hasty_sleep(seconds: float) -> None:
        import asyncio

        waits.append(seconds)
        if len(waits) > 2:  # then honour the (raised) interval, compressed to keep it quick
            await asyncio.sleep(1.05)

    def announce(text: str) -> None:
        messages.append(text)
        if "enter the code" in text:
            def approve() -> None:
                sign_in_device(read_announcement(text), username="alice")
                approved.set()

            user = threading.Thread(target=approve, daemon=True)
            user.start()

    from qbizfed.creds import device_login

    profile = load_profile("dev")
    # Two polls at once: the first is pending, the second too soon (slow_down).
    creds = device_login.device_login_oidc(
        profile, announce=announce, exchange=default_role_exchange, timeout=60, sleep=hasty_sleep
    )
    assert approved.wait(10)
    assert creds.credentials.email == "alice@example.com"
    assert waits[:2] == [1, 1]  # the interval the IdP announced
    assert waits[2:]
    assert set(waits[2:]) == {6}
    assert any("poll slower: every 6 s" in m for m in messages)


def test_unknown_profile_is_a_clear_error(home: Path) -> None:
    done = subprocess.run(
        [QBIZFED, "login", "--profile", "nobody", "--device"], capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    assert "qbizfed profile 'nobody' does not exist" in done.stderr
    assert "qbizfed configure --profile nobody" in done.stderr


def test_idp_without_a_device_endpoint_is_a_clear_error(local_aws: LocalAws, home: Path) -> None:
    with running_oidc_issuer(client_id=CLIENT_ID) as issuer:
        write_profile(
            Profile(
                name="nodevice", protocol="oidc", role_arn="arn:aws:iam::123456789012:role/x",
                region=REGION, allow_insecure_loopback_http=True, issuer=issuer.url,
                client_id=CLIENT_ID, device=True,
            )
        )  # fmt: skip
        with pytest.raises(
            ConfigError, match="does not advertise a device_authorization_endpoint"
        ) as refused:
            login(load_profile("nodevice"), announce=lambda _: None)
        done = subprocess.run(
            [QBIZFED, "login", "--profile", "nodevice"], capture_output=True, text=True,
            timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert "without --device" in refused.value.remedy
    assert done.returncode == 1
    said = " ".join(done.stderr.split())  # Rich wraps long lines
    assert "does not advertise a device_authorization_endpoint" in said
    assert "without --device" in said


def test_saml_profiles_cannot_use_the_device_flow(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"device sign-in .* is for OIDC profiles only"):
        Profile(
            name="s", protocol="saml", role_arn="arn:aws:iam::123456789012:role/x",
            idp_metadata_url="https://idp.example.com/md", redirect_port=8080,
            provider_arn="arn:aws:iam::123456789012:saml-provider/x", device=True,
        )  # fmt: skip


def test_device_flag_on_a_saml_profile_is_a_clear_error(home: Path) -> None:
    write_profile(
        Profile(
            name="corp", protocol="saml", role_arn="arn:aws:iam::123456789012:role/x",
            idp_metadata_url="https://idp.example.com/md", redirect_port=8080,
            provider_arn="arn:aws:iam::123456789012:saml-provider/x",
        )
    )  # fmt: skip
    done = subprocess.run(
        [QBIZFED, "login", "--profile", "corp", "--device"], capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    said = " ".join(done.stderr.split())
    assert done.returncode == 1
    assert "signs in with SAML, which has no device flow" in said
    assert "qbizfed login --profile corp without --device" in said
