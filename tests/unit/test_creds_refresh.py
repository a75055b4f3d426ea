"""Refresh decisions of ``qbizfed creds``: when to renew, what to keep, when to give up.

The IdP and STS are replaced at the two injection seams (refresh grant, role exchange)
by small recorders; the integration tests run the same paths against the dev IdP and
the local STS.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache, fast
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.login import email_tag_warnings
from qbizfed.creds.refresh import LoginRequiredError, Renewal, current_credentials
from qbizfed.errors import NetworkError
from qbizfed.identity.errors import TokenEndpointError
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.settings.profiles import Profile

PROFILE = Profile(
    name="dev",
    protocol="oidc",
    role_arn="arn:aws:iam::123456789012:role/QBizWeb",
    issuer="https://idp.example.com",
    client_id="cli",
)


class Recorder:
    """Stands in for the IdP's refresh grant and STS, counting calls."""

    def __init__(self, *, fail: Exception | None = None, rotate: bool = True) -> None:
        self.fail = fail
        self.rotate = rotate
        self.refreshes: list[str] = []
        self.exchanges = 0

    def refresher(self, profile: Profile, token: str) -> tuple[FederatedIdentity, str | None]:
        self.refreshes.append(token)
        if self.fail is not None:
            raise self.fail
        identity = FederatedIdentity(
            protocol="oidc",
            email="alice@example.com",
            subject="alice",
            issuer="https://idp.example.com",
            credential="header.payload.signature",
            session_tags=(("Email", "alice@example.com"),),
        )
        return identity, (f"{token}-next" if self.rotate else None)

    def exchange(self, identity: FederatedIdentity, profile: Profile) -> AwsCredentials:
        self.exchanges += 1
        return AwsCredentials(
            access_key_id=f"ASIANEW{self.exchanges:013d}",
            secret_access_key="new-secret",
            session_token="new-token",
            expiration=datetime.now(UTC) + timedelta(hours=1),
        )

    def run(self) -> Renewal:
        return current_credentials(
            "dev",
            exchange=self.exchange,
            profile_loader=lambda name: PROFILE,
            refresher=self.refresher,
        )


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def saved(minutes: float, refresh_token: str | None = "rt") -> CacheEntry:
    creds = CacheEntry(
        profile="dev",
        credentials=AwsCredentials(
            access_key_id="ASIAOLD0000000000001",
            secret_access_key="old-secret",
            session_token="old-token",
            expiration=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes),
            session_tags=(("Email", "alice@example.com"),),
        ),
        refresh_token=refresh_token,
    )
    cache.save(creds)
    return creds


def test_fresh_credentials_are_served_without_refreshing() -> None:
    old = saved(30)
    recorder = Recorder()
    renewal = recorder.run()
    assert renewal.entry == old
    assert recorder.refreshes == []


def test_inside_the_refresh_window_they_are_renewed_and_the_token_rotated() -> None:
    saved(4)
    recorder = Recorder()
    renewal = recorder.run()
    assert renewal.refreshed
    assert recorder.refreshes == ["rt"]
    stored = cache.load("dev")
    assert stored is not None
    assert stored.credentials.access_key_id == "ASIANEW0000000000001"
    assert stored.refresh_token == "rt-next"
    assert stored.credentials.seconds_left() > 3000


def test_an_idp_that_does_not_rotate_keeps_the_old_refresh_token() -> None:
    saved(4)
    Recorder(rotate=False).run()
    stored = cache.load("dev")
    assert stored is not None
    assert stored.refresh_token == "rt"


def test_never_signed_in() -> None:
    with pytest.raises(LoginRequiredError, match="not signed in") as info:
        Recorder().run()
    assert info.value.remedy == "run: qbizfed login --profile dev"


def test_expired_without_refresh_token_is_never_served() -> None:
    saved(-1, refresh_token=None)
    recorder = Recorder()
    with pytest.raises(LoginRequiredError, match="expired"):
        recorder.run()
    assert recorder.refreshes == []


def test_ended_idp_session_with_expired_credentials_requires_login() -> None:
    saved(-1)
    recorder = Recorder(fail=TokenEndpointError("refused", error="invalid_grant"))
    with pytest.raises(LoginRequiredError, match="refresh failed"):
        recorder.run()
    stored = cache.load("dev")
    assert stored is not None
    assert stored.refresh_token is None


def test_ended_idp_session_with_valid_credentials_serves_them_with_a_warning() -> None:
    old = saved(3)
    renewal = Recorder(fail=TokenEndpointError("refused", error="invalid_grant")).run()
    assert renewal.entry.credentials.access_key_id == old.credentials.access_key_id
    assert renewal.warning is not None
    assert "qbizfed login --profile dev" in renewal.warning


def test_unreachable_idp_keeps_the_refresh_token_and_waits_before_retrying() -> None:
    saved(3)
    recorder = Recorder(fail=NetworkError("idp down"))
    renewal = recorder.run()
    assert renewal.warning
    stored = cache.load("dev")
    assert stored is not None
    assert stored.refresh_token == "rt"
    assert stored.refresh_retry_after is not None
    # The next calls (every AWS CLI call) neither wait for the IdP nor go to the slow path.
    assert recorder.run().warning is None
    assert recorder.refreshes == ["rt"]
    out = io.StringIO()
    with redirect_stdout(out):
        assert fast.answer_from_warm_cache(["--profile", "dev"]) == 0
    # Once the pause is over, the refresh is tried again.
    cache.save(replace(stored, refresh_retry_after=int(time.time()) - 1))
    recorder.run()
    assert recorder.refreshes == ["rt", "rt"]


def test_retry_pause_never_extends_expired_credentials() -> None:
    stored = replace(saved(-1), refresh_retry_after=int(time.time()) + 600)
    cache.save(stored)
    recorder = Recorder(fail=NetworkError("idp down"))
    with pytest.raises(LoginRequiredError):
        recorder.run()
    assert recorder.refreshes == ["rt"]


def test_missing_email_tag_warns_with_the_fix() -> None:
    entry = saved(30)
    creds = replace(entry, credentials=replace(entry.credentials, session_tags=()))
    (warning,) = email_tag_warnings(creds)
    assert "Email" in warning
    assert "sts:TagSession" in warning
    assert email_tag_warnings(entry) == ()


def test_unset_client_secret_variable_does_not_break_still_valid_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("QBIZFED_UNSET_SECRET", raising=False)
    confidential = replace(PROFILE, client_secret_env="QBIZFED_UNSET_SECRET")
    old = saved(3)

    def refresher(profile: Profile, token: str) -> tuple[FederatedIdentity, str | None]:
        profile.client_secret()  # what the real refresh grant does first
        raise AssertionError("unreachable")

    renewal = current_credentials(
        "dev", profile_loader=lambda name: confidential, refresher=refresher
    )
    assert renewal.entry.credentials.access_key_id == old.credentials.access_key_id
    assert renewal.warning is not None
    assert "QBIZFED_UNSET_SECRET" in renewal.warning
