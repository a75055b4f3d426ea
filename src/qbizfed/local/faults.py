"""Fault injection for the local stack: latency, throttling and server errors.

Rules come from command-line flags (``--latency-ms 100``, ``--throttle-rate
qbusiness=0.2``, ``--error-rate sts=0.1``) or from the control endpoint
(``POST /_qbizfed/faults``) so tests can turn faults on and off while the stack
runs. A rule may be limited to one operation and to a number of hits, which makes
"the next three CreateWebExperience calls fail" deterministic.
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
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"invalid fault rule {dict(data)!r}: {exc}",
                remedy='use {"kind": "latency|throttle|error", "service": "sts", '
                '"operation": "ChatSync", "rate": 0.5, "latency_ms": 100, "count": 3}',
            ) from exc
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

    def decide(self, service: str, operation: str | None) -> FaultDecision:
        delay_ms = 0
        outcome: FaultKind | None = None
        with self._lock:
            kept: list[FaultRule] = []
            for rule in self._rules:
                hit = rule.matches(service, operation) and (
                    rule.kind is FaultKind.LATENCY or outcome is None
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
