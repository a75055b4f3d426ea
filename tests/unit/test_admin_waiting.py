"""Waiting for Q Business resources: ready, failed, timed out (with a fake clock)."""

from __future__ import annotations

import pytest

from qbizfed.aws.provision.progress import RecordingProgress
from qbizfed.aws.provision.waiting import wait_until_gone, wait_until_ready
from qbizfed.errors import AwsError


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waits_with_growing_interval_until_active() -> None:
    statuses = iter(["CREATING"] * 6 + ["ACTIVE"])
    fake, progress = FakeTime(), RecordingProgress()
    final = wait_until_ready("index", lambda: (next(statuses), ""), progress=progress,
                             clock=fake.clock, sleep=fake.sleep)
    assert final == "ACTIVE"
    assert fake.sleeps == sorted(fake.sleeps)
    assert fake.sleeps[0] == 0.05
    assert max(fake.sleeps) <= 5.0
    assert progress.events[-1] == ("finished", "index: ACTIVE")
    assert ("waiting", "index: CREATING") in progress.events


def test_failed_status_stops_with_the_reason() -> None:
    with pytest.raises(AwsError, match="application is FAILED: quota exceeded") as info:
        wait_until_ready("application", lambda: ("FAILED", "quota exceeded"),
                         progress=RecordingProgress())
    assert "destroy" in info.value.remedy


def test_timeout_says_apply_continues() -> None:
    fake = FakeTime()
    with pytest.raises(AwsError, match="still CREATING") as info:
        wait_until_ready("index", lambda: ("CREATING", ""), progress=RecordingProgress(),
                         timeout=30, clock=fake.clock, sleep=fake.sleep)
    assert "apply" in info.value.remedy
    assert fake.now >= 30


def test_web_experience_pending_auth_config_counts_as_ready() -> None:
    assert wait_until_ready("web experience", lambda: ("PENDING_AUTH_CONFIG", ""),
                            progress=RecordingProgress()) == "PENDING_AUTH_CONFIG"


def test_wait_until_gone() -> None:
    statuses = iter(["DELETING", "DELETING", None])
    fake = FakeTime()
    wait_until_gone("application", lambda: next(statuses), progress=RecordingProgress(),
                    clock=fake.clock, sleep=fake.sleep)
    assert len(fake.sleeps) == 2
