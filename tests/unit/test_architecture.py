"""The imports follow docs/architecture.md: the arrows table there is the rule."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "qbizfed"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _table() -> dict[str, tuple[str, ...]]:
    """part -> what it may import, from the table between the architecture markers."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    body = text.split("<!-- architecture:start -->", 1)[1].split("<!-- architecture:end -->")[0]
    allowed: dict[str, tuple[str, ...]] = {}
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        part = cells[0].strip("`")
        allowed[part] = tuple(re.findall(r"`([\w.]+)`", cells[2]))
        if cells[2] == "every part":
            allowed[part] = ("*",)
    return allowed


def _part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every ``qbizfed.…`` module ``path`` imports, lazily or not."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from qbizfed.creds import record`` imports the module qbizfed.creds.record.
            names = [_submodule_or_package(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == "qbizfed" or name.startswith("qbizfed."):
                yield node.lineno, name.removeprefix("qbizfed.")


def _submodule_or_package(module: str, name: str) -> str:
    folder = ROOT / "src" / Path(*module.split("."))
    if (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists():
        return f"{module}.{name}"
    return module


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_table_names_every_part_and_only_parts_that_exist() -> None:
    parts = {_part_of(path) for path in _sources()} - {"__init__"}
    assert set(_table()) == parts


def test_every_import_follows_an_arrow_of_the_table() -> None:
    allowed = _table()
    wrong = []
    for path in _sources():
        part = _part_of(path)
        if part == "__init__" or allowed.get(part) == ("*",):
            continue
        for line, module in _imports(path):
            target = module.split(".")[0]
            if target == part or target not in allowed:  # the package root (__version__)
                continue
            if any(module == entry or module.startswith(entry + ".") for entry in allowed[part]):
                continue
            wrong.append(f"{path.relative_to(ROOT)}:{line} ({part}) imports qbizfed.{module}")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_nothing_imports_the_cli_and_only_the_cli_imports_local() -> None:
    for path in _sources():
        part = _part_of(path)
        for line, module in _imports(path):
            target = module.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            assert target != "cli" or part == "cli", where
            assert target != "local" or part in {"cli", "local"}, where


def test_no_module_under_web_reads_the_environment() -> None:
    environment = {"environ", "getenv", "environb"}
    readers = []
    for path in sorted((PACKAGE / "web").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            reads = (isinstance(node, ast.Attribute) and node.attr in environment) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and bool({alias.name for alias in node.names} & environment)
            )
            if reads:
                readers.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    assert not readers, "web/ must take its settings as values: " + ", ".join(readers)
