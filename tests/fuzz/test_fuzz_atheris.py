"""The bounded coverage-guided fuzz run CI does: every atheris target for a few seconds.

Runs ``scripts/fuzz.sh`` (one process per target, libFuzzer's ``-max_total_time``)
and fails on any finding: an exception other than the target's typed refusal and the
open findings of ``known_findings.py``, or an input slower than the per-input
timeout. ``QBIZFED_FUZZ_SECONDS`` sets the time per target (default 10; 6 targets, so
about a minute). For a longer hunt see SECURITY.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).parents[2]
SECONDS = int(os.environ.get("QBIZFED_FUZZ_SECONDS", "10"))

try:
    import atheris  # type: ignore[import-untyped]  # noqa: F401
except ImportError:
    if os.environ.get("CI", "").lower() == "true":  # in CI a missing part fails, not skips
        raise
    pytest.skip("install atheris==3.0.0 to run the fuzzers", allow_module_level=True)


@pytest.mark.timeout(SECONDS * len(TARGETS) + 120)
def test_bounded_atheris_run_finds_nothing(tmp_path: Path) -> None:
    crashers = tmp_path / "crashers"
    crashers.mkdir()
    env = {**os.environ, "FUZZ_WORKDIR": str(tmp_path), "PYTHON": sys.executable,
           "FUZZ_INPUT_TIMEOUT": "10", "FUZZ_CRASHERS": str(crashers)}  # fmt: skip
    result = subprocess.run(
        [str(ROOT / "scripts/fuzz.sh"), str(SECONDS)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    new = sorted(path.name for path in crashers.iterdir())
    assert not new, f"new crashers in {crashers}: {new}"
    assert result.returncode == 0, (
        f"fuzzing found something (inputs in {crashers}: {new}); name each after what it "
        "breaks, move it to tests/fuzz/crashers/ and report it to the owner\n"
        + result.stdout[-6000:]
    )
    for name in TARGETS:
        assert f"{name} stat::number_of_executed_units" in result.stdout, result.stdout[-3000:]
