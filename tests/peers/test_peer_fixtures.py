"""The peers' fixtures fail (not skip) under CI when a peer cannot run."""

from __future__ import annotations

import pytest

from tests.peers.conftest import missing_peer


def test_missing_peer_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="unavailable under CI: no node"):
        missing_peer("no node")


def test_missing_peer_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no xmlsec1"):
        missing_peer("no xmlsec1")
