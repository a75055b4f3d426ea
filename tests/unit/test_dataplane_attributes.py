"""ChatSync attributeFilter evaluation: every operator for every value type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qbizfed.local.qbusiness.dataplane_attributes import (
    AttributeFilter,
    AttributeValue,
    DocumentAttribute,
    FilterOperator,
    parse_date,
)
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError

DOC: dict[str, AttributeValue] = {
    "dept": AttributeValue(string_value="finance"),
    "tags": AttributeValue(string_list_value=("policy", "leave", "hr")),
    "year": AttributeValue(long_value=2026),
    "reviewed": AttributeValue(date_value=datetime(2026, 1, 12, tzinfo=UTC)),
}

JAN_1 = {"dateValue": datetime(2026, 1, 1, tzinfo=UTC)}
JAN_12 = {"dateValue": datetime(2026, 1, 12, tzinfo=UTC)}
FEB_1 = {"dateValue": datetime(2026, 2, 1, tzinfo=UTC)}


def leaf(op: str, name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {op: {"name": name, "value": value}}


FILTER_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("string-equals", leaf("equalsTo", "dept", {"stringValue": "finance"}), True),
    (
        "string-equals-is-case-sensitive",
        leaf("equalsTo", "dept", {"stringValue": "Finance"}),
        False,
    ),
    ("string-not-equal", leaf("equalsTo", "dept", {"stringValue": "hr"}), False),
    ("long-equals", leaf("equalsTo", "year", {"longValue": 2026}), True),
    ("date-equals", leaf("equalsTo", "reviewed", JAN_12), True),
    (
        "list-equals-as-set",
        leaf("equalsTo", "tags", {"stringListValue": ["hr", "policy", "leave"]}),
        True,
    ),
    (
        "list-equals-subset-is-not-equal",
        leaf("equalsTo", "tags", {"stringListValue": ["hr"]}),
        False,
    ),
    ("contains-all", leaf("containsAll", "tags", {"stringListValue": ["hr", "policy"]}), True),
    (
        "contains-all-missing-one",
        leaf("containsAll", "tags", {"stringListValue": ["hr", "x"]}),
        False,
    ),
    ("contains-any", leaf("containsAny", "tags", {"stringListValue": ["x", "leave"]}), True),
    ("contains-any-none", leaf("containsAny", "tags", {"stringListValue": ["x", "y"]}), False),
    ("long-greater", leaf("greaterThan", "year", {"longValue": 2025}), True),
    ("long-greater-equal-bound", leaf("greaterThan", "year", {"longValue": 2026}), False),
    ("long-greater-or-equal", leaf("greaterThanOrEquals", "year", {"longValue": 2026}), True),
    ("long-less", leaf("lessThan", "year", {"longValue": 2027}), True),
    ("long-less-equal-bound", leaf("lessThan", "year", {"longValue": 2026}), False),
    ("long-less-or-equal", leaf("lessThanOrEquals", "year", {"longValue": 2026}), True),
    ("date-greater", leaf("greaterThan", "reviewed", JAN_1), True),
    ("date-greater-false", leaf("greaterThan", "reviewed", FEB_1), False),
    ("date-greater-or-equal", leaf("greaterThanOrEquals", "reviewed", JAN_12), True),
    ("date-less", leaf("lessThan", "reviewed", FEB_1), True),
    ("date-less-or-equal", leaf("lessThanOrEquals", "reviewed", JAN_12), True),
    ("date-less-false", leaf("lessThan", "reviewed", JAN_1), False),
    ("missing-attribute-never-matches", leaf("equalsTo", "nope", {"stringValue": "x"}), False),
    ("type-mismatch-never-matches", leaf("equalsTo", "year", {"stringValue": "2026"}), False),
    ("not-of-missing-matches", {"notFilter": leaf("equalsTo", "nope", {"stringValue": "x"})}, True),
    ("not", {"notFilter": leaf("equalsTo", "dept", {"stringValue": "finance"})}, False),
    (
        "and-all",
        {
            "andAllFilters": [
                leaf("equalsTo", "dept", {"stringValue": "finance"}),
                leaf("greaterThan", "year", {"longValue": 2020}),
            ]
        },
        True,
    ),
    (
        "and-one-false",
        {
            "andAllFilters": [
                leaf("equalsTo", "dept", {"stringValue": "finance"}),
                leaf("greaterThan", "year", {"longValue": 2030}),
            ]
        },
        False,
    ),
    (
        "or-one-true",
        {
            "orAllFilters": [
                leaf("equalsTo", "dept", {"stringValue": "hr"}),
                leaf("containsAny", "tags", {"stringListValue": ["leave"]}),
            ]
        },
        True,
    ),
    ("or-empty-is-false", {"orAllFilters": []}, False),
    ("and-empty-is-true", {"andAllFilters": []}, True),
    (
        "nested",
        {
            "notFilter": {
                "orAllFilters": [
                    {"notFilter": leaf("equalsTo", "dept", {"stringValue": "finance"})},
                    leaf("lessThan", "year", {"longValue": 2000}),
                ]
            }
        },
        True,
    ),
]


@pytest.mark.parametrize(
    ("wire", "expected"), [pytest.param(w, e, id=name) for name, w, e in FILTER_CASES]
)
def test_attribute_filter(wire: dict[str, Any], expected: bool) -> None:
    assert AttributeFilter.from_wire(wire).matches(DOC) is expected


INVALID_FILTERS: list[tuple[str, object]] = [
    ("empty-node", {}),
    ("two-operators-in-one-node", {**leaf("equalsTo", "a", {"stringValue": "x"}), "notFilter": {}}),
    ("contains-all-on-string", leaf("containsAll", "dept", {"stringValue": "x"})),
    ("contains-any-on-long", leaf("containsAny", "year", {"longValue": 1})),
    ("greater-than-on-string", leaf("greaterThan", "dept", {"stringValue": "a"})),
    ("less-than-on-list", leaf("lessThan", "tags", {"stringListValue": ["a"]})),
    ("unknown-operator", leaf("startsWith", "dept", {"stringValue": "a"})),
    ("empty-value", leaf("equalsTo", "dept", {})),
    ("long-as-string", leaf("equalsTo", "year", {"longValue": "2026"})),
    ("long-as-bool", leaf("equalsTo", "year", {"longValue": True})),
    ("bad-date", leaf("equalsTo", "reviewed", {"dateValue": "yesterday"})),
    ("not-an-object", ["equalsTo"]),
]


@pytest.mark.parametrize("wire", [pytest.param(w, id=name) for name, w in INVALID_FILTERS])
def test_invalid_filters_are_validation_errors(wire: Any) -> None:
    with pytest.raises(DataPlaneValidationError) as err:
        AttributeFilter.from_wire(wire)
    assert err.value.code == "ValidationException"


def test_deeply_nested_filter_is_refused_not_a_recursion_error() -> None:
    node: dict[str, Any] = leaf("equalsTo", "dept", {"stringValue": "x"})
    for _ in range(200):
        node = {"notFilter": node}
    with pytest.raises(DataPlaneValidationError):
        AttributeFilter.from_wire(node)


def test_value_needs_exactly_one_member() -> None:
    with pytest.raises(DataPlaneValidationError):
        AttributeValue(string_value="a", long_value=1)
    with pytest.raises(DataPlaneValidationError):
        AttributeValue()


@pytest.mark.parametrize(
    "raw",
    [
        datetime(2026, 1, 12, tzinfo=UTC),
        datetime(2026, 1, 12),  # naive: taken as UTC
        1768176000,
        1768176000.0,
        "2026-01-12T00:00:00Z",
        "2026-01-12T01:00:00+01:00",
    ],
)
def test_dates_from_the_codec(raw: object) -> None:
    assert parse_date(raw) == datetime(2026, 1, 12, tzinfo=UTC)


def test_leaf_builder_and_kinds() -> None:
    f = AttributeFilter.leaf(FilterOperator.EQUALS_TO, "dept", AttributeValue(string_value="hr"))
    assert f.matches({"dept": AttributeValue(string_value="hr")})
    assert DocumentAttribute.from_wire({"name": "n", "value": {"longValue": 3}}).value.kind == (
        "longValue"
    )
