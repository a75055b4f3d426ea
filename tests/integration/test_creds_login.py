"""``qbizfed login`` end to end, offline: dev IdP -> loopback redirect -> local STS -> cache,
then boto3 and the AWS CLI using the ``credential_process`` profile, refresh and expiry.

The "browser" is an HTTP client that follows the IdP's forms to the loopback redirect.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest

from qbizfed.creds import awsconfig, cache
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.login import login
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret, ServiceProvider
from qbizfed.local.stack import LocalAws
from qbizfed.settings.profiles import Profile, write_profile
from tests.conftest import REGION
from tests.peers.flows import browse, login_for_saml
from tests.support.chat_permissions import grant_chat_permissions
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.qbusiness_app import subscribed_application
from tests.support.saml_assertions import saml_trust_policy

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))
AWS_CLI = str(Path(sys.executable).with_name("aws"))
CLIENT_ID = "qbizfed-cli-test"
CLIENT_SECRET = "cli-test-secret-0123456789abcdef"
SECRET_ENV = "QBIZFED_TEST_CLIENT_SECRET"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Federation:
    idp: DevIdp
    role_arn: str
    redirect_port: int
    endpoint_url: str


@pytest.fixture(scope="module")
def federation(local_aws: LocalAws) -> Iterator[Federation]:
    # The dev IdP matches redirect URIs exactly, so the loopback port is fixed per run.
    port = free_port()
    idp = DevIdp(
        DevIdpSettings(
            port=0,
            clients=(
                OidcClient(
                    client_id=CLIENT_ID,
                    client_secret=Secret(CLIENT_SECRET),
                    redirect_uris=(f"http://127.0.0.1:{port}/callback",),
                    require_pkce=True,
                ),
            ),
        )
    ).start()
    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
    provider = iam.create_open_id_connect_provider(
        Url=idp.issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    role = iam.create_role(
        RoleName="creds-" + uuid.uuid4().hex[:8],
        AssumeRolePolicyDocument=json.dumps(
            oidc_trust_policy(provider, idp.issuer.split("://", 1)[1], CLIENT_ID)
        ),
    )["Role"]["Arn"]
    grant_chat_permissions(iam, role)
    try:
        yield Federation(idp, role, port, local_aws.url)
    finally:
        idp.stop()


@pytest.fixture
def profile(federation: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Profile:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    monkeypatch.delenv("QBIZFED_NO_FAST_PATH", raising=False)
    created = Profile(
        name="dev",
        protocol="oidc",
        role_arn=federation.role_arn,
        region=REGION,
        duration_seconds=900,
        endpoint_url=federation.endpoint_url,
        redirect_port=federation.redirect_port,
        allow_insecure_loopback_http=True,
        issuer=federation.idp.issuer,
        client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV,
    )
    write_profile(created)
    awsconfig.add_credential_process_profile(
        "qbiz", "dev", region=REGION, endpoint_url=federation.endpoint_url,
        command=QBIZFED,
    )  # fmt: skip
    return created


def expiring(entry: CacheEntry, when: datetime) -> CacheEntry:
    """The same cache entry with its credentials expiring at ``when`` (time passing)."""
    return replace(entry, credentials=replace(entry.credentials, expiration=when))


def http_browser(username: str) -> tuple[list[str], Callable[[str], bool]]:
    """An ``open_browser`` that signs ``username`` in by following the IdP's forms."""
    opened: list[str] = []

    def open_browser(url: str) -> bool:
        opened.append(url)
        with httpx.Client(timeout=10) as client:
            page = browse(client, url, username=username, password="demo")
        assert isinstance(page, httpx.Response)
        assert "Signed in" in page.text, page.text[:300]
        return True

    return opened, open_browser


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no static AWS keys, no endpoint override."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = os.environ["AWS_CONFIG_FILE"]
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def test_login_caches_tagged_credentials_for_the_sdk_and_cli(profile: Profile) -> None:
    opened, browser = http_browser("alice")
    messages: list[str] = []
    result = login(profile, announce=messages.append, open_browser=browser, timeout=30)

    assert opened
    assert "code_challenge_method=S256" in opened[0]
    assert f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{profile.redirect_port}" in opened[0]
    creds = result.entry
    assert creds.credentials.email == "alice@example.com"
    assert creds.refresh_token  # offline_access was granted
    assert result.warnings == ()
    assert cache.load("dev") == creds
    cache_text = Path(result.cache_path).read_text()
    assert CLIENT_SECRET not in cache_text

    session = boto3.session.Session(profile_name="qbiz")
    identity = session.client("sts", endpoint_url=profile.endpoint_url).get_caller_identity()
    role_name = profile.role_arn.rsplit("/", 1)[1]
    expected = f"arn:aws:sts::123456789012:assumed-role/{role_name}/alice@example.com"
    assert identity["Arn"] == expected
    frozen = session.get_credentials().get_frozen_credentials()
    assert frozen.access_key == creds.credentials.access_key_id

    cli = subprocess.run(
        [AWS_CLI, "sts", "get-caller-identity", "--profile", "qbiz", "--output", "json"],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Arn"] == identity["Arn"]


def test_creds_refreshes_silently_before_expiry(profile: Profile) -> None:
    _, browser = http_browser("bob")
    first = login(profile, announce=lambda _: None, open_browser=browser, timeout=30).entry
    # Time passes: only two minutes left, inside the five-minute refresh window.
    cache.save(expiring(first, datetime.now(UTC) + timedelta(minutes=2)))

    result = subprocess.run(
        [QBIZFED, "creds", "--profile", "dev"], env=clean_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    renewed = cache.load("dev")
    assert renewed is not None
    new_key = renewed.credentials.access_key_id
    assert answer["AccessKeyId"] == new_key != first.credentials.access_key_id
    assert renewed.credentials.seconds_left() > 600
    assert renewed.credentials.email == "bob@example.com"
    assert renewed.refresh_token
    assert renewed.refresh_token != first.refresh_token

    # The renewed credentials are real: STS knows them as bob.
    who = (
        boto3.session.Session(
            aws_access_key_id=answer["AccessKeyId"],
            aws_secret_access_key=answer["SecretAccessKey"],
            aws_session_token=answer["SessionToken"],
            region_name=REGION,
        )
        .client("sts", endpoint_url=profile.endpoint_url)
        .get_caller_identity()
    )
    assert who["Arn"].endswith("/bob@example.com")


def test_parallel_refreshes_spend_the_refresh_token_once(profile: Profile) -> None:
    _, browser = http_browser("carol")
    first = login(profile, announce=lambda _: None, open_browser=browser, timeout=30).entry
    cache.save(expiring(first, datetime.now(UTC) + timedelta(minutes=1)))
    outputs: list[subprocess.CompletedProcess[str]] = []

    def run() -> None:
        command = [QBIZFED, "creds", "--profile", "dev"]
        outputs.append(
            subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60)
        )

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o.returncode for o in outputs] == [0, 0, 0], [o.stderr for o in outputs]
    keys = {json.loads(o.stdout)["AccessKeyId"] for o in outputs}
    assert len(keys) == 1  # one refresh; the others found the renewed cache under the lock
    assert keys != {first.credentials.access_key_id}


def test_dead_refresh_token_and_expired_credentials_ask_for_login(profile: Profile) -> None:
    _, browser = http_browser("alice")
    first = login(profile, announce=lambda _: None, open_browser=browser, timeout=30).entry
    cache.save(
        replace(
            expiring(first, datetime.now(UTC) - timedelta(seconds=5)),
            refresh_token="revoked-or-ended-idp-session",
        )
    )
    result = subprocess.run(
        [QBIZFED, "creds", "--profile", "dev"], env=clean_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert "qbizfed login --profile dev" in result.stderr
    assert "revoked-or-ended" not in result.stderr
    after = cache.load("dev")
    assert after is not None
    assert after.refresh_token is None  # the dead token is not tried again


def test_refused_refresh_serves_still_valid_credentials_with_a_warning(profile: Profile) -> None:
    _, browser = http_browser("alice")
    first = login(profile, announce=lambda _: None, open_browser=browser, timeout=30).entry
    cache.save(
        replace(expiring(first, datetime.now(UTC) + timedelta(minutes=3)), refresh_token="bad")
    )
    result = subprocess.run(
        [QBIZFED, "creds", "--profile", "dev"], env=clean_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"] == first.credentials.access_key_id
    assert "warning" in result.stderr
    assert "qbizfed login --profile dev" in result.stderr


def test_login_command_with_no_browser_prints_the_url(profile: Profile) -> None:
    process = subprocess.Popen(
        [QBIZFED, "login", "--profile", "dev", "--no-browser", "--timeout", "30"],
        env=clean_env(), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    url = ""
    for line in process.stderr:
        if line.startswith("http"):
            url = line.strip()
            break
    assert re.match(r"^http://127\.0\.0\.1:\d+/oidc/authorize\?", url), url
    with httpx.Client(timeout=10) as client:
        browse(client, url, username="bob", password="demo")
    stderr_rest = process.stderr.read()
    assert process.wait(timeout=30) == 0, stderr_rest
    assert "signed in as bob@example.com" in stderr_rest
    creds = cache.load("dev")
    assert creds is not None
    assert creds.credentials.email == "bob@example.com"


def _ready_application(local_aws: LocalAws, idp: DevIdp) -> str:
    """An ACTIVE Q Business application with auto-subscription (admin credentials)."""
    admin = boto3.session.Session(region_name=REGION)
    iam = admin.client("iam", endpoint_url=local_aws.url)
    qb = admin.client("qbusiness", endpoint_url=local_aws.url)
    # A SAML provider stands in for the application's identity provider: these tests are
    # about the credentials, not about which IdP the application names.
    stand_in = iam.create_saml_provider(
        SAMLMetadataDocument=idp.saml_metadata_xml, Name="creds" + uuid.uuid4().hex[:8]
    )["SAMLProviderArn"]
    return subscribed_application(qb, stand_in, name_prefix="creds")


def test_aws_cli_chat_sync_with_the_credential_process_profile(
    profile: Profile, local_aws: LocalAws, federation: Federation
) -> None:
    app = _ready_application(local_aws, federation.idp)
    _, browser = http_browser("alice")
    login(profile, announce=lambda _: None, open_browser=browser, timeout=30)
    command = [
        AWS_CLI, "qbusiness", "chat-sync", "--application-id", app, "--user-message",
        "hello", "--profile", "qbiz", "--output", "json",
    ]  # fmt: skip
    first = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60)
    # As on AWS: a user's first call fails and subscribes them (auto-subscription).
    assert first.returncode != 0
    assert "does not have a subscription" in first.stderr
    deadline = time.monotonic() + 10
    while True:
        cli = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60)
        if cli.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert cli.returncode == 0, cli.stderr
    answer = json.loads(cli.stdout)
    assert answer["conversationId"]
    assert "systemMessage" in answer

    # boto3 with the same profile, continuing the conversation as the same user.
    qb = boto3.session.Session(profile_name="qbiz").client("qbusiness")
    more = qb.chat_sync(
        applicationId=app,
        userMessage="and more",
        conversationId=answer["conversationId"],
        parentMessageId=answer["systemMessageId"],
    )
    assert more["conversationId"] == answer["conversationId"]


def test_saml_login_through_the_loopback_acs(
    federation: Federation, local_aws: LocalAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    port = free_port()
    acs = f"http://127.0.0.1:{port}/saml/acs"
    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
    name = "creds-saml-" + uuid.uuid4().hex[:8]
    provider = iam.create_saml_provider(
        SAMLMetadataDocument=federation.idp.saml_metadata_xml, Name=name
    )["SAMLProviderArn"]
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(saml_trust_policy(provider, [acs]))
    )["Role"]["Arn"]
    grant_chat_permissions(iam, role)
    federation.idp.register_service_provider(
        ServiceProvider(entity_id=acs, acs_urls=(acs,), role_arn=role, provider_arn=provider)
    )
    profile = Profile(
        name="saml",
        protocol="saml",
        role_arn=role,
        region=REGION,
        endpoint_url=local_aws.url,
        redirect_port=port,
        allow_insecure_loopback_http=True,
        idp_metadata_url=federation.idp.saml_metadata_url,
        provider_arn=provider,
    )

    def open_browser(url: str) -> bool:
        with httpx.Client(timeout=10) as client:
            post = login_for_saml(client, url, username="bob", password="demo")
            assert post.acs_url == acs
            fields = {"SAMLResponse": base64.b64encode(post.saml_response_xml).decode()}
            if post.relay_state is not None:
                fields["RelayState"] = post.relay_state
            page = client.post(post.acs_url, data=fields)
        assert page.status_code == 200, page.text[:300]
        return True

    creds = login(profile, announce=lambda _: None, open_browser=open_browser, timeout=30).entry
    assert creds.credentials.email == "bob@example.com"
    assert creds.refresh_token is None
    assert creds.protocol == "saml"
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
    assert who["Arn"].endswith("/bob@example.com")


def test_aws_cli_shows_the_login_hint_when_credentials_expired(profile: Profile) -> None:
    _, browser = http_browser("alice")
    first = login(profile, announce=lambda _: None, open_browser=browser, timeout=30).entry
    cache.save(expiring(first, datetime.now(UTC) - timedelta(minutes=1)))
    cache.save(replace(cache.load("dev") or first, refresh_token=None))
    cli = subprocess.run(
        [AWS_CLI, "sts", "get-caller-identity", "--profile", "qbiz"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode != 0
    assert "qbizfed login --profile dev" in cli.stderr
    assert first.credentials.secret_access_key not in cli.stderr + cli.stdout


def test_done_when_scenario_with_commands_only(
    federation: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configure -> login -> aws --profile -> exec -> logout, as a user types them."""
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    env = clean_env(**{SECRET_ENV: CLIENT_SECRET, "PATH": os.environ["PATH"]})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)

    configured = run(
        QBIZFED, "configure", "--profile", "e2e", "--role-arn", federation.role_arn,
        "--issuer", federation.idp.issuer, "--client-id", CLIENT_ID,
        "--client-secret-env", SECRET_ENV, "--region", REGION,
        "--endpoint-url", federation.endpoint_url,
        "--redirect-port", str(federation.redirect_port),
        "--allow-insecure-loopback-http", "--aws-profile", "e2e",
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr

    process = subprocess.Popen(
        [QBIZFED, "login", "--profile", "e2e", "--no-browser", "--timeout", "30"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    url = next((line.strip() for line in process.stderr if line.startswith("http")), "")
    with httpx.Client(timeout=10) as client:
        browse(client, url, username="carol", password="demo")
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 0, rest

    who = run(AWS_CLI, "sts", "get-caller-identity", "--profile", "e2e", "--output", "json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"].endswith("/carol@example.com")

    inside = run(
        QBIZFED, "exec", "--profile", "e2e", "--",
        AWS_CLI, "sts", "get-caller-identity", "--output", "json",
    )  # fmt: skip
    assert inside.returncode == 0, inside.stderr
    assert json.loads(inside.stdout)["Arn"] == json.loads(who.stdout)["Arn"]

    assert run(QBIZFED, "logout", "--profile", "e2e").returncode == 0
    after = run(AWS_CLI, "sts", "get-caller-identity", "--profile", "e2e")
    assert after.returncode != 0
    assert "qbizfed login --profile e2e" in after.stderr
