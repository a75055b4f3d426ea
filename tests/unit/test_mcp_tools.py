"""The MCP tools' pure parts: rendering, error mapping, and the profile user's client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qbizfed.aws.chat import ChatClient, Citation, ConversationSummary, RelevantPassage
from qbizfed.credentials import AwsCredentials
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.refresh import LoginRequiredError, Renewal
from qbizfed.mcp_server.profile_user import ProfileUser, ServedProfile
from qbizfed.mcp_server.tools import (
    QBusinessTools,
    ToolFailureError,
    render_citations,
    render_conversations,
    render_passages,
)
from qbizfed.settings.profiles import Profile

APP = "a" * 36
PROFILE = Profile(
    name="alice",
    protocol="oidc",
    role_arn="arn:aws:iam::1:role/r",
    issuer="https://idp.example.com",
    client_id="cli",
    application_id=APP,
)


def creds(key: str) -> CacheEntry:
    return CacheEntry(
        profile="alice",
        credentials=AwsCredentials(
            access_key_id=key,
            secret_access_key="secret-" + key,
            session_token="token-" + key,
            expiration=datetime.now(UTC) + timedelta(hours=1),
            region="us-east-1",
            role_arn=PROFILE.role_arn,
            session_tags=(("Email", "alice@example.com"),),
        ),
        protocol="oidc",
    )


class FakeQBusiness:
    """Never called: these tests stop before any Q Business call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Q Business call {name}")


def user_with(keys: list[str], built: list[str]) -> ProfileUser:
    def source(_name: str) -> Renewal:
        return Renewal(creds(keys[0]), refreshed=False)

    def factory(c: AwsCredentials, _p: Profile, app: str) -> ChatClient:
        built.append(c.access_key_id)
        return ChatClient(qbusiness=FakeQBusiness(), application_id=app)

    return ProfileUser(ServedProfile(PROFILE, APP), credentials=source, client_factory=factory)


def test_the_client_is_rebuilt_only_when_the_credentials_change() -> None:
    keys, built = ["ASIA1"], list[str]()
    user = user_with(keys, built)
    first = user.chat()
    assert user.chat() is first
    keys[0] = "ASIA2"  # refreshed, or a new qbizfed login
    assert user.chat() is not first
    assert built == ["ASIA1", "ASIA2"]


def test_login_required_becomes_a_tool_error_with_the_fix() -> None:
    def expired(name: str) -> Renewal:
        raise LoginRequiredError(
            f"no valid credentials for profile {name!r}: they expired",
            remedy=f"run: qbizfed login --profile {name}",
        )

    user = ProfileUser(ServedProfile(PROFILE, APP), credentials=expired)
    with pytest.raises(ToolFailureError, match="Fix: run: qbizfed login --profile alice"):
        QBusinessTools(user).list_conversations()


def test_citations_are_numbered_links_with_snippets() -> None:
    text = render_citations(
        [
            Citation(number=1, title="Runbook", url="https://wiki/run", snippet="Roll  back\nfast"),
            Citation(number=2, title="Notes", url=None, snippet=""),
        ]
    )
    assert text.splitlines() == [
        "Sources:",
        "[1] [Runbook](https://wiki/run)",
        "    > Roll back fast",
        "[2] Notes",
    ]


def test_passages_and_conversations_render_plainly() -> None:
    assert "No passages" in render_passages("q", [])
    shown = render_passages("q", [RelevantPassage("T", None, "d", "body " * 1000, "HIGH")])
    assert shown.startswith("[1] T (confidence: HIGH)\n")
    assert len(shown) < 1600
    assert render_conversations([]) == "No conversations yet."
    listed = render_conversations([ConversationSummary("c" * 36, "Budget", None)])
    assert listed == f"{'c' * 36}  Budget"
