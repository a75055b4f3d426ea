"""Every input a fuzzer ever crashed on, replayed against its target.

Files in ``tests/fuzz/crashers/`` are named ``<target>-<what it broke>.bin``. A crasher
of an open finding (``known_findings.py``) is expected to crash until its owner fixes
it (``xfail(strict=True)``: a fix makes this test fail until the entry is removed);
every other crasher must now be refused cleanly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.known_findings import OPEN_FINDINGS, known_finding
from tests.fuzz.targets import TARGETS

CRASHERS = Path(__file__).parent / "crashers"
OPEN = {crasher: finding for finding in OPEN_FINDINGS for crasher in finding.crashers}


class KnownFindingReproducedError(Exception):
    """The crasher still crashes its target exactly as its open finding describes."""


def _cases() -> list[object]:
    cases: list[object] = []
    for path in sorted(CRASHERS.glob("*.bin")):
        target = path.name.split("-", 1)[0]
        finding = OPEN.get(path.name)
        marks = (
            [
                pytest.mark.xfail(
                    strict=True,
                    raises=KnownFindingReproducedError,
                    reason=f"open finding: {finding.summary}",
                )
            ]
            if finding
            else []
        )
        cases.append(pytest.param(target, path, id=path.stem, marks=marks))
    return cases


def test_every_open_finding_has_its_crasher_file() -> None:
    for finding in OPEN_FINDINGS:
        assert finding.crashers, finding.summary
        assert all((CRASHERS / crasher).is_file() for crasher in finding.crashers)
        assert finding.signature is not None, "the fuzzers need its signature to look past it"
        assert finding.signature.target in TARGETS


@pytest.mark.parametrize(("target_name", "crasher"), _cases())
def test_crasher_is_refused_cleanly(target_name: str, crasher: Path) -> None:
    target = TARGETS[target_name]()
    try:
        target.check(crasher.read_bytes())
    except Exception as exc:
        if OPEN.get(crasher.name) and known_finding(target_name, exc) is OPEN[crasher.name]:
            raise KnownFindingReproducedError(crasher.name) from exc
        raise
