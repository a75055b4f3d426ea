"""``--session-store URL`` -> a store; Redis key names; no Redis server needed here."""

from __future__ import annotations

import pytest

from qbizfed.errors import ConfigError
from qbizfed.web.redis_store import (
    DEFAULT_PREFIX,
    RedisSessionStore,
    redis_key,
    session_store_from_url,
)
from qbizfed.web.sealing import SessionKeys
from qbizfed.web.sessions import InMemorySessionStore, SessionStore

KEY = SessionKeys.generate()


def test_memory_url_gives_the_in_memory_store_without_a_key() -> None:
    assert isinstance(session_store_from_url("memory://", key=None), InMemorySessionStore)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:p4ss@redis.internal:6380/2",
        "rediss://user:p4ss@redis.example.com:6379/0",
        "unix:///run/redis/redis.sock?db=1",
    ],
)
def test_redis_urls_give_a_redis_store(url: str) -> None:
    store = session_store_from_url(url, key=KEY)
    assert isinstance(store, RedisSessionStore)
    assert isinstance(store, SessionStore)
    assert "p4ss" not in repr(store)
    assert "p4ss" not in store.where


def test_key_may_be_given_as_the_environment_text() -> None:
    store = session_store_from_url("redis://127.0.0.1:6379/0", key=KEY.encoded())
    assert isinstance(store, RedisSessionStore)


@pytest.mark.parametrize("key", [None, "", "   "])
def test_redis_without_a_session_key_refuses_to_start(key: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        session_store_from_url("redis://127.0.0.1:6379/0", key=key)
    assert "QBIZFED_SESSION_KEY" in caught.value.remedy


@pytest.mark.parametrize(
    ("case", "url"),
    [
        ("http_url", "http://127.0.0.1:6379/"),
        ("file_url", "file:///tmp/sessions"),
        ("bare_host", "127.0.0.1:6379"),
        ("empty", ""),
        ("memcached", "memcached://127.0.0.1:11211"),
    ],
)
def test_unknown_store_kinds_are_refused(case: str, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        session_store_from_url(url, key=KEY)
    assert "redis://" in caught.value.remedy


def test_malformed_redis_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        session_store_from_url("redis://:s3cr3t@127.0.0.1:6379/not-a-db", key=KEY)
    assert "s3cr3t" not in caught.value.diagnostics()


@pytest.mark.parametrize(
    ("app_key", "namespace"),
    [
        ("session:AbC123", "session"),
        ("oidc-state:st4te-value", "oidc-state"),
        ("saml-assertion:_assertion-1234", "saml-assertion"),
        ("no-namespace", "other"),
        ("UPPER:s3cretsessionid", "other"),
        ("we ird:s3cretsessionid", "other"),
        ("a" * 40 + ":s3cretsessionid", "other"),
    ],
)
def test_redis_keys_keep_the_namespace_and_hash_the_rest(app_key: str, namespace: str) -> None:
    name = redis_key(DEFAULT_PREFIX, app_key)
    assert name.startswith(f"{DEFAULT_PREFIX}{namespace}:")
    secret_part = app_key.partition(":")[2] or app_key
    assert secret_part not in name.removeprefix(f"{DEFAULT_PREFIX}{namespace}:")


def test_redis_key_length_is_bounded_and_distinct() -> None:
    huge = "oidc-state:" + "A" * 100_000
    assert len(redis_key(DEFAULT_PREFIX, huge)) < 100
    assert redis_key(DEFAULT_PREFIX, "session:a") != redis_key(DEFAULT_PREFIX, "session:b")
    assert redis_key("x:", "session:a") != redis_key("y:", "session:a")


@pytest.mark.parametrize(
    ("case", "url"),
    [
        ("port_not_a_number", "redis://:s3cr3t@127.0.0.1:notaport/0"),
        ("bad_option", "redis://:s3cr3t@127.0.0.1:6379/0?socket_timeout=abc"),
    ],
)
def test_unparseable_redis_urls_are_config_errors(case: str, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        session_store_from_url(url, key=KEY)
    assert "s3cr3t" not in caught.value.diagnostics()
