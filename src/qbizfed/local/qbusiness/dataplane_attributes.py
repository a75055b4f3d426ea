"""Document attributes and ChatSync's ``attributeFilter``, evaluated against them.

Maps 1:1 to botocore's ``DocumentAttribute``/``DocumentAttributeValue`` (a union of
``stringValue``, ``stringListValue``, ``longValue``, ``dateValue``) and
``AttributeFilter`` (``andAllFilters``, ``orAllFilters``, ``notFilter``, ``equalsTo``,
``containsAll``, ``containsAny``, ``greaterThan``, ``greaterThanOrEquals``,
``lessThan``, ``lessThanOrEquals``).

Operator support follows the model's documentation: ``equalsTo`` for all four value
types, ``containsAll``/``containsAny`` for string lists, the ordering operators for
longs and dates. A filter using an operator on a value type it does not support, or
naming zero or several operators in one node, is refused with ValidationException
when parsed. A document lacking the attribute, or holding it with another value
type, does not match a leaf (so ``notFilter`` of that leaf matches it).
``equalsTo`` on string lists compares as sets (order and duplicates ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError


@dataclass(frozen=True)
class AttributeValue:
    """``DocumentAttributeValue``: exactly one field is set."""

    string_value: str | None = None
    string_list_value: tuple[str, ...] | None = None
    long_value: int | None = None
    date_value: datetime | None = None

    def __post_init__(self) -> None:
        set_fields = [
            f
            for f in (self.string_value, self.string_list_value, self.long_value, self.date_value)
            if f is not None
        ]
        if len(set_fields) != 1:
            raise DataPlaneValidationError(
                "A document attribute value must have exactly one of stringValue, "
                "stringListValue, longValue, dateValue."
            )
        if self.date_value is not None and self.date_value.tzinfo is None:
            object.__setattr__(self, "date_value", self.date_value.replace(tzinfo=UTC))

    @property
    def kind(self) -> str:
        """The wire member name of the value's type."""
        if self.string_value is not None:
            return "stringValue"
        if self.string_list_value is not None:
            return "stringListValue"
        if self.long_value is not None:
            return "longValue"
        return "dateValue"

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AttributeValue:
        """Build from ``{"stringValue": ...}`` and friends; dates as datetime, epoch or ISO."""
        if "stringValue" in data:
            return cls(string_value=str(data["stringValue"]))
        if "stringListValue" in data:
            return cls(string_list_value=tuple(str(v) for v in data["stringListValue"]))
        if "longValue" in data:
            value = data["longValue"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataPlaneValidationError("longValue must be an integer.")
            return cls(long_value=value)
        if "dateValue" in data:
            return cls(date_value=parse_date(data["dateValue"]))
        raise DataPlaneValidationError("A document attribute value must not be empty.")


def parse_date(value: object) -> datetime:
    """A timestamp as botocore hands it over: datetime, epoch seconds or ISO 8601."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = datetime.fromtimestamp(float(value), tz=UTC)
            except ValueError as exc:
                raise DataPlaneValidationError(f"Invalid timestamp: {value[:40]!r}") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise DataPlaneValidationError("Invalid timestamp.")


@dataclass(frozen=True)
class DocumentAttribute:
    """``DocumentAttribute``: a name and a value."""

    name: str
    value: AttributeValue

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> DocumentAttribute:
        """Build from ``{"name": ..., "value": {...}}``."""
        return cls(name=str(data["name"]), value=AttributeValue.from_wire(data["value"]))


class FilterOperator(StrEnum):
    """The leaf operators of ``AttributeFilter``."""

    EQUALS_TO = "equalsTo"
    CONTAINS_ALL = "containsAll"
    CONTAINS_ANY = "containsAny"
    GREATER_THAN = "greaterThan"
    GREATER_THAN_OR_EQUALS = "greaterThanOrEquals"
    LESS_THAN = "lessThan"
    LESS_THAN_OR_EQUALS = "lessThanOrEquals"


_SUPPORTED: dict[FilterOperator, frozenset[str]] = {
    FilterOperator.EQUALS_TO: frozenset(
        {"stringValue", "stringListValue", "longValue", "dateValue"}
    ),
    FilterOperator.CONTAINS_ALL: frozenset({"stringListValue"}),
    FilterOperator.CONTAINS_ANY: frozenset({"stringListValue"}),
    FilterOperator.GREATER_THAN: frozenset({"longValue", "dateValue"}),
    FilterOperator.GREATER_THAN_OR_EQUALS: frozenset({"longValue", "dateValue"}),
    FilterOperator.LESS_THAN: frozenset({"longValue", "dateValue"}),
    FilterOperator.LESS_THAN_OR_EQUALS: frozenset({"longValue", "dateValue"}),
}

_MAX_DEPTH = 32


@dataclass(frozen=True)
class AttributeFilter:
    """``AttributeFilter``: one node, either a combinator or a leaf comparison."""

    and_all_filters: tuple[AttributeFilter, ...] | None = None
    or_all_filters: tuple[AttributeFilter, ...] | None = None
    not_filter: AttributeFilter | None = None
    operator: FilterOperator | None = None
    attribute: DocumentAttribute | None = None

    def __post_init__(self) -> None:
        chosen = sum(
            x is not None
            for x in (self.and_all_filters, self.or_all_filters, self.not_filter, self.operator)
        )
        if chosen != 1:
            raise DataPlaneValidationError(
                "An attributeFilter must name exactly one of andAllFilters, orAllFilters, "
                "notFilter, equalsTo, containsAll, containsAny, greaterThan, "
                "greaterThanOrEquals, lessThan, lessThanOrEquals."
            )
        if self.operator is not None:
            if self.attribute is None:
                raise DataPlaneValidationError(f"{self.operator} needs a document attribute.")
            kind = self.attribute.value.kind
            if kind not in _SUPPORTED[self.operator]:
                raise DataPlaneValidationError(
                    f"{self.operator} is not supported for {kind} "
                    f"(supported: {', '.join(sorted(_SUPPORTED[self.operator]))})."
                )

    @classmethod
    def leaf(cls, operator: FilterOperator, name: str, value: AttributeValue) -> AttributeFilter:
        """A comparison node: ``leaf(EQUALS_TO, "dept", AttributeValue(string_value="hr"))``."""
        return cls(operator=operator, attribute=DocumentAttribute(name, value))

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], _depth: int = 0) -> AttributeFilter:
        """Build from the model's JSON shape."""
        if _depth > _MAX_DEPTH:
            raise DataPlaneValidationError("attributeFilter is nested too deeply.")
        if not isinstance(data, Mapping):
            raise DataPlaneValidationError("attributeFilter must be an object.")
        present = [k for k, v in data.items() if v is not None]
        if len(present) != 1:
            # Let __post_init__ produce the one message for zero or several operators.
            return cls()
        key = present[0]
        if key in ("andAllFilters", "orAllFilters"):
            children = tuple(cls.from_wire(c, _depth + 1) for c in data[key])
            if key == "andAllFilters":
                return cls(and_all_filters=children)
            return cls(or_all_filters=children)
        if key == "notFilter":
            return cls(not_filter=cls.from_wire(data[key], _depth + 1))
        try:
            operator = FilterOperator(key)
        except ValueError as exc:
            raise DataPlaneValidationError(f"Unknown attributeFilter member {key!r}.") from exc
        return cls(operator=operator, attribute=DocumentAttribute.from_wire(data[key]))

    def matches(self, attributes: Mapping[str, AttributeValue]) -> bool:
        """Whether a document with these attributes passes the filter."""
        if self.and_all_filters is not None:
            return all(f.matches(attributes) for f in self.and_all_filters)
        if self.or_all_filters is not None:
            return any(f.matches(attributes) for f in self.or_all_filters)
        if self.not_filter is not None:
            return not self.not_filter.matches(attributes)
        assert self.operator is not None
        assert self.attribute is not None
        have = attributes.get(self.attribute.name)
        if have is None or have.kind != self.attribute.value.kind:
            return False
        return _compare(self.operator, have, self.attribute.value)


def _compare(operator: FilterOperator, have: AttributeValue, want: AttributeValue) -> bool:
    if operator is FilterOperator.EQUALS_TO:
        if have.string_list_value is not None and want.string_list_value is not None:
            return set(have.string_list_value) == set(want.string_list_value)
        return have == want
    if operator is FilterOperator.CONTAINS_ALL:
        return set(want.string_list_value or ()) <= set(have.string_list_value or ())
    if operator is FilterOperator.CONTAINS_ANY:
        return bool(set(want.string_list_value or ()) & set(have.string_list_value or ()))
    left = have.long_value if have.long_value is not None else have.date_value
    right = want.long_value if want.long_value is not None else want.date_value
    if left is None or right is None:
        return False
    if isinstance(left, datetime) and isinstance(right, datetime):
        return _order(operator, left.timestamp(), right.timestamp())
    if isinstance(left, int) and isinstance(right, int):
        return _order(operator, left, right)
    return False


def _order(operator: FilterOperator, left: float, right: float) -> bool:
    if operator is FilterOperator.GREATER_THAN:
        return left > right
    if operator is FilterOperator.GREATER_THAN_OR_EQUALS:
        return left >= right
    if operator is FilterOperator.LESS_THAN:
        return left < right
    return left <= right
