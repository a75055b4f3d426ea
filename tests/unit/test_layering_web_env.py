"""Nothing under ``qbizfed/web/`` reads the process environment: settings arrive as values."""

from __future__ import annotations

import re
from pathlib import Path

import qbizfed.web

WEB = Path(qbizfed.web.__file__).parent
READS_ENVIRONMENT = re.compile(r"\bos\s*\.\s*(environ|getenv)\b|\bfrom\s+os\s+import\b")


def test_no_module_under_web_reads_the_environment() -> None:
    offenders = [
        f"{path.relative_to(WEB.parent)}:{number}"
        for path in sorted(WEB.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if READS_ENVIRONMENT.search(line)
    ]
    assert not offenders, f"read the environment in cli/ and pass values: {offenders}"


def test_the_check_would_see_a_read() -> None:
    assert READS_ENVIRONMENT.search('value = os.environ.get("X")')
    assert READS_ENVIRONMENT.search("os.getenv('X')")
    assert READS_ENVIRONMENT.search("from os import environ")
