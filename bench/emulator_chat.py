"""Data-plane cost of one emulator chat turn over 10,000 permissioned documents.

Builds an application with 20 PutGroup groups (some nested), 10,000 documents with
access configurations (group and user ALLOWs, some DENYs, some AND relations, a few
public), then measures in process, without HTTP:

* ingest: tokenising and indexing all documents (BatchPutDocument's share),
* cold turn: the first question of a user (permitted set + bm25s index of it),
* warm turn: permission filter + retrieval + answer (``ApplicationDataPlane.answer``)
  and the full ``chat`` (plus recording the conversation), p50/p95.

Goal: warm p50 under 20 ms on a 2-core machine. Run:
``.venv/bin/python bench/emulator_chat.py [--docs 10000] [--turns 400]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from qbizfed.local.qbusiness.dataplane_application import (
    ApplicationDataPlane,
    ChatRequest,
    PutDocument,
)
from qbizfed.local.qbusiness.permissions import (
    AccessConfiguration,
    AccessControl,
    GroupMembers,
    MemberGroup,
    MemberRelation,
    MemberUser,
    Principal,
    PrincipalGroup,
    PrincipalUser,
    ReadAccess,
)
from qbizfed.local.qbusiness.retrieval import IndexedDocument

TOPICS = [
    "vacation leave holiday carry over approval manager calendar",
    "deployment rollback canary pipeline release container cluster",
    "revenue margin quarter forecast budget expenses invoice",
    "security vpn password laptop phishing incident badge",
    "onboarding training mentor probation contract payroll benefits",
    "warehouse robot fleet telemetry gateway battery sensor",
    "customer support ticket escalation refund subscription churn",
    "office parking lunch meeting room desk booking reception",
    "hiring interview candidate offer referral recruiter salary",
    "database migration schema backup replica latency index",
]
FILLER_TEXT = (
    "the team should review update the process each week and document every change "
    "before the deadline while keeping stakeholders informed about progress risks and "
    "decisions taken during planning sessions across regions and departments"
)
FILLER = FILLER_TEXT.split()
QUESTIONS = [
    "How many vacation days carry over?",
    "How do I roll back a canary deployment?",
    "What was the revenue margin this quarter?",
    "What should I do after a phishing incident?",
    "Who is my onboarding mentor during probation?",
    "How is robot battery telemetry sent through the gateway?",
    "When is a customer refund escalated?",
    "How do I book a meeting room?",
    "What is the referral bonus for a hired candidate?",
    "How long does a schema migration backup take?",
]


def build(n_docs: int, rng: random.Random) -> tuple[ApplicationDataPlane, list[str], float]:
    app = ApplicationDataPlane("a" * 36)
    index = app.index("i" * 36)
    users = [f"user{i}@example.com" for i in range(200)]
    groups = [f"group{i:02d}" for i in range(20)]
    for i, group in enumerate(groups):
        members = tuple(MemberUser(u) for u in rng.sample(users, 25))
        subgroups = (MemberGroup(groups[i + 1]),) if i % 5 == 0 and i + 1 < len(groups) else ()
        index.groups.put_group(group, GroupMembers(members, subgroups))
    docs: list[PutDocument] = []
    for d in range(n_docs):
        topic = rng.choice(TOPICS).split()
        paragraphs = [
            " ".join(rng.choice(topic if rng.random() < 0.35 else FILLER) for _ in range(40)) + "."
            for _ in range(rng.randint(2, 4))
        ]
        document = IndexedDocument(
            f"doc-{d:05d}", f"{topic[0].title()} note {d}", "\n\n".join(paragraphs)
        )
        roll = rng.random()
        access: AccessConfiguration | None
        if roll < 0.03:
            access = None
        else:
            principals: list[Principal] = [
                PrincipalGroup(g, ReadAccess.ALLOW) for g in rng.sample(groups, rng.randint(1, 3))
            ]
            principals += [
                PrincipalUser(u, ReadAccess.ALLOW) for u in rng.sample(users, rng.randint(0, 2))
            ]
            if roll < 0.08:
                principals.append(PrincipalUser(rng.choice(users), ReadAccess.DENY))
            relation = MemberRelation.AND if 0.08 <= roll < 0.10 else None
            access = AccessConfiguration((AccessControl(tuple(principals), relation),))
        docs.append(PutDocument(document, access))
    started = time.perf_counter()
    for start in range(0, len(docs), 10):  # BatchPutDocument takes 10 documents a call
        index.put_documents(docs[start : start + 10])
    ingest = time.perf_counter() - started
    return app, users, ingest


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(turns: int, fn: Callable[[int], object]) -> list[float]:
    times: list[float] = []
    for i in range(turns):
        started = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--users", type=int, default=8, help="distinct users asking (warm)")
    args = parser.parse_args()
    rng = random.Random(7)
    app, users, ingest = build(args.docs, rng)
    index = app.index("i" * 36)
    askers = users[: args.users]
    permitted_sizes = [len(index.permitted(u)) for u in askers]
    print(f"documents: {args.docs}, groups: 20, users asking: {len(askers)}")
    print(f"ingest (tokenise, ACLs, 10 docs per call): {ingest:.2f} s")
    print(
        f"permitted documents per user: min {min(permitted_sizes)}, "
        f"median {statistics.median(permitted_sizes):.0f}, max {max(permitted_sizes)}"
    )

    cold = measure(
        len(askers), lambda i: app.answer(ChatRequest(askers[i], QUESTIONS[i % len(QUESTIONS)]))
    )
    print(
        f"cold turn (first question of a user, builds its bm25s index): "
        f"p50 {percentile(cold, 0.5):.1f} ms, max {max(cold):.1f} ms"
    )

    def answer(i: int) -> object:
        return app.answer(ChatRequest(askers[i % len(askers)], QUESTIONS[i % len(QUESTIONS)]))

    def chat(i: int) -> object:
        return app.chat(ChatRequest(askers[i % len(askers)], QUESTIONS[i % len(QUESTIONS)]))

    answered = sum(1 for i in range(len(QUESTIONS)) if answer(i))  # warm-up
    warm = measure(args.turns, answer)
    full = measure(args.turns, chat)
    print(
        f"warm turn, permission filter + retrieval + answer: p50 {percentile(warm, 0.5):.2f} ms,"
        f" p95 {percentile(warm, 0.95):.2f} ms"
    )
    print(
        f"warm turn, full chat (also records the conversation): "
        f"p50 {percentile(full, 0.5):.2f} ms, p95 {percentile(full, 0.95):.2f} ms"
    )
    with_sources = sum(
        1
        for i in range(len(QUESTIONS))
        if app.answer(ChatRequest(askers[i % len(askers)], QUESTIONS[i])).source_attributions
    )
    print(f"questions answered with sources: {with_sources}/{len(QUESTIONS)} (warm-up {answered})")
    print(f"bm25s indexes built: {index.documents.builds}")
    only_group00 = AccessConfiguration(
        (AccessControl((PrincipalGroup("group00", ReadAccess.ALLOW),)),)
    )
    for label, access in (("visible to group00", only_group00), ("public", None)):
        note = IndexedDocument(f"doc-new-{label}", "New", "A new vacation note.")
        index.put_documents([PutDocument(note, access)])
        after = measure(len(askers), answer)
        print(
            f"first turn per user after putting one document {label} "
            f"(only affected indexes rebuilt): p50 {percentile(after, 0.5):.1f} ms, "
            f"max {max(after):.1f} ms"
        )
    goal = percentile(warm, 0.5) < 20
    print(f"goal p50 < 20 ms: {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
