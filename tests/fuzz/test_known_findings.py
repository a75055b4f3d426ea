"""The findings table is true to the repository: SECURITY.md is generated from it and
current, and every proof it names (crasher file or test id) exists."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fuzz import known_findings
from tests.fuzz.known_findings import FINDINGS, KnownFinding

ROOT = Path(__file__).parents[2]
CRASHERS = Path(__file__).parent / "crashers"


def test_security_md_findings_are_generated_from_the_table() -> None:
    assert known_findings.main(["--check"]) == 0, (
        "SECURITY.md is stale: run .venv/bin/python -m tests.fuzz.known_findings"
    )


def test_the_generated_section_lists_each_finding_under_its_status() -> None:
    text = known_findings.render_findings()
    open_part, fixed_part = text.split("### Fixed findings")
    for finding in FINDINGS:
        assert finding.summary in (open_part if finding.is_open else fixed_part)


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("finding", FINDINGS, ids=[f.source_file for f in FINDINGS])
def test_every_proof_exists(finding: KnownFinding) -> None:
    assert (ROOT / "src" / "qbizfed" / finding.source_file).is_file()
    assert finding.proof
    for proof in finding.proof:
        if proof.endswith(".bin"):
            assert (CRASHERS / proof).is_file(), proof
            continue
        file, _, function = proof.partition("::")
        assert function in _test_functions(ROOT / file), proof
