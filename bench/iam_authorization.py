"""IAM authorization's cost per Q Business request (goal: < 0.2 ms p50 added, 10 statements).

``qbizfed local aws`` runs in process on loopback. A federated session (Email tag,
issued by the local STS) whose role holds one 10-statement permission policy (the
statement that allows comes last, two carry conditions, one Deny does not apply) calls
``GetChatControlsConfiguration`` through boto3, SigV4 and HTTP, as users do. The same
request is timed with the emulator's authorization on and off (its internal switch) in
alternating phases of one request each, in ABBA order, so that load on the machine hits
both alike: what authorization adds is the median of the paired differences (a
difference of two medians of ~3 ms loopback requests on a shared machine is mostly
noise). The evaluation alone (the authorizer called in process for the same operation)
is timed as well.

Run: ``.venv/bin/python -m bench.iam_authorization [--pairs 2000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from botocore.config import Config

from bench.stack import ADMIN_KEY, ADMIN_SECRET, REGION
from bench.stats import Latency
from qbizfed.local.sigv4 import Caller
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from qbizfed.policies import application_arn

ACCOUNT = "123456789012"
ROLE = "bench-iam"
OPERATION = "GetChatControlsConfiguration"
ONE_TRY = Config(retries={"max_attempts": 1})


def ten_statements(app_arn: str) -> dict[str, Any]:
    """A realistic 10-statement policy; only the last statement allows the call."""
    other = app_arn.rsplit("/", 1)[0] + "/some-other-application"
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": [f"qbusiness:{verb}Index" for verb in ("Get", "List")],
         "Resource": [other, other + "/index/*"]},
        {"Effect": "Allow", "Action": "qapps:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["qbusiness:ChatSync", "qbusiness:Chat"],
         "Resource": other},
        {"Effect": "Deny", "Action": "qbusiness:Delete*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringLike": {"kms:ViaService": f"qbusiness.{REGION}.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "qbusiness:ListConversations", "Resource": other},
        {"Effect": "Allow", "Action": "user-subscriptions:CreateClaim", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "qbusiness:*", "Resource": other},
        {"Effect": "Allow", "Action": "qbusiness:PutFeedback", "Resource": app_arn + "/*"},
        {"Effect": "Allow", "Action": ["qbusiness:Get*", "qbusiness:List*"], "Resource": app_arn,
         "Condition": {"StringLike": {"aws:PrincipalTag/Email": "*@example.com"},
                       "StringEquals": {"aws:RequestedRegion": REGION}}},
    ]  # fmt: skip
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class IamAuthorizationResult:
    on: Latency
    off: Latency
    added_ms: float
    """Median of (on - off) over adjacent pairs of identical requests."""
    evaluation: Latency
    statements: int
    pairs: int

    @property
    def ratio(self) -> float:
        return self.on.p50 / self.off.p50

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def _client(url: str, service: str, **creds: str) -> Any:
    creds = creds or {"aws_access_key_id": ADMIN_KEY, "aws_secret_access_key": ADMIN_SECRET}
    return boto3.client(service, endpoint_url=url, region_name=REGION, config=ONE_TRY, **creds)


def run(*, pairs: int) -> IamAuthorizationResult:
    with LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.0)) as stack:
        app = _client(stack.url, "qbusiness").create_application(
            displayName="bench-iam", identityType="AWS_IAM_IDP_OIDC",
            iamIdentityProviderArn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.test",
            clientIdsForOIDC=["bench"])["applicationId"]  # fmt: skip
        policy = ten_statements(application_arn(region=REGION, account_id=ACCOUNT,
                                                application_id=app))  # fmt: skip
        iam = _client(stack.url, "iam")
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument="{}")
        iam.put_role_policy(RoleName=ROLE, PolicyName="ten", PolicyDocument=json.dumps(policy))
        session = stack.registry.issue(
            account_id=ACCOUNT, role_arn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
            role_id="AROABENCHIAM", session_name="bench", duration_seconds=3600,
            tags={"Email": "bench@example.com"}, federated_by="bench",
        )  # fmt: skip
        user = _client(stack.url, "qbusiness", aws_access_key_id=session.access_key_id,
                       aws_secret_access_key=session.secret_access_key,
                       aws_session_token=session.session_token)  # fmt: skip
        authorizer = stack.qbusiness.iam

        def call() -> float:
            started = time.perf_counter()
            user.get_chat_controls_configuration(applicationId=app)
            return time.perf_counter() - started

        samples: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(20):  # warm both paths (connection, caches)
            for enabled in (True, False):
                authorizer.enabled = enabled
                call()
        for n in range(pairs):
            for enabled in ((True, False) if n % 2 == 0 else (False, True)):
                authorizer.enabled = enabled
                samples[enabled].append(call())
        authorizer.enabled = True
        differences = [on - off for on, off in zip(samples[True], samples[False], strict=True)]

        caller = Caller(access_key_id=session.access_key_id, account_id=ACCOUNT, region=REGION,
                        session=session, is_admin=False)  # fmt: skip
        labels = {"applicationId": app}
        evaluation = []
        for _ in range(pairs):
            started = time.perf_counter()
            authorizer.authorize_operation(caller, OPERATION, labels, source_ip="127.0.0.1")
            evaluation.append(time.perf_counter() - started)
    return IamAuthorizationResult(
        on=Latency.of_seconds(samples[True]), off=Latency.of_seconds(samples[False]),
        added_ms=statistics.median(differences) * 1000,
        evaluation=Latency.of_seconds(evaluation), statements=len(policy["Statement"]),
        pairs=pairs,
    )  # fmt: skip


def describe(result: IamAuthorizationResult) -> list[str]:
    return [
        f"{OPERATION} with a {result.statements}-statement role policy, "
        f"{result.pairs} alternating pairs of requests (authorization on / off)",
        f"  authorization on   p50 {result.on.p50:.3f} ms  p95 {result.on.p95:.3f} ms",
        f"  authorization off  p50 {result.off.p50:.3f} ms  p95 {result.off.p95:.3f} ms",
        f"  added (median of paired differences) {result.added_ms:+.3f} ms "
        f"(ratio of p50s {result.ratio:.3f}x; goal < 0.2 ms)",
        f"  evaluation alone, in process: p50 {result.evaluation.p50:.3f} ms "
        f"p95 {result.evaluation.p95:.3f} ms",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(pairs=args.pairs)
    print(json.dumps(result.as_dict()) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
