"""Fault rules: parsing of the CLI flags and per-request decisions."""

from __future__ import annotations

import pytest

from qbizfed.errors import ConfigError
from qbizfed.local.faults import FaultInjector, FaultKind, FaultRule, parse_flag


def test_flag_without_service_applies_to_every_service() -> None:
    (rule,) = parse_flag(FaultKind.LATENCY, ["100"])
    assert rule.service == "*"
    assert rule.latency_ms == 100


def test_flag_with_service_prefix() -> None:
    rules = parse_flag(FaultKind.THROTTLE, ["qbusiness=0.5", "sts=1"])
    assert [(r.service, r.rate) for r in rules] == [("qbusiness", 0.5), ("sts", 1.0)]


@pytest.mark.parametrize("value", ["abc", "qbusiness=", "sts=1.5", "-0.1"])
def test_bad_rate_flag_says_what_to_do(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_flag(FaultKind.ERROR, [value])
    assert info.value.remedy


def test_rate_one_always_fails_rate_zero_never() -> None:
    injector = FaultInjector(
        [
            FaultRule(kind=FaultKind.ERROR, service="sts", rate=1.0),
            FaultRule(kind=FaultKind.THROTTLE, service="iam", rate=0.0),
        ]
    )
    assert injector.decide("sts", "GetCallerIdentity").outcome is FaultKind.ERROR
    assert injector.decide("iam", "ListRoles").outcome is None
    assert injector.decide("kms", "ListKeys").outcome is None


def test_rate_is_a_probability() -> None:
    injector = FaultInjector([FaultRule(kind=FaultKind.THROTTLE, rate=0.3)], seed=7)
    hits = sum(injector.decide("s3", None).outcome is not None for _ in range(2000))
    assert 450 < hits < 750


def test_counted_rule_retires_after_its_hits() -> None:
    injector = FaultInjector(
        [FaultRule(kind=FaultKind.ERROR, service="qbusiness", operation="CreateIndex", remaining=2)]
    )
    outcomes = [injector.decide("qbusiness", "CreateIndex").outcome for _ in range(4)]
    assert outcomes == [FaultKind.ERROR, FaultKind.ERROR, None, None]
    assert injector.rules() == []


def test_operation_filter() -> None:
    injector = FaultInjector([FaultRule(kind=FaultKind.ERROR, operation="ChatSync")])
    assert injector.decide("qbusiness", "ListApplications").outcome is None
    assert injector.decide("qbusiness", "ChatSync").outcome is FaultKind.ERROR


def test_latencies_add_up() -> None:
    injector = FaultInjector(parse_flag(FaultKind.LATENCY, ["10", "sts=5"]))
    assert injector.decide("sts", None).delay_seconds == pytest.approx(0.015)
    assert injector.decide("iam", None).delay_seconds == pytest.approx(0.010)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "explode"},
        {"kind": "error", "rate": 2},
        {"rate": 0.5},
        {"kind": "latency", "latency_ms": "x"},
    ],
)
def test_bad_control_rules_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FaultRule.from_mapping(data)


def test_stream_rules_apply_to_streams_only() -> None:
    rule = FaultRule.from_mapping(
        {"kind": "stream-exception", "after_events": 2, "exception_type": "ThrottlingException",
         "count": 1}
    )  # fmt: skip
    assert (rule.kind, rule.after_events, rule.exception_type) == (
        FaultKind.STREAM_EXCEPTION, 2, "ThrottlingException")
    faults = FaultInjector([rule])
    assert faults.decide("qbusiness", "Chat").outcome is None, "requests are not hit"
    assert faults.decide_stream("qbusiness", "Chat") == [rule]
    assert faults.decide_stream("qbusiness", "Chat") == [], "count 1: one stream"


def test_negative_stream_numbers_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot be negative"):
        FaultRule.from_mapping({"kind": "stream-stall", "stall_seconds": -1})
