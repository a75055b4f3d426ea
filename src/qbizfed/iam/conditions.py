"""IAM policy ``Condition`` blocks, evaluated against a request context.

Pure functions over data: a condition block (as parsed from a policy document) and a
context (condition key -> the request's values for that key). Implements the String,
Arn, Bool, Numeric, Date, IpAddress and Null families, the ``...IfExists`` suffix and
the ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers, following the IAM user guide
("IAM JSON policy elements: Condition operators" and "Single-valued vs. multivalued
context keys"). Both evaluators of the project use it: the local STS (trust policies)
and the local Q Business authorizer plus ``doctor`` (permission policies, through
``qbizfed.iam.policy``).

Condition keys are case-insensitive, values are compared case-sensitively unless
the operator says otherwise. An operator this module does not know raises
``PolicyError`` instead of silently matching or not matching: IAM would have refused
to store such a policy, and guessing could turn a Deny into a no-op.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

ConditionBlock = Mapping[str, Mapping[str, object]]


class PolicyError(ValueError):
    """The policy document cannot be evaluated (malformed or unsupported)."""


class RequestContext:
    """Condition keys (case-insensitive) and the request's values for each.

    Every key maps to a tuple of strings; single-valued keys hold one value,
    multivalued keys (``aws:TagKeys``, ``<issuer>:amr``) hold as many as the request has.
    """

    def __init__(self, values: Mapping[str, tuple[str, ...] | str] | None = None) -> None:
        self._values: dict[str, tuple[str, ...]] = {}
        for key, value in (values or {}).items():
            self.set(key, value)

    def set(self, key: str, value: tuple[str, ...] | str) -> None:
        self._values[key.lower()] = (value,) if isinstance(value, str) else tuple(value)

    def get(self, key: str) -> tuple[str, ...] | None:
        return self._values.get(key.lower())

    def keys(self) -> list[str]:
        return list(self._values)


@lru_cache(maxsize=1024)
def _compiled_wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's ``*`` (any run of characters) and ``?`` (one character) matching."""
    return _compiled_wildcard(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def any_wildcard(patterns: tuple[str, ...], *, ignore_case: bool) -> re.Pattern[str]:
    """One regular expression matching a value any of ``patterns`` matches (fullmatch)."""
    alternatives = "|".join(_compiled_wildcard(p, ignore_case).pattern for p in patterns)
    return re.compile(f"(?:{alternatives})", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _arn_regex(pattern: str) -> str:
    if pattern == "*":
        return ".*"
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return "(?!)"  # not an ARN pattern: matches nothing, as ArnLike does
    out = []
    for index, part in enumerate(parts):
        # A wildcard stays inside its colon-delimited part (the sixth may hold colons).
        star, one = (".*", ".") if index == 5 else ("[^:]*", "[^:]")
        out.append("".join(star if c == "*" else one if c == "?" else re.escape(c) for c in part))
    return ":".join(out)


@lru_cache(maxsize=4096)
def any_arn(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression matching an ARN any of ``patterns`` matches (a statement's
    ``Resource``): ``*`` alone matches anything, otherwise as ``ArnLike`` (fullmatch)."""
    return re.compile("(?:" + "|".join(_arn_regex(p) for p in patterns) + ")", re.DOTALL)


def _arn_parts_match(pattern: str, value: str) -> bool:
    # Each of the six colon-separated ARN parts is matched on its own, so a wildcard
    # cannot swallow a part boundary (IAM: "ArnLike ... each of the six colon-delimited
    # components of the ARN is checked separately").
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _bool_equals(policy: str, value: str) -> bool:
    return policy.lower() == value.lower() and value.lower() in ("true", "false")


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Callable[[str, str], bool]:
    def match(policy: str, value: str) -> bool:
        try:
            return compare(Decimal(value), Decimal(policy))
        except InvalidOperation:
            return False

    return match


def _instant(text: str) -> datetime:
    """An ISO 8601 date-time or an epoch (seconds), as IAM's Date operators accept."""
    if re.fullmatch(r"-?\d{1,12}", text):
        return datetime.fromtimestamp(int(text), UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(compare: Callable[[datetime, datetime], bool]) -> Callable[[str, str], bool]:
    def match(policy: str, value: str) -> bool:
        try:
            return compare(_instant(value), _instant(policy))
        except (ValueError, OverflowError):
            return False

    return match


def _ip_in(policy: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


@dataclass(frozen=True)
class _Operator:
    match: Callable[[str, str], bool]
    """(policy value, request value) -> does this pair match."""
    negated: bool = False


_OPERATORS: dict[str, _Operator] = {
    "stringequals": _Operator(lambda p, v: p == v),
    "stringnotequals": _Operator(lambda p, v: p == v, negated=True),
    "stringequalsignorecase": _Operator(lambda p, v: p.casefold() == v.casefold()),
    "stringnotequalsignorecase": _Operator(lambda p, v: p.casefold() == v.casefold(), True),
    "stringlike": _Operator(wildcard_match),
    "stringnotlike": _Operator(wildcard_match, negated=True),
    "arnequals": _Operator(_arn_parts_match),
    "arnlike": _Operator(_arn_parts_match),
    "arnnotequals": _Operator(_arn_parts_match, negated=True),
    "arnnotlike": _Operator(_arn_parts_match, negated=True),
    "bool": _Operator(_bool_equals),
    "numericequals": _Operator(_numeric(lambda v, p: v == p)),
    "numericnotequals": _Operator(_numeric(lambda v, p: v == p), negated=True),
    "numericlessthan": _Operator(_numeric(lambda v, p: v < p)),
    "numericlessthanequals": _Operator(_numeric(lambda v, p: v <= p)),
    "numericgreaterthan": _Operator(_numeric(lambda v, p: v > p)),
    "numericgreaterthanequals": _Operator(_numeric(lambda v, p: v >= p)),
    "dateequals": _Operator(_date(lambda v, p: v == p)),
    "datenotequals": _Operator(_date(lambda v, p: v == p), negated=True),
    "datelessthan": _Operator(_date(lambda v, p: v < p)),
    "datelessthanequals": _Operator(_date(lambda v, p: v <= p)),
    "dategreaterthan": _Operator(_date(lambda v, p: v > p)),
    "dategreaterthanequals": _Operator(_date(lambda v, p: v >= p)),
    "ipaddress": _Operator(_ip_in),
    "notipaddress": _Operator(_ip_in, negated=True),
}


def _policy_values(raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            values.append(str(item))
        else:
            raise PolicyError(f"condition value {item!r} is not a string, number or boolean")
    return tuple(values)


def _value_satisfies(operator: _Operator, policy_values: tuple[str, ...], value: str) -> bool:
    """One request value against all the policy's values (OR across policy values)."""
    matched = any(operator.match(policy, value) for policy in policy_values)
    return not matched if operator.negated else matched


@dataclass(frozen=True)
class Clause:
    """One ``"<Operator>": {"<key>": <values>}`` entry, validated once."""

    qualifier: str
    """"", "foranyvalue" or "forallvalues"."""
    null: bool
    operator: _Operator | None
    """None for ``Null``."""
    if_exists: bool
    key: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, operator_name: str, key: str, raw_policy_values: object) -> Clause:
        qualifier, _, name = operator_name.rpartition(":")
        qualifier = qualifier.lower()
        if qualifier not in ("", "foranyvalue", "forallvalues"):
            raise PolicyError(f"unknown condition set qualifier {qualifier!r}")
        name = name.lower()
        values = _policy_values(raw_policy_values)
        if name == "null":
            if qualifier:
                raise PolicyError("the Null operator takes no set qualifier")
            return cls(qualifier, True, None, False, key, values)
        if_exists = name.endswith("ifexists")
        operator = _OPERATORS.get(name[: -len("ifexists")] if if_exists else name)
        if operator is None:
            raise PolicyError(f"unknown condition operator {operator_name!r}")
        return cls(qualifier, False, operator, if_exists, key, values)

    def holds(self, context: RequestContext) -> bool:
        request_values = context.get(self.key)
        if self.operator is None:  # Null
            absent = not request_values
            return any((policy.lower() == "true") == absent for policy in self.values)
        operator = self.operator
        if not request_values:
            if self.if_exists or self.qualifier == "forallvalues":
                return True
            if self.qualifier == "foranyvalue":
                return False
            # IAM: a negated operator matches when the key is missing from the request.
            return operator.negated
        if self.qualifier == "foranyvalue":
            return any(_value_satisfies(operator, self.values, v) for v in request_values)
        # ForAllValues, and a plain operator applied to a multivalued key: every value
        # must satisfy it. AWS documents the plain case only as "unpredictable"; requiring
        # all values is the safer reading (an Allow cannot be met by one value among many).
        return all(_value_satisfies(operator, self.values, v) for v in request_values)


def evaluate_operator(
    operator_name: str, key: str, raw_policy_values: object, context: RequestContext
) -> bool:
    """One ``"<Operator>": {"<key>": <values>}`` entry."""
    return Clause.parse(operator_name, key, raw_policy_values).holds(context)


def parse_condition_block(block: object) -> tuple[Clause, ...]:
    """A whole ``Condition`` element, validated; raises ``PolicyError`` if malformed."""
    if block is None:
        return ()
    if not isinstance(block, Mapping):
        raise PolicyError("Condition must be an object")
    clauses = []
    for operator_name, entries in block.items():
        if not isinstance(operator_name, str) or not isinstance(entries, Mapping):
            raise PolicyError(f"condition operator {operator_name!r} must map keys to values")
        for key, raw in entries.items():
            if not isinstance(key, str):
                raise PolicyError("condition keys must be strings")
            clauses.append(Clause.parse(operator_name, key, raw))
    return tuple(clauses)


def evaluate_condition_block(block: object, context: RequestContext) -> bool:
    """A whole ``Condition`` element: every operator and every key must match (AND)."""
    return all(clause.holds(context) for clause in parse_condition_block(block))
