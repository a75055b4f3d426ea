"""Wait for a Q Business resource to reach a final status, reporting as it goes."""

from __future__ import annotations

import time
from collections.abc import Callable

from qbizfed.aws.provision.progress import Progress
from qbizfed.errors import AwsError

READY = frozenset({"ACTIVE", "PENDING_AUTH_CONFIG"})
FAILED = frozenset({"FAILED"})


def wait_until_ready(
    resource: str,
    read_status: Callable[[], tuple[str, str]],
    *,
    progress: Progress,
    timeout: float = 1800.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll ``read_status`` (-> status, error message) until ready; raise on FAILED or timeout.

    The interval starts at 0.05 s and grows by half up to 5 s: fast against the local stack,
    gentle against AWS, where an index takes minutes.
    """
    started = clock()
    interval = 0.05
    while True:
        status, error = read_status()
        elapsed = clock() - started
        if status in READY:
            progress.finished(resource, status, elapsed)
            return status
        if status in FAILED:
            raise AwsError(
                f"{resource} is {status}: {error or 'no reason given'}",
                code=status,
                remedy="fix the cause, then `qbizfed admin destroy` and `apply` again",
            )
        if elapsed > timeout:
            raise AwsError(
                f"{resource} still {status} after {elapsed:.0f} s",
                code="Timeout",
                remedy="run `qbizfed admin apply` again later: it continues where it stopped",
            )
        progress.waiting(resource, status, elapsed)
        sleep(interval)
        interval = min(interval * 1.5, 5.0)


def wait_until_gone(
    resource: str,
    exists: Callable[[], str | None],
    *,
    progress: Progress,
    timeout: float = 1800.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll ``exists`` (-> status, or None once deleted) until the resource is gone."""
    started = clock()
    interval = 0.05
    while True:
        status = exists()
        elapsed = clock() - started
        if status is None:
            progress.finished(resource, "DELETED", elapsed)
            return
        if elapsed > timeout:
            raise AwsError(f"{resource} still {status} after {elapsed:.0f} s", code="Timeout",
                           remedy="run `qbizfed admin destroy` again later")
        progress.waiting(resource, status, elapsed)
        sleep(interval)
        interval = min(interval * 1.5, 5.0)
