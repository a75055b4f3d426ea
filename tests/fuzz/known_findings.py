"""Findings the fuzzers made that are reported to their owners and not fixed yet.

Each has a crasher file in ``tests/fuzz/crashers/`` that ``test_fuzz_crashers.py``
replays under ``xfail(strict=True)``: the day the owner fixes it, that test XPASSes,
fails the run, and its entry here must be deleted. Until then the bounded fuzz runs
in CI skip *exactly* these signatures: an exception of a named class (or a subclass)
whose innermost qbizfed frame is one function of one source file, so they keep
hunting for new findings instead of stopping on a known one.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownFinding:
    target: str
    crasher: str
    exceptions: tuple[str, ...]
    source_file: str
    function: str
    summary: str


OPEN_FINDINGS: tuple[KnownFinding, ...] = ()


def _innermost_project_frame(exc: BaseException) -> traceback.FrameSummary | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/src/qbizfed/" in f.filename]
    return frames[-1] if frames else None


def known_finding(target: str, exc: BaseException) -> KnownFinding | None:
    """The open finding ``exc`` is an instance of, or None if it is new."""
    frame = _innermost_project_frame(exc)
    if frame is None:
        return None
    for finding in OPEN_FINDINGS:
        if (
            finding.target == target
            and any(cls.__name__ in finding.exceptions for cls in type(exc).__mro__)
            and frame.filename.endswith(finding.source_file)
            and frame.name == finding.function
        ):
            return finding
    return None


def check_skipping_known(target_name: str, check: object, data: bytes) -> None:
    """Run ``check(data)``; swallow only exceptions that are a known open finding."""
    assert callable(check)
    try:
        check(data)
    except Exception as exc:
        if known_finding(target_name, exc) is None:
            raise
