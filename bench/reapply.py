"""Re-applying an up-to-date stack: mutating calls made (goal: 0) and wall time.

``qbizfed admin apply`` (:func:`qbizfed.aws.provision.apply_stack`) creates an OIDC
application against ``qbizfed local aws`` (in process, loopback), then applies the same
configuration again ``--repeats`` times. Every AWS call is counted through botocore's
event hooks (:class:`qbizfed.aws.provision.CallLog`). The baseline is the first apply:
its mutating calls are what the sample's create script makes on every run (it has no
idempotency), and its wall time is the cost of creating everything.

Run: ``.venv/bin/python -m bench.reapply [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from dataclasses import asdict, dataclass

from bench.stack import REGION, admin_session
from qbizfed.aws.provision import AwsClients, CallLog, apply_stack
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from qbizfed.settings.stack import config_from_mapping


@dataclass(frozen=True)
class ReapplyResult:
    first_apply_seconds: float
    first_apply_mutating_calls: int
    reapply_seconds_median: float
    reapply_mutating_calls: int
    reapply_read_calls: int
    repeats: int

    @property
    def time_ratio(self) -> float:
        return self.reapply_seconds_median / self.first_apply_seconds

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "time_ratio": self.time_ratio}


def run(*, repeats: int) -> ReapplyResult:
    name = "bench" + uuid.uuid4().hex[:8]
    with LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.0)) as aws:
        session = admin_session()
        secret = session.client("secretsmanager", endpoint_url=aws.url).create_secret(
            Name=f"{name}-idp", SecretString='{"client_secret": "not-a-real-secret"}'
        )["ARN"]
        config = config_from_mapping({
            "name": name, "mode": "oidc", "region": REGION,
            "oidc": {"issuer_url": f"https://{name}.idp.example.test/oauth2/default",
                     "client_id": f"client-{name}", "secret_id": secret},
        })  # fmt: skip
        clients = AwsClients.from_session(region=REGION, session=session, endpoint_url=aws.url)
        log = clients.attach(CallLog())
        started = time.perf_counter()
        apply_stack(config, clients=clients)
        first_seconds = time.perf_counter() - started
        first_mutating = len(log.mutating)
        times: list[float] = []
        mutating = reads = 0
        for _ in range(repeats):
            log.clear()
            started = time.perf_counter()
            apply_stack(config, clients=clients)
            times.append(time.perf_counter() - started)
            mutating += len(log.mutating)
            reads += len(log.calls) - len(log.mutating)
    return ReapplyResult(
        first_apply_seconds=first_seconds,
        first_apply_mutating_calls=first_mutating,
        reapply_seconds_median=statistics.median(times),
        reapply_mutating_calls=mutating,
        reapply_read_calls=reads // repeats,
        repeats=repeats,
    )


def describe(result: ReapplyResult) -> list[str]:
    return [
        f"re-apply of an up-to-date stack ({result.repeats} times)",
        f"  first apply (baseline): {result.first_apply_seconds * 1000:.0f} ms, "
        f"{result.first_apply_mutating_calls} mutating calls",
        f"  re-apply: {result.reapply_seconds_median * 1000:.0f} ms median, "
        f"{result.reapply_mutating_calls} mutating calls in all, "
        f"{result.reapply_read_calls} read calls each",
        f"  wall-time ratio re-apply/first apply: {result.time_ratio:.2f}x; goal 0 mutating "
        f"calls: {'met' if result.reapply_mutating_calls == 0 else 'missed'}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(repeats=args.repeats)
    print(json.dumps(result.as_dict()) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
