"""The Redis session store against a real ``redis-server``: TTLs, one-time use under
concurrency (across two store instances, as two brokers would), sealing as seen by
``redis-cli``, tampering, key rotation, and failing closed when Redis is down."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import anyio
import anyio.to_thread
import pytest
import redis

from qbizfed.credentials import AwsCredentials
from qbizfed.web.browser_session import (
    SESSION_PREFIX,
    BrowserSessions,
    SignedInUser,
    WebSession,
)
from qbizfed.web.redis_outage import SessionStoreUnavailable
from qbizfed.web.redis_store import RedisSessionStore, redis_key
from qbizfed.web.saml_stores import StoreReplayCache, StoreRequestIds
from qbizfed.web.sealing import SessionKeys
from tests.support.redis_server import RedisServer, redis_or_skip

T = TypeVar("T")
KEYS = SessionKeys.generate()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = redis_or_skip()
    yield server
    server.close()


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(6)}:"


def make_store(server: RedisServer, prefix: str, keys: SessionKeys = KEYS) -> RedisSessionStore:
    return RedisSessionStore(server.url, keys=keys, prefix=prefix)


def run(stores: list[RedisSessionStore], body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` in a fresh loop and close the stores' connections in that loop."""

    async def main() -> T:
        try:
            return await body()
        finally:
            for store in stores:
                await store.aclose()

    return asyncio.run(main())


def raw_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port)


def signed_in_session(expires_in: timedelta) -> WebSession:
    return WebSession(
        id=WebSession.anonymous().id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=time.time(),
        user=SignedInUser(
            protocol="oidc",
            email="alice@example.com",
            issuer="https://idp.example.com",
            subject="sub-alice",
        ),
        credentials=AwsCredentials(
            access_key_id="ASIA" + secrets.token_hex(8).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            session_token="IQoJb3JpZ2luX2Vj" + secrets.token_urlsafe(200),
            expiration=datetime.now(UTC) + expires_in,
            region="us-east-1",
            role_arn="arn:aws:iam::123456789012:role/QBizWeb",
            assumed_role_arn="arn:aws:sts::123456789012:assumed-role/QBizWeb/alice@example.com",
        ),
        id_token=".".join(
            ("eyJhbGciOiJSUzI1NiJ9", secrets.token_urlsafe(60), secrets.token_urlsafe(60))
        ),
    )


# --- basic semantics ------------------------------------------------------------------


def test_round_trip_and_delete(redis_server: RedisServer, prefix: str) -> None:
    store = make_store(redis_server, prefix)

    async def body() -> None:
        value = {"a": 1, "nested": {"list": [1, "two", None]}, "text": "é✓"}
        await store.set("session:x", value, ttl_seconds=60)
        assert await store.get("session:x") == value
        assert await store.get("session:missing") is None
        await store.delete("session:x")
        assert await store.get("session:x") is None

    run([store], body)


def test_values_expire_after_their_ttl(redis_server: RedisServer, prefix: str) -> None:
    store = make_store(redis_server, prefix)

    async def body() -> None:
        await store.set("oidc-state:s", {"v": 1}, ttl_seconds=0.3)
        assert await store.get("oidc-state:s") == {"v": 1}
        left = await store.ttl_seconds("oidc-state:s")
        assert left is not None
        assert 0 < left <= 0.3
        await asyncio.sleep(0.45)
        assert await store.get("oidc-state:s") is None
        assert await store.take("oidc-state:s") is None

    run([store], body)


def test_zero_or_negative_ttl_removes_the_value(redis_server: RedisServer, prefix: str) -> None:
    store = make_store(redis_server, prefix)

    async def body() -> None:
        await store.set("session:z", {"v": 1}, ttl_seconds=60)
        await store.set("session:z", {"v": 2}, ttl_seconds=0)
        assert await store.get("session:z") is None

    run([store], body)


def test_a_signed_in_session_lives_exactly_as_long_as_its_credentials(
    redis_server: RedisServer, prefix: str
) -> None:
    store = make_store(redis_server, prefix)
    sessions = BrowserSessions(store, anonymous_ttl=1800, max_ttl=43200)
    session = signed_in_session(timedelta(seconds=1234))
    anonymous = WebSession.anonymous()

    async def body() -> None:
        await sessions.save(session)
        await sessions.save(anonymous)
        creds_left = await store.ttl_seconds(SESSION_PREFIX + session.id)
        anon_left = await store.ttl_seconds(SESSION_PREFIX + anonymous.id)
        assert creds_left is not None
        assert 1230 <= creds_left <= 1234
        assert anon_left is not None
        assert 1795 <= anon_left <= 1800
        loaded = await sessions.load(session.id)
        assert loaded == session

    run([store], body)


# --- one-time use under concurrency, across two instances --------------------------------


def test_take_hands_a_value_to_exactly_one_of_many_racing_instances(
    redis_server: RedisServer, prefix: str
) -> None:
    one, two = make_store(redis_server, prefix), make_store(redis_server, prefix)

    async def body() -> None:
        for round_ in range(5):
            key = f"oidc-state:race{round_}"
            await one.set(key, {"verifier": "v"}, ttl_seconds=60)
            results = await asyncio.gather(*(s.take(key) for _ in range(25) for s in (one, two)))
            winners = [r for r in results if r is not None]
            assert winners == [{"verifier": "v"}]

    run([one, two], body)


def test_add_once_lets_exactly_one_racer_claim_until_the_ttl_ends(
    redis_server: RedisServer, prefix: str
) -> None:
    one, two = make_store(redis_server, prefix), make_store(redis_server, prefix)

    async def body() -> None:
        key = "saml-assertion:_a1"
        claims = await asyncio.gather(
            *(s.add_once(key, ttl_seconds=1.0) for _ in range(25) for s in (one, two))
        )
        assert sorted(claims) == [False] * 49 + [True]
        assert await two.add_once(key, ttl_seconds=1.0) is False
        await asyncio.sleep(1.15)
        assert await two.add_once(key, ttl_seconds=1.0) is True

    run([one, two], body)


def test_add_once_keeps_a_claim_at_least_one_second(redis_server: RedisServer, prefix: str) -> None:
    store = make_store(redis_server, prefix)

    async def body() -> None:
        assert await store.add_once("saml-assertion:_short", ttl_seconds=0.001) is True
        await asyncio.sleep(0.1)
        assert await store.add_once("saml-assertion:_short", ttl_seconds=0.001) is False

    run([store], body)


def test_saml_adapters_over_redis_accept_an_assertion_once_across_threads(
    redis_server: RedisServer, prefix: str
) -> None:
    """The SP's blocking interfaces (worker threads, as python3-saml runs) on two stores."""
    one, two = make_store(redis_server, prefix), make_store(redis_server, prefix)
    caches = [StoreReplayCache(one), StoreReplayCache(two)]
    requests_one, requests_two = StoreRequestIds(one), StoreRequestIds(two)
    not_on_or_after = datetime.now(UTC) + timedelta(minutes=5)

    async def body() -> None:
        seen: list[bool] = []

        async def check(cache: StoreReplayCache) -> None:
            seen.append(await anyio.to_thread.run_sync(cache.seen, "_assert-1", not_on_or_after))

        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(check, caches[n % 2])
        assert sorted(seen) == [False] + [True] * 19

        await anyio.to_thread.run_sync(requests_one.remember_request, "ONELOGIN_r1", 60)
        consumed = []

        async def consume(requests: StoreRequestIds) -> None:
            consumed.append(await anyio.to_thread.run_sync(requests.consume_request, "ONELOGIN_r1"))

        async with anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon(consume, requests_two if n % 2 else requests_one)
        assert sorted(consumed) == [False] * 9 + [True]

    run([one, two], body)


def test_a_burst_larger_than_the_pool_waits_for_connections_instead_of_failing(
    redis_server: RedisServer, prefix: str
) -> None:
    """redis-py's default pool raises past its limit; a burst of users must not see 503s."""
    store = RedisSessionStore(redis_server.url, keys=KEYS, prefix=prefix, max_connections=4)

    async def body() -> None:
        await store.set("session:burst", {"csrf": "x"}, ttl_seconds=60)
        results = await asyncio.gather(*(store.get("session:burst") for _ in range(500)))
        assert results == [{"csrf": "x"}] * 500

    run([store], body)


# --- sealing ----------------------------------------------------------------------------


def test_redis_cli_sees_no_credential_token_or_session_id_in_clear(
    redis_server: RedisServer, prefix: str
) -> None:
    store = make_store(redis_server, prefix)
    sessions = BrowserSessions(store, anonymous_ttl=1800, max_ttl=43200)
    session = signed_in_session(timedelta(hours=1))
    pending = {"sid": session.id, "nonce": secrets.token_urlsafe(24),
               "verifier": secrets.token_urlsafe(48), "next": "/"}  # fmt: skip
    state = secrets.token_urlsafe(24)

    async def body() -> None:
        await sessions.save(session)
        await store.set("oidc-state:" + state, pending, ttl_seconds=600)

    run([store], body)
    assert session.credentials is not None
    assert session.id_token is not None
    secrets_in_play = [
        session.id, session.csrf_token, state, pending["nonce"], pending["verifier"],
        session.credentials.access_key_id, session.credentials.secret_access_key,
        session.credentials.session_token, session.id_token,
        session.id_token.split(".")[1], "alice@example.com", "ASIA", "IQoJb3JpZ2lu",
    ]  # fmt: skip
    dump = {k: v for k, v in redis_server.dump_all().items() if k.startswith(prefix.encode())}
    assert len(dump) == 2, dump.keys()
    everything = b"\n".join(list(dump) + list(dump.values()))
    for value in secrets_in_play:
        assert value.encode() not in everything, f"{value[:12]}... is in Redis in clear"
    assert b'"creds"' not in everything
    assert b"secret" not in everything


@pytest.mark.parametrize(
    "attack",
    ["garbage_written_to_the_key", "plain_json_session_written_to_the_key",
     "sealed_value_copied_from_another_session", "one_byte_of_the_value_flipped"],
)  # fmt: skip
def test_a_value_that_does_not_open_reads_as_absent(
    redis_server: RedisServer, prefix: str, attack: str
) -> None:
    store = make_store(redis_server, prefix)
    victim, attacker = WebSession.anonymous(), signed_in_session(timedelta(hours=1))
    victim_key = redis_key(prefix, SESSION_PREFIX + victim.id)
    attacker_key = redis_key(prefix, SESSION_PREFIX + attacker.id)
    sessions = BrowserSessions(store, anonymous_ttl=1800, max_ttl=43200)
    raw = raw_client(redis_server)
    try:

        async def prepare() -> None:
            await sessions.save(victim)
            await sessions.save(attacker)

        run([store], prepare)
        if attack == "garbage_written_to_the_key":
            raw.set(victim_key, b"\x00garbage")
        elif attack == "plain_json_session_written_to_the_key":
            raw.set(victim_key, b'{"csrf":"x","created":1,"user":{"email":"mallory@x"}}')
        elif attack == "sealed_value_copied_from_another_session":
            raw.set(victim_key, raw.get(attacker_key) or b"")
        else:
            value = raw.get(victim_key)
            assert isinstance(value, bytes)
            raw.set(victim_key, value[:-1] + bytes([value[-1] ^ 1]))

        async def load() -> WebSession | None:
            return await sessions.load(victim.id)

        assert run([store], load) is None
    finally:
        raw.close()


def test_key_rotation_keeps_users_signed_in_and_dropping_a_key_signs_them_out(
    redis_server: RedisServer, prefix: str
) -> None:
    old, new = SessionKeys.generate(), SessionKeys.generate()
    session = signed_in_session(timedelta(hours=1))
    before = make_store(redis_server, prefix, old)
    rotated = make_store(redis_server, prefix, SessionKeys(new.keys + old.keys))
    only_new = make_store(redis_server, prefix, new)

    async def body() -> None:
        await BrowserSessions(before, anonymous_ttl=60, max_ttl=43200).save(session)
        after_rotation = BrowserSessions(rotated, anonymous_ttl=60, max_ttl=43200)
        assert await after_rotation.load(session.id) == session
        assert (
            await BrowserSessions(only_new, anonymous_ttl=60, max_ttl=43200).load(session.id)
            is None
        )
        await after_rotation.save(session)  # re-sealed under the new key
        assert (
            await BrowserSessions(only_new, anonymous_ttl=60, max_ttl=43200).load(session.id)
            == session
        )

    run([before, rotated, only_new], body)


# The ACL of docs/deployment.md: the store needs nothing beyond these commands and keys.
LEAST_PRIVILEGE_ACL = ("-@all", "+get", "+set", "+del", "+getdel", "+pttl", "+ping", "+hello",
                       "+client|setname", "+evalsha", "+script|load")  # fmt: skip


def test_the_documented_least_privilege_acl_user_is_enough(redis_server: RedisServer) -> None:
    user, password = f"qbizfed{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    redis_server.cli("ACL", "SETUSER", user, "on", ">" + password, "~qbizfed:*",
                     "resetchannels", *LEAST_PRIVILEGE_ACL)  # fmt: skip
    allowed = RedisSessionStore(f"redis://{user}:{password}@127.0.0.1:{redis_server.port}/0",
                                keys=KEYS)  # fmt: skip
    wrong_prefix = RedisSessionStore(
        f"redis://{user}:{password}@127.0.0.1:{redis_server.port}/0", keys=KEYS, prefix="other:"
    )
    wrong_password = RedisSessionStore(
        f"redis://{user}:not-the-password@127.0.0.1:{redis_server.port}/0", keys=KEYS
    )

    async def body() -> None:
        await allowed.ping()
        await allowed.set("session:acl", {"v": 1}, ttl_seconds=60)
        assert await allowed.get("session:acl") == {"v": 1}
        assert await allowed.take("session:acl") == {"v": 1}
        assert await allowed.add_once("saml-assertion:_acl", ttl_seconds=60) is True
        await allowed.delete("saml-assertion:_acl")
        async with allowed.lock("renewal-lock:acl", ttl_seconds=5, wait_seconds=1) as held:
            assert held  # SET NX PX, then the release script (EVALSHA, SCRIPT LOAD)
        async with allowed.lock("renewal-lock:acl", ttl_seconds=5, wait_seconds=1) as again:
            assert again  # released
        with pytest.raises(SessionStoreUnavailable):  # NOPERM outside qbizfed:*
            await wrong_prefix.get("session:acl")
        with pytest.raises(SessionStoreUnavailable) as caught:
            await wrong_password.get("session:acl")
        assert "not-the-password" not in caught.value.diagnostics()

    run([allowed, wrong_prefix, wrong_password], body)


def test_the_lock_serialises_two_instances_and_expires_with_a_dead_holder(
    redis_server: RedisServer,
) -> None:
    """Two stores (two broker instances) on one Redis: one holder at a time; a holder
    that outlives its TTL loses the lock to a waiter, and its release leaves the new
    holder's lock alone (token compare-and-delete)."""
    prefix = f"qbizfed-lock-{secrets.token_hex(3)}:"
    one, two = make_store(redis_server, prefix), make_store(redis_server, prefix)

    async def body() -> None:
        order: list[str] = []

        async def hold(store: RedisSessionStore, name: str) -> None:
            async with store.lock("renewal-lock:s", ttl_seconds=5, wait_seconds=5) as held:
                assert held
                order.append(name + " in")
                await asyncio.sleep(0.1)
                order.append(name + " out")

        await asyncio.gather(hold(one, "a"), hold(two, "b"))
        assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
        stale = one.lock("renewal-lock:s", ttl_seconds=0.2, wait_seconds=1)
        assert await stale.__aenter__()
        taken = two.lock("renewal-lock:s", ttl_seconds=5, wait_seconds=2)
        assert await taken.__aenter__()  # the stale holder's lock expired
        await stale.__aexit__(None, None, None)  # its late release must not free `taken`
        async with one.lock("renewal-lock:s", ttl_seconds=5, wait_seconds=0.05) as blocked:
            assert not blocked
        await taken.__aexit__(None, None, None)
        async with one.lock("renewal-lock:s", ttl_seconds=5, wait_seconds=0.05) as after:
            assert after

    run([one, two], body)


# --- Redis down: fail closed ----------------------------------------------------------------


OPERATIONS: dict[str, Callable[[RedisSessionStore], Awaitable[object]]] = {
    "get_session": lambda s: s.get("session:abc"),
    "save_session": lambda s: s.set("session:abc", {"csrf": "x"}, ttl_seconds=60),
    "delete_session": lambda s: s.delete("session:abc"),
    "take_oidc_state": lambda s: s.take("oidc-state:abc"),
    "claim_saml_assertion": lambda s: s.add_once("saml-assertion:_a", ttl_seconds=60),
    "ping": lambda s: s.ping(),
}


def test_every_operation_fails_closed_while_redis_is_down_and_recovers() -> None:
    server = redis_or_skip()
    store = RedisSessionStore(server.url, keys=KEYS, prefix="outage:")

    async def body() -> None:
        await store.set("session:abc", {"csrf": "x"}, ttl_seconds=60)  # a live pooled connection
        server.stop()
        for name, operation in OPERATIONS.items():
            started = time.monotonic()
            with pytest.raises(SessionStoreUnavailable) as caught:
                await operation(store)
            assert time.monotonic() - started < 3, f"{name} took too long to fail"
            assert str(server.port) in caught.value.message
            assert "Redis" in caught.value.remedy
        server.start()  # same port, empty (no persistence)
        assert await store.get("session:abc") is None
        assert await store.add_once("saml-assertion:_a", ttl_seconds=60) is True

    try:
        run([store], body)
    finally:
        server.close()


def test_a_full_redis_with_noeviction_fails_closed_on_writes() -> None:
    """docs/deployment.md asks for ``maxmemory-policy noeviction``: a full Redis must refuse
    new claims (so no replay-cache entry is silently lost) and the store must say so."""
    server = redis_or_skip()
    store = RedisSessionStore(server.url, keys=KEYS, prefix="full:")
    try:

        async def fill() -> None:
            await store.set("session:kept", {"csrf": "x"}, ttl_seconds=600)

        run([store], fill)
        used = int(server.cli("INFO", "memory").split(b"used_memory:")[1].split(b"\r\n")[0])
        server.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        server.cli("CONFIG", "SET", "maxmemory", str(used // 2))  # over the limit: full

        async def body() -> None:
            with pytest.raises(SessionStoreUnavailable):
                await store.set("session:new", {"csrf": "y"}, ttl_seconds=600)
            with pytest.raises(SessionStoreUnavailable):
                await store.add_once("saml-assertion:_new", ttl_seconds=60)
            assert await store.get("session:kept") == {"csrf": "x"}  # reads still work

        run([store], body)
    finally:
        server.close()
