"""The Redis test fixture's contract: skip locally without redis-server, fail under CI=true."""

from __future__ import annotations

import pytest

from tests.support import redis_server


@pytest.fixture
def no_redis_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server, "REDIS_SERVER", "/nonexistent/redis-server")


@pytest.mark.usefixtures("no_redis_installed")
def test_missing_redis_server_skips_locally_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server"):
        redis_server.redis_or_skip()


@pytest.mark.usefixtures("no_redis_installed")
def test_missing_redis_server_fails_loudly_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        redis_server.redis_or_skip()
