"""Under ``CI=true`` a skipped test fails the run; locally it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SKIPPING = '''
import pytest

def test_needs_a_missing_part():
    pytest.skip("no frobnicator installed")

@pytest.mark.xfail(strict=True, reason="a known gap")
def test_known_gap():
    assert False

def test_fine():
    pass
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "tests.support.ci_skips", "test_skipping.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_skip_fails_the_run_under_ci(tmp_path: Path) -> None:
    run = _run(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    assert "skipped under CI=true, where every test must run: no frobnicator installed" in (
        run.stdout
    )
    assert "1 failed, 1 passed, 1 xfailed" in run.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_a_skip_stays_a_skip_outside_ci(tmp_path: Path, ci: str | None) -> None:
    run = _run(tmp_path, ci)
    assert run.returncode == 0, run.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in run.stdout
