"""The session store: TTLs, JSON-only values, atomic one-time use; browser sessions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.web.browser_session import (
    BrowserSessions,
    RefreshGrant,
    SignedInUser,
    WebSession,
)
from qbizfed.web.sessions import InMemorySessionStore, SessionStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_in_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(InMemorySessionStore(), SessionStore)


def test_values_expire_after_their_ttl() -> None:
    clock = FakeClock()
    store = InMemorySessionStore(clock=clock)

    async def run() -> None:
        await store.set("k", {"a": 1}, ttl_seconds=10)
        assert await store.get("k") == {"a": 1}
        clock.now += 10.5
        assert await store.get("k") is None

    asyncio.run(run())


def test_values_must_be_json() -> None:
    store = InMemorySessionStore()
    with pytest.raises(TypeError):
        asyncio.run(store.set("k", {"when": datetime.now(UTC)}, ttl_seconds=10))


def test_stored_values_are_copies() -> None:
    store = InMemorySessionStore()
    value = {"list": [1]}

    async def run() -> None:
        await store.set("k", value, ttl_seconds=10)
        value["list"].append(2)
        got = await store.get("k")
        assert got == {"list": [1]}

    asyncio.run(run())


def test_take_hands_a_value_to_exactly_one_of_many_concurrent_callers() -> None:
    store = InMemorySessionStore()

    async def run() -> list[object]:
        await store.set("state", {"v": 1}, ttl_seconds=10)
        return list(await asyncio.gather(*(store.take("state") for _ in range(50))))

    results = asyncio.run(run())
    assert sum(r is not None for r in results) == 1


def test_add_once_lets_exactly_one_caller_claim_a_key_until_it_expires() -> None:
    clock = FakeClock()
    store = InMemorySessionStore(clock=clock)

    async def run() -> None:
        claims = await asyncio.gather(*(store.add_once("a", ttl_seconds=5) for _ in range(20)))
        assert claims.count(True) == 1
        clock.now += 6
        assert await store.add_once("a", ttl_seconds=5) is True

    asyncio.run(run())


def _signed_in(expires_in: timedelta) -> WebSession:
    return WebSession(
        id="x",
        csrf_token="c",
        created_at=time.time(),  # signed in now (the maximum lifetime counts from here)
        user=SignedInUser(protocol="oidc", email="a@example.com", issuer="i", subject="s"),
        credentials=AwsCredentials(
            access_key_id="ASIAEXAMPLE",
            secret_access_key="secret-value",
            session_token="token-value",
            expiration=datetime.now(UTC) + expires_in,
            region="us-east-1",
            role_arn="arn:aws:iam::123456789012:role/r",
            assumed_role_arn="arn:aws:sts::123456789012:assumed-role/r/a@example.com",
        ),
    )


def test_a_session_round_trips_through_json_and_hides_secrets_in_repr() -> None:
    session = _signed_in(timedelta(hours=1))
    again = WebSession.from_json(session.id, session.to_json())
    assert again == session
    shown = repr(session)
    assert "secret-value" not in shown
    assert "token-value" not in shown


def test_rotation_changes_id_and_csrf_token_and_deletes_the_old_session() -> None:
    store = InMemorySessionStore()
    sessions = BrowserSessions(store, anonymous_ttl=60, max_ttl=3600)

    async def run() -> None:
        old = WebSession.anonymous()
        await sessions.save(old)
        fresh = await sessions.rotate(old, _signed_in(timedelta(hours=1)))
        assert fresh.id != old.id
        assert fresh.csrf_token != old.csrf_token
        assert await sessions.load(old.id) is None
        loaded = await sessions.load(fresh.id)
        assert loaded is not None
        assert loaded.signed_in

    asyncio.run(run())


def test_a_session_ends_when_its_credentials_expire() -> None:
    store = InMemorySessionStore()
    sessions = BrowserSessions(store, anonymous_ttl=60, max_ttl=3600)

    async def run() -> None:
        expired = WebSession.from_json("sid", _signed_in(timedelta(seconds=-1)).to_json())
        await store.set("session:sid", expired.to_json(), ttl_seconds=60)
        assert await sessions.load("sid") is None
        assert await store.get("session:sid") is None

    asyncio.run(run())


def test_session_ttl_is_capped_by_credential_expiry() -> None:
    sessions = BrowserSessions(InMemorySessionStore(), anonymous_ttl=60, max_ttl=43200)
    ttl = sessions.ttl_for(_signed_in(timedelta(minutes=20)))
    assert 1190 <= ttl <= 1200


def test_a_flood_of_sessions_keeps_memory_bounded() -> None:
    store = InMemorySessionStore(max_entries=100)

    async def run() -> None:
        for i in range(1000):
            await store.set(f"session:{i}", {"i": i}, ttl_seconds=60 + i)
        assert len(store) <= 100
        assert await store.get("session:999") == {"i": 999}  # the newest survive

    asyncio.run(run())


def _renewable(expires_in: timedelta, *, created_at: float) -> WebSession:
    return replace(
        _signed_in(expires_in),
        created_at=created_at,
        refresh=RefreshGrant("refresh-token-value", nonce="n", auth_time=1.0),
    )


def test_a_renewable_session_outlives_its_credentials_until_its_maximum_lifetime() -> None:
    store = InMemorySessionStore()
    sessions = BrowserSessions(store, anonymous_ttl=60, max_ttl=3600)

    async def run() -> None:
        lapsed = _renewable(timedelta(seconds=-5), created_at=time.time() - 600)
        await store.set("session:x", lapsed.to_json(), ttl_seconds=60)
        loaded = await sessions.load("x")  # renewal decides: the session is still there
        assert loaded is not None
        assert loaded.refresh == lapsed.refresh
        assert 2990 <= sessions.ttl_for(loaded) <= 3000  # lives to its maximum lifetime
        too_old = _renewable(timedelta(minutes=10), created_at=time.time() - 3601)
        await store.set("session:x", too_old.to_json(), ttl_seconds=60)
        assert await sessions.load("x") is None  # past max_session_seconds: ended
        assert await store.get("session:x") is None

    asyncio.run(run())


def test_the_refresh_token_is_hidden_from_repr() -> None:
    session = _renewable(timedelta(minutes=10), created_at=time.time())
    assert "refresh-token-value" not in repr(session)


def test_the_in_memory_lock_serialises_holders_of_one_key() -> None:
    store = InMemorySessionStore()

    async def run() -> None:
        inside = 0
        most = 0

        async def hold() -> None:
            nonlocal inside, most
            async with store.lock("k", ttl_seconds=5, wait_seconds=5) as held:
                assert held
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(hold() for _ in range(5)))
        assert most == 1
        async with (
            store.lock("k", ttl_seconds=5, wait_seconds=1) as first,
            store.lock("k", ttl_seconds=5, wait_seconds=0.05) as second,
        ):
            assert first
            assert not second  # gave up waiting

    asyncio.run(run())
