"""ChatSync through boto3 and the local endpoint over 10,000 permissioned documents.

Issue 3's number: the emulator's own cost of a chat turn, measured the way users
call it (boto3, SigV4, HTTP on loopback), printed next to a cheap identity-aware
request to the same endpoint (GetChatControlsConfiguration) made the same way, so
the ratio and the difference show what the emulator itself adds.

    .venv/bin/python bench/emulator_chatsync_http.py [--docs 10000] [--groups 20] [--turns 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from qbizfed.local.sessions import IssuedSession
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from qbizfed.policies import application_arn, web_experience_permission_policy

QUESTIONS = [
    "How many vacation days carry over?",
    "How do I roll back a canary deployment?",
    "What was the revenue margin this quarter?",
    "What should I do after a phishing incident?",
    "How is robot battery telemetry sent through the gateway?",
]
TOPICS = [
    "vacation leave holiday carry over approval manager calendar",
    "deployment rollback canary pipeline release container cluster",
    "revenue margin quarter forecast budget expenses invoice",
    "security vpn password laptop phishing incident badge",
    "warehouse robot fleet telemetry gateway battery sensor",
]
USER = "bench.user@example.com"
NO_RETRY = Config(retries={"max_attempts": 1})


def _admin(url: str, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", config=NO_RETRY,
        aws_access_key_id="AKIABENCHADMIN00", aws_secret_access_key="bench",
    )  # fmt: skip


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def _time(call: Callable[[], object], turns: int) -> list[float]:
    samples = []
    for _ in range(turns):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def seed(stack: LocalAws, *, docs: int, groups: int, rng: random.Random) -> str:
    qb = _admin(stack.url, "qbusiness")
    app = qb.create_application(
        displayName="bench", identityType="AWS_IAM_IDP_OIDC",
        iamIdentityProviderArn="arn:aws:iam::123456789012:oidc-provider/bench.example.test",
        clientIdsForOIDC=["bench"],
    )["applicationId"]  # fmt: skip
    while qb.get_application(applicationId=app)["status"] != "ACTIVE":
        time.sleep(0.05)
    subscription = {"autoSubscribe": "ENABLED", "defaultSubscriptionType": "Q_BUSINESS"}
    qb.update_application(applicationId=app, autoSubscriptionConfiguration=subscription)
    index = qb.create_index(applicationId=app, displayName="bench")["indexId"]
    while qb.get_index(applicationId=app, indexId=index)["status"] != "ACTIVE":
        time.sleep(0.05)
    qb.create_retriever(
        applicationId=app, type="NATIVE_INDEX", displayName="bench",
        configuration={"nativeIndexConfiguration": {"indexId": index}},
    )  # fmt: skip
    names = [f"group{i:02d}" for i in range(groups)]
    for i, name in enumerate(names):
        users = [{"userId": f"user{j}@example.com", "type": "INDEX"} for j in range(i, 200, groups)]
        if i == 0:
            users.append({"userId": USER, "type": "INDEX"})
        qb.put_group(
            applicationId=app, indexId=index, groupName=name, type="INDEX",
            groupMembers={"memberUsers": users},
        )  # fmt: skip
    batch: list[dict[str, Any]] = []
    for n in range(docs):
        topic = TOPICS[n % len(TOPICS)].split()
        text = " ".join(rng.choice(topic) for _ in range(60))
        group = names[rng.randrange(groups)]
        batch.append({
            "id": f"doc-{n}", "title": f"Document {n}",
            "content": {"blob": text.encode()}, "contentType": "PLAIN_TEXT",
            "accessConfiguration": {"accessControls": [{"principals": [
                {"group": {"name": group, "access": "ALLOW", "membershipType": "INDEX"}}]}]},
        })  # fmt: skip
        if len(batch) == 10:
            failed = qb.batch_put_document(applicationId=app, indexId=index, documents=batch)
            assert not failed.get("failedDocuments"), failed["failedDocuments"][:1]
            batch = []
    if batch:
        qb.batch_put_document(applicationId=app, indexId=index, documents=batch)
    return str(app)


def user_session(stack: LocalAws, app: str) -> IssuedSession:
    """A federated session of ``USER`` whose role holds the web experience policy."""
    iam = _admin(stack.url, "iam")
    iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")
    arn = application_arn(region="us-east-1", account_id="123456789012", application_id=app)
    permissions = web_experience_permission_policy(application_arn=arn, region="us-east-1")
    iam.put_role_policy(RoleName="bench", PolicyName="chat", PolicyDocument=json.dumps(permissions))
    return stack.registry.issue(
        account_id="123456789012", role_arn="arn:aws:iam::123456789012:role/bench",
        role_id="AROABENCH", session_name="bench", duration_seconds=3600, tags={"Email": USER},
    )  # fmt: skip


def user_client(stack: LocalAws, app: str) -> Any:
    session = user_session(stack, app)
    return boto3.client(
        "qbusiness", endpoint_url=stack.url, region_name="us-east-1", config=NO_RETRY,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
    )  # fmt: skip


def run(docs: int, groups: int, turns: int) -> dict[str, float]:
    rng = random.Random(7)
    with LocalAws(LocalAwsSettings(port=0, active_delay_seconds=0.05)) as stack:
        started = time.perf_counter()
        app = seed(stack, docs=docs, groups=groups, rng=rng)
        ingest_s = time.perf_counter() - started
        qb = user_client(stack, app)
        for _ in range(3):  # the first call subscribes the user; then warm the user's index
            try:
                qb.chat_sync(applicationId=app, userMessage=QUESTIONS[0])
            except qb.exceptions.AccessDeniedException:
                time.sleep(0.05)
        noop = _time(lambda: qb.get_chat_controls_configuration(applicationId=app), turns)
        questions = iter(QUESTIONS * (turns // len(QUESTIONS) + 1))
        chat = _time(lambda: qb.chat_sync(applicationId=app, userMessage=next(questions)), turns)
    noop_p50, noop_p95 = _percentiles(noop)
    chat_p50, chat_p95 = _percentiles(chat)
    return {
        "docs": docs, "groups": groups, "turns": turns, "ingest_s": round(ingest_s, 2),
        "noop_p50_ms": round(noop_p50, 2), "noop_p95_ms": round(noop_p95, 2),
        "chatsync_p50_ms": round(chat_p50, 2), "chatsync_p95_ms": round(chat_p95, 2),
        "emulator_p50_ms": round(chat_p50 - noop_p50, 2),
        "ratio_p50": round(chat_p50 / noop_p50, 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run(args.docs, args.groups, args.turns)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"ChatSync over {result['docs']} documents, {result['groups']} groups, "
        f"{result['turns']} turns (ingest {result['ingest_s']} s)"
    )
    print(f"  cheap call  p50 {result['noop_p50_ms']:.2f} ms  p95 {result['noop_p95_ms']:.2f} ms")
    chat_p50, chat_p95 = result["chatsync_p50_ms"], result["chatsync_p95_ms"]
    print(f"  ChatSync    p50 {chat_p50:.2f} ms  p95 {chat_p95:.2f} ms")
    print(f"  emulator's own cost p50 {result['emulator_p50_ms']:.2f} ms "
          f"(ratio {result['ratio_p50']:.2f}x; goal: under 20 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
