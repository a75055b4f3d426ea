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
