"""Fault injection for the local stack: latency, throttling, server errors, and
faults inside a streamed chat (close after N events, an exception frame after N
events, a stall of N seconds).

Rules come from command-line flags (``--latency-ms 100``, ``--throttle-rate
qbusiness=0.2``, ``--error-rate sts=0.1``) or from the control endpoint
(``POST /_qbizfed/faults``) so tests can turn faults on and off while the stack
runs. A rule may be limited to one operation and to a number of hits, which makes
"the next three CreateWebExperience calls fail" deterministic. Stream rules
(``stream-close``, ``stream-exception``, ``stream-stall``) apply to WebSocket chat
streams only and count output events (``after_events``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from qbizfed.errors import ConfigError

ALL_SERVICES = "*"


class FaultKind(Enum):
    LATENCY = "latency"
    THROTTLE = "throttle"
    ERROR = "error"
    STREAM_CLOSE = "stream-close"
    STREAM_EXCEPTION = "stream-exception"
    STREAM_STALL = "stream-stall"


STREAM_KINDS = frozenset(
    {FaultKind.STREAM_CLOSE, FaultKind.STREAM_EXCEPTION, FaultKind.STREAM_STALL}
)


@dataclass(frozen=True)
class FaultRule:
    kind: FaultKind
    service: str = ALL_SERVICES
    operation: str | None = None
    rate: float = 1.0
    """Probability that a matching request is hit (throttle/error)."""
    latency_ms: int = 0
    remaining: int | None = None
    """Hit at most this many more requests, then the rule retires (None: forever)."""
    after_events: int = 0
    """Stream rules: act after this many output events were sent."""
    stall_seconds: float = 0.0
    """``stream-stall``: how long no event is sent."""
    exception_type: str = "InternalServerException"
    """``stream-exception``: the ``:exception-type`` of the frame sent."""

    def matches(self, service: str, operation: str | None) -> bool:
        if self.service not in (ALL_SERVICES, service):
            return False
        return self.operation is None or self.operation == operation

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultRule:
        try:
            kind = FaultKind(data["kind"])
            rule = cls(
                kind=kind,
                service=str(data.get("service", ALL_SERVICES)),
                operation=data.get("operation"),
                rate=float(data.get("rate", 1.0)),
                latency_ms=int(data.get("latency_ms", 0)),
                remaining=None if data.get("count") is None else int(data["count"]),
                after_events=int(data.get("after_events", 0)),
                stall_seconds=float(data.get("stall_seconds", 0.0)),
                exception_type=str(data.get("exception_type", "InternalServerException")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"invalid fault rule {dict(data)!r}: {exc}",
                remedy='use {"kind": "latency|throttle|error", "service": "sts", '
                '"operation": "ChatSync", "rate": 0.5, "latency_ms": 100, "count": 3}, or '
                '{"kind": "stream-close|stream-exception|stream-stall", "after_events": 2, '
                '"stall_seconds": 5, "exception_type": "ThrottlingException"}',
            ) from exc
        if rule.after_events < 0 or rule.stall_seconds < 0:
            raise ConfigError(
                "after_events and stall_seconds cannot be negative", remedy="use 0 or more"
            )
        if not 0.0 <= rule.rate <= 1.0:
            raise ConfigError(f"fault rate {rule.rate} is outside 0..1", remedy="use 0.0 to 1.0")
        return rule


@dataclass(frozen=True)
class FaultDecision:
    delay_seconds: float = 0.0
    outcome: FaultKind | None = None
    """THROTTLE or ERROR when the request must fail, None to serve it."""


def parse_flag(kind: FaultKind, values: Iterable[str]) -> list[FaultRule]:
    """``["100"]`` or ``["sts=100", "qbusiness=20"]`` -> rules for one flag."""
    rules = []
    for value in values:
        service, _, number = value.rpartition("=")
        service = service or ALL_SERVICES
        try:
            amount = float(number)
        except ValueError:
            raise ConfigError(
                f"--{kind.value} value {value!r} is not a number",
                remedy="give a number, optionally prefixed by a service: 'qbusiness=0.2'",
            ) from None
        if kind is FaultKind.LATENCY:
            rules.append(FaultRule(kind=kind, service=service, latency_ms=int(amount)))
        else:
            if not 0.0 <= amount <= 1.0:
                raise ConfigError(
                    f"--{kind.value}-rate {value!r} is outside 0..1", remedy="use 0.0 to 1.0"
                )
            rules.append(FaultRule(kind=kind, service=service, rate=amount))
    return rules


def stream_rules(
    *, close_after: int | None, exception_after: int | None, stall_seconds: float | None
) -> list[FaultRule]:
    """Rules for ``--stream-close-after``, ``--stream-exception-after`` and
    ``--stream-stall-seconds`` (a stall after the first event)."""
    rules = []
    if close_after is not None:
        rules.append(FaultRule(kind=FaultKind.STREAM_CLOSE, after_events=close_after))
    if exception_after is not None:
        rules.append(FaultRule(kind=FaultKind.STREAM_EXCEPTION, after_events=exception_after))
    if stall_seconds is not None:
        rules.append(
            FaultRule(kind=FaultKind.STREAM_STALL, after_events=1, stall_seconds=stall_seconds)
        )
    return rules


class FaultInjector:
    """Decides, per request, whether to delay or fail it."""

    def __init__(self, rules: Iterable[FaultRule] = (), *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules = list(rules)
        self._random = random.Random(seed)

    def replace_rules(self, rules: Iterable[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide_stream(self, service: str, operation: str | None) -> list[FaultRule]:
        """The stream rules that hit a stream starting now (each counts as one hit)."""
        hits: list[FaultRule] = []
        with self._lock:
            kept: list[FaultRule] = []
            for rule in self._rules:
                if (
                    rule.kind in STREAM_KINDS
                    and rule.matches(service, operation)
                    and self._random.random() < rule.rate
                ):
                    hits.append(rule)
                    if rule.remaining is not None:
                        rule = replace(rule, remaining=rule.remaining - 1)
                if rule.remaining is None or rule.remaining > 0:
                    kept.append(rule)
            self._rules = kept
        return hits

    def decide(self, service: str, operation: str | None) -> FaultDecision:
        delay_ms = 0
        outcome: FaultKind | None = None
        with self._lock:
            kept: list[FaultRule] = []
            for rule in self._rules:
                hit = (
                    rule.kind not in STREAM_KINDS
                    and rule.matches(service, operation)
                    and (rule.kind is FaultKind.LATENCY or outcome is None)
                )
                if hit and rule.kind is not FaultKind.LATENCY:
                    hit = self._random.random() < rule.rate
                if hit:
                    if rule.kind is FaultKind.LATENCY:
                        delay_ms += rule.latency_ms
                    else:
                        outcome = rule.kind
                    if rule.remaining is not None:
                        rule = replace(rule, remaining=rule.remaining - 1)
                if rule.remaining is None or rule.remaining > 0:
                    kept.append(rule)
            self._rules = kept
        return FaultDecision(delay_seconds=delay_ms / 1000.0, outcome=outcome)
