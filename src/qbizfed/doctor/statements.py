"""Reading IAM policy documents: which statements allow an action, for whom, on what.

A deliberately small reading of trust policies, enough to say *why* federation fails:
``Action``/``NotAction`` wildcards (case-insensitive), ``Principal.Federated``, and the
presence of condition keys. Whether a permission policy grants access is decided by
``qbizfed.iam.policy`` (the evaluator the local stack uses), not here.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Statement = Mapping[str, Any]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(document: Mapping[str, Any] | None) -> list[Statement]:
    if not document:
        return []
    raw = document.get("Statement", [])
    return [s for s in as_list(raw) if isinstance(s, Mapping)]


def glob_match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def matches_action(statement: Statement, action: str) -> bool:
    if "NotAction" in statement:
        return not any(glob_match(str(p), action, case_sensitive=False)
                       for p in as_list(statement["NotAction"]))
    patterns = as_list(statement.get("Action"))
    return any(glob_match(str(p), action, case_sensitive=False) for p in patterns)


def matches_resource(statement: Statement, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(glob_match(str(p), resource, case_sensitive=True)
                       for p in as_list(statement["NotResource"]))
    patterns = as_list(statement.get("Resource"))
    if not patterns:
        return True  # trust policies have no Resource
    return any(glob_match(str(p), resource, case_sensitive=True) for p in patterns)


def effect(statement: Statement) -> str:
    return str(statement.get("Effect", "")).capitalize()


def federated_principals(statement: Statement) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, Mapping):
        return [str(p) for p in as_list(principal.get("Federated"))]
    return []


def allowing(document: Mapping[str, Any] | None, action: str, resource: str | None = None
             ) -> list[Statement]:
    """``Allow`` statements whose Action (and Resource, if given) match."""
    return [s for s in statements(document)
            if effect(s) == "Allow" and matches_action(s, action)
            and (resource is None or matches_resource(s, resource))]


@dataclass(frozen=True)
class ConditionEntry:
    operator: str
    key: str
    values: tuple[str, ...]


def condition_entries(statement: Statement) -> Iterator[ConditionEntry]:
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            yield ConditionEntry(str(operator), str(key),
                                 tuple(str(v) for v in as_list(values)))


def condition_on(statement: Statement, key: str) -> ConditionEntry | None:
    """The condition on ``key`` (condition keys are case-insensitive in IAM)."""
    for entry in condition_entries(statement):
        if entry.key.lower() == key.lower():
            return entry
    return None


def with_statement(document: Mapping[str, Any] | None, statement: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """``document`` with ``statement`` appended (a new document; the input is untouched)."""
    base: dict[str, Any] = json.loads(json.dumps(dict(document or {})))
    base.setdefault("Version", "2012-10-17")
    base["Statement"] = [*as_list(base.get("Statement")), dict(statement)]
    return base


def dumps(document: Mapping[str, Any]) -> str:
    """A policy document as readable JSON (what a fix shows and what it applies)."""
    return json.dumps(document, indent=2, sort_keys=False)
