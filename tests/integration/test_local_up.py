"""``qbizfed local up``: one command to a working, permissioned, cited chat.

The whole demo runs as a newcomer gets it: local AWS with the demo corpus, the dev
IdP, both applications provisioned by ``admin apply``, and the web broker. Users sign
in through the real IdP forms, export their credentials from the broker, and chat with
the chat library and with ``qbizfed ask`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from qbizfed.aws.chat import ChatClient
from qbizfed.cli.local_up import DemoStack, demo_stack
from tests.integration.test_serve_end_to_end import (
    exported_credentials,
    sign_in_oidc,
    sign_in_saml,
)

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class _Site:
    """What the serve test helpers need: the broker's URL and the local AWS endpoint."""

    url: str
    aws: Any


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoStack]:
    saved = dict(os.environ)
    try:
        with demo_stack(aws_port=0, idp_port=0, serve_port=_free_port()) as started:
            yield started
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _credentials(demo: DemoStack, protocol: str, user: str) -> dict[str, str]:
    site = _Site(url=demo.serve_url, aws=type("Aws", (), {"url": demo.aws_url})())
    with httpx.Client(timeout=20) as browser:
        home = (sign_in_oidc if protocol == "oidc" else sign_in_saml)(site, browser, user)  # type: ignore[arg-type]
        assert f"{user}@example.com" in home.text
        return exported_credentials(site, browser)  # type: ignore[arg-type]


def _page_export_lines(demo: DemoStack, protocol: str, user: str) -> str:
    """The shell lines of the credentials page, exactly as a user copies them."""
    import html
    import re

    site = _Site(url=demo.serve_url, aws=type("Aws", (), {"url": demo.aws_url})())
    with httpx.Client(timeout=20) as browser:
        (sign_in_oidc if protocol == "oidc" else sign_in_saml)(site, browser, user)  # type: ignore[arg-type]
        page = browser.get(demo.serve_url + "/credentials")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        revealed = browser.post(demo.serve_url + "/credentials",
                                data={"csrf_token": csrf.group(1)})
    block = re.search(r'<pre id="export" class="secret">(.*?)</pre>', revealed.text, re.S)
    assert block is not None
    return html.unescape(block.group(1))


def _chat(demo: DemoStack, creds: dict[str, str], application_id: str) -> ChatClient:
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    qb = session.client("qbusiness", endpoint_url=demo.aws_url)
    return ChatClient(qbusiness=qb, application_id=application_id, subscription_backoff=0.05)


def test_alice_via_oidc_gets_cited_engineering_answers_only(demo: DemoStack) -> None:
    chat = _chat(demo, _credentials(demo, "oidc", "alice"), demo.oidc_application_id)
    turn = chat.conversation().ask("When do production deployments happen?")
    titles = {c.title for c in turn.citations}
    assert "Deployment runbook" in titles
    assert "[1]" in turn.text
    budget = chat.conversation().ask("What is the total spending planned in the 2027 budget?")
    assert "Budget 2027" not in {c.title for c in budget.citations}
    assert "31 million" not in budget.text


def test_bob_via_saml_gets_finance_answers_and_no_engineering(demo: DemoStack) -> None:
    chat = _chat(demo, _credentials(demo, "saml", "bob"), demo.saml_application_id)
    budget = chat.conversation().ask("What is the total spending planned in the 2027 budget?")
    assert "Budget 2027" in {c.title for c in budget.citations}
    assert "31 million" in budget.text
    deploy = chat.conversation().ask("When do production deployments happen?")
    assert "Deployment runbook" not in {c.title for c in deploy.citations}


def test_first_call_subscription_error_never_reaches_the_user(demo: DemoStack) -> None:
    chat = _chat(demo, _credentials(demo, "oidc", "carol"), demo.oidc_application_id)
    turn = chat.conversation().ask("How many vacation days do I get?")
    assert turn.subscription_retries >= 1  # carol's first call subscribed her
    assert turn.text


def test_qbizfed_ask_works_with_the_exported_credentials(demo: DemoStack) -> None:
    creds = _credentials(demo, "oidc", "alice")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_ENDPOINT_URL": demo.aws_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "QBUSINESS_APPLICATION_ID": demo.oidc_application_id,
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [QBIZFED, "ask", "--json", "How do I roll back a deployment?"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    turn = json.loads(result.stdout)
    assert turn["sourceAttributions"]
    assert all(a["title"] != "Budget 2027" for a in turn["sourceAttributions"])


@pytest.mark.parametrize(("protocol", "user", "app"), [
    ("oidc", "alice", "oidc_application_id"),
    ("saml", "bob", "saml_application_id"),
])
def test_qbizfed_ask_works_with_exactly_the_pages_export_lines(
    demo: DemoStack, protocol: str, user: str, app: str
) -> None:
    """The README's terminal recipe: paste the page's lines into a shell with no AWS
    settings of its own (only the local endpoint and the application id), then ask."""
    lines = _page_export_lines(demo, protocol, user)
    assert "export AWS_DEFAULT_REGION=" in lines
    shell = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    shell.update({
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": demo.aws_url,
        "QBUSINESS_APPLICATION_ID": getattr(demo, app), "NO_COLOR": "1",
    })
    script = lines + f'exec {QBIZFED} ask --json "How many vacation days do I get?"\n'
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                            env=shell)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["systemMessage"]


def test_banner_in_a_pipe_is_whole_lines_naming_both_applications() -> None:
    """``qbizfed local up | tee log``: Rich would wrap at 80 columns; the banner must not,
    and it names each application with the variable to export for it."""
    import re
    import signal
    import time

    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    env["NO_COLOR"] = "1"
    process = subprocess.Popen(
        [QBIZFED, "local", "up", "--aws-port", "0", "--idp-port", "0",
         "--serve-port", str(_free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "Ctrl-C stops everything." in line:
                break
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    text = "\n".join(lines)
    assert process.returncode == 0, text + rest
    oidc = re.search(r"^  OIDC app  export QBUSINESS_APPLICATION_ID=(\S+)   \(with credentials "
                     r"from an OIDC sign-in\)$", text, re.M)
    saml = re.search(r"^  SAML app  export QBUSINESS_APPLICATION_ID=(\S+)   \(with credentials "
                     r"from a SAML sign-in\)$", text, re.M)
    assert oidc, text
    assert saml, text
    assert oidc.group(1) != saml.group(1)
    assert re.search(r"^  terminal: paste the shell lines of http://127\.0\.0\.1:\d+/credentials,"
                     r" .* then: qbizfed ask \"How do I roll back a deployment\?\"$", text, re.M)
    assert re.search(r"^  user      alice@example\.com can see: .*Deployment runbook", text, re.M)
    assert "qbizfed local up stopped." in rest
