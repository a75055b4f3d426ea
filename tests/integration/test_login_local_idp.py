"""``qbizfed login`` with its default ephemeral port against ``qbizfed local idp``
(and its exit codes: 0 signed in, 130 Ctrl-C while waiting for the browser).

The README's registration: the client's redirect URI is ``http://127.0.0.1/callback``
with no port, and the dev IdP accepts any port on it (RFC 8252 section 7.3), as real
IdPs do for native apps. Both sides are the installed console script.
"""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx

from qbizfed.local.stack import LocalAws
from tests.conftest import REGION
from tests.peers.flows import browse
from tests.support.console_script import run_qbizfed, running_qbizfed
from tests.support.oidc_issuer import oidc_trust_policy

CLIENT_ID = "qbizfed-cli"
CLIENT_SECRET = "local-idp-cli-secret-0123456789"


def test_login_on_an_ephemeral_port_with_a_portless_registration(
    local_aws: LocalAws, tmp_path: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update({
        "QBIZFED_CACHE_DIR": str(tmp_path / "cache"), "QBIZFED_CONFIG": str(tmp_path / "c.toml"),
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "QBIZFED_CLIENT_SECRET": CLIENT_SECRET, "NO_COLOR": "1", "COLUMNS": "200",
    })
    registration = f"{CLIENT_ID}:{CLIENT_SECRET}:http://127.0.0.1/callback"
    with running_qbizfed("local", "idp", "--port", "0", "--client", registration,
                         env=env) as idp:
        issuer = idp.wait_for(r"OIDC issuer:\s+(http://127\.0\.0\.1:\d+)").group(1)
        iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=local_aws.url)
        provider = iam.create_open_id_connect_provider(
            Url=issuer, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        role = iam.create_role(
            RoleName="login-" + uuid.uuid4().hex[:8],
            AssumeRolePolicyDocument=json.dumps(
                oidc_trust_policy(provider, issuer.split("://", 1)[1], CLIENT_ID)),
        )["Role"]["Arn"]
        configured = run_qbizfed(
            "configure", "--profile", "dev", "--issuer", issuer, "--client-id", CLIENT_ID,
            "--client-secret-env", "QBIZFED_CLIENT_SECRET", "--role-arn", role,
            "--endpoint-url", local_aws.url, "--allow-insecure-loopback-http", env=env)
        assert configured.returncode == 0, configured.stderr
        with running_qbizfed("login", "--profile", "dev", "--no-browser", "--timeout", "60",
                             env=env) as login:
            url = login.wait_for(r"^(http://127\.0\.0\.1:\d+/\S+)$").group(1)
            redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", redirect), redirect
            with httpx.Client(timeout=20) as browser:
                page = browse(browser, url, username="alice", password="demo")
            assert isinstance(page, httpx.Response)
            assert "Signed in" in page.text, page.text[:300]
            assert login.wait(timeout=60) == 0, login.text
        assert "signed in as alice@example.com" in login.text
        creds = run_qbizfed("creds", "--profile", "dev", env=env)
        assert creds.returncode == 0, creds.stderr
        assert json.loads(creds.stdout)["AccessKeyId"].startswith("ASIA")
        with running_qbizfed("login", "--profile", "dev", "--no-browser", env=env) as waiting:
            waiting.wait_for(r"^http://127\.0\.0\.1:\d+/")
            waiting.process.send_signal(signal.SIGINT)  # Ctrl-C while waiting for the browser
            assert waiting.wait(timeout=30) == 130, waiting.text
