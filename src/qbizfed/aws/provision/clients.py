"""The boto3 clients provisioning uses, built once and injected everywhere else.

Retries: botocore's ``standard`` mode retries throttling and 5xx answers with
exponential backoff and jitter. :class:`CallLog` hooks botocore's event system
(``before-call.*.*``) to record every API call, which is how tests prove that
re-applying an up-to-date stack makes no mutating call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

READ_ONLY_PREFIXES = ("Get", "List", "Describe")


def is_mutating(operation: str) -> bool:
    """Every AWS operation that is not Get*/List*/Describe* may change something."""
    return not operation.startswith(READ_ONLY_PREFIXES)


@dataclass
class CallLog:
    """Every API call made through the clients it is attached to, as (service, operation)."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append((str(model.service_model.service_name), str(model.name)))

    @property
    def mutating(self) -> list[tuple[str, str]]:
        return [(s, op) for s, op in self.calls if is_mutating(op)]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


@dataclass(frozen=True)
class AwsClients:
    """IAM, Q Business, Secrets Manager, STS and KMS clients for one account and region."""

    iam: Any
    qbusiness: Any
    secretsmanager: Any
    sts: Any
    region: str
    kms: Any = None
    """Only to resolve ``secret_kms_key`` (DescribeKey); None in tests that need no key."""

    @classmethod
    def from_session(
        cls,
        *,
        region: str,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 5,
    ) -> AwsClients:
        """Clients with standard retries; ``AWS_ENDPOINT_URL`` is honoured by botocore itself."""
        session = session or boto3.session.Session()
        config = Config(
            region_name=region,
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            user_agent_extra="qbizfed-admin",
        )

        def make(service: str) -> Any:
            return session.client(service, config=config, endpoint_url=endpoint_url)

        return cls(
            iam=make("iam"),
            qbusiness=make("qbusiness"),
            secretsmanager=make("secretsmanager"),
            sts=make("sts"),
            region=region,
            kms=make("kms"),
        )

    def attach(self, log: CallLog) -> CallLog:
        """Record every call these clients make into ``log``."""
        for client in (self.iam, self.qbusiness, self.secretsmanager, self.sts, self.kms):
            if client is None:
                continue
            client.meta.events.register("before-call.*.*", log.record)
        return log
