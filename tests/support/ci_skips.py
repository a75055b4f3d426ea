"""Under ``CI=true`` a skipped test fails the run (a pytest hook, loaded by tests/conftest.py).

A skip means a part the test needs is missing (a Debian package, an npm peer, root for
``chown``...). Locally that is a convenience; in CI it would be a hole in the proof that
stays green, so the report becomes a failure naming the skip's reason. Strict ``xfail``
results are left alone: they are expected outcomes, not skips.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


def running_under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report a skip as a failure under ``CI=true``."""
    report = yield
    if report.skipped and running_under_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"
    return report
