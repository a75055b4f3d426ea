"""One application's data plane end to end, on the demo corpus and on BatchPutDocument data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from qbizfed.errors import ConfigError
from qbizfed.local.qbusiness.answers import NO_ANSWER
from qbizfed.local.qbusiness.corpus import demo_corpus_path, load_corpus
from qbizfed.local.qbusiness.dataplane_application import (
    ApplicationDataPlane,
    ChatMode,
    ChatRequest,
    PutDocument,
)
from qbizfed.local.qbusiness.dataplane_attributes import AttributeFilter
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError
from qbizfed.local.qbusiness.permissions import (
    AccessConfiguration,
    AccessControl,
    GroupMembers,
    MemberGroup,
    MemberRelation,
    MemberUser,
    PermissionIndex,
    PrincipalGroup,
    PrincipalUser,
    ReadAccess,
    UserIdentity,
    may_see,
)
from qbizfed.local.qbusiness.retrieval import IndexedDocument

APP = "a" * 36
INDEX = "i" * 36
ALICE = "alice@example.com"  # group engineering
BOB = "bob@example.com"  # group finance
CAROL = "carol@example.com"  # no groups


@pytest.fixture(scope="module")
def demo() -> ApplicationDataPlane:
    app = ApplicationDataPlane(APP)
    app.index(INDEX).load_corpus(load_corpus(demo_corpus_path()))
    return app


def cited(app: ApplicationDataPlane, user: str, question: str) -> list[str]:
    result = app.chat(ChatRequest(user, question))
    return [a.document_id for a in result.source_attributions]


def test_demo_corpus_loads_with_groups_and_permissions() -> None:
    corpus = load_corpus(demo_corpus_path())
    assert len(corpus.documents) >= 10
    assert set(corpus.groups) >= {"engineering", "finance"}
    by_id = {d.document.document_id: d for d in corpus.documents}
    assert by_id["hr/vacation-policy"].access is None
    assert by_id["hr/vacation-policy"].document.url == (
        "https://intranet.northwind.example/hr/vacation-policy"
    )
    assert by_id["engineering/deploy-runbook"].document.title == "Deployment runbook"


def test_everyone_sees_public_documents(demo: ApplicationDataPlane) -> None:
    for user in (ALICE, BOB, CAROL):
        sources = cited(demo, user, "How many vacation days do I get?")
        assert sources[0] == "hr/vacation-policy"
        assert set(sources) <= {"hr/vacation-policy", "company/holidays-2026"}


def test_alice_sees_engineering_through_her_group(demo: ApplicationDataPlane) -> None:
    assert cited(demo, ALICE, "How do I roll back a deployment?") == ["engineering/deploy-runbook"]
    assert cited(demo, BOB, "How do I roll back a deployment?") == []
    assert cited(demo, CAROL, "How do I roll back a deployment?") == []


def test_deny_beats_alice_s_group_allow(demo: ApplicationDataPlane) -> None:
    question = "What happened in the payment export outage?"
    assert cited(demo, BOB, question) == ["engineering/incident-review-2026-09"]
    assert cited(demo, ALICE, question) == []  # in engineering, but denied by name
    assert "engineering/incident-review-2026-09" not in demo.index(INDEX).permitted(ALICE)


def test_carol_without_groups_gets_no_answer_on_finance(demo: ApplicationDataPlane) -> None:
    result = demo.chat(ChatRequest(CAROL, "What was revenue in Q3?"))
    assert result.system_message == NO_ANSWER
    assert result.source_attributions == ()
    assert cited(demo, BOB, "What was revenue in Q3?") == ["finance/q3-results"]


def test_mixed_case_acl_email_matches(demo: ApplicationDataPlane) -> None:
    # office-guide allows "Carol@Example.com"
    assert cited(demo, "carol@example.com", "Where is the Lisbon office?") == [
        "company/office-guide"
    ]
    assert "company/office-guide" not in cited(demo, "dave@example.com", "Lisbon office")


def test_nested_group_member_sees_engineering(demo: ApplicationDataPlane) -> None:
    # dave is in "sre", a sub-group of "engineering"
    assert "engineering" in demo.index(INDEX).identity("dave@example.com").groups
    assert cited(demo, "dave@example.com", "payment export outage") == [
        "engineering/incident-review-2026-09"
    ]


def test_attribute_filter_through_chat(demo: ApplicationDataPlane) -> None:
    only_finance = AttributeFilter.from_wire(
        {"equalsTo": {"name": "department", "value": {"stringValue": "finance"}}}
    )
    result = demo.chat(ChatRequest(BOB, "policy", attribute_filter=only_finance))
    assert [a.document_id for a in result.source_attributions] == ["finance/expenses"]


def test_conversation_flow(demo: ApplicationDataPlane) -> None:
    first = demo.chat(ChatRequest(ALICE, "When are deployments allowed?"))
    second = demo.chat(
        ChatRequest(
            ALICE,
            "And how do I roll back?",
            conversation_id=first.conversation_id,
            parent_message_id=first.system_message_id,
        )
    )
    assert second.conversation_id == first.conversation_id
    messages = demo.conversations.list_messages(ALICE, first.conversation_id).items
    assert messages[0].message_id == second.system_message_id
    assert messages[0].source_attribution == second.source_attributions


def test_creator_mode_skips_retrieval(demo: ApplicationDataPlane) -> None:
    result = demo.chat(ChatRequest(BOB, "Q3 revenue", chat_mode=ChatMode.CREATOR_MODE))
    assert result.source_attributions == ()
    assert "18.4" not in result.system_message


def test_plugin_mode_is_refused(demo: ApplicationDataPlane) -> None:
    with pytest.raises(DataPlaneValidationError):
        demo.chat(ChatRequest(BOB, "x", chat_mode=ChatMode.PLUGIN_MODE))


def test_batch_put_acl_change_and_groups_apply_immediately() -> None:
    app = ApplicationDataPlane(APP)
    index = app.index(INDEX)
    acl = AccessConfiguration.from_wire(
        {"accessControls": [{"principals": [{"group": {"name": "legal", "access": "ALLOW"}}]}]}
    )
    doc = IndexedDocument("contract", "Contract", "The supplier contract renews in May.")
    index.put_documents([PutDocument(doc, acl)])
    question = "When does the supplier contract renew?"
    assert cited(app, CAROL, question) == []
    index.groups.put_group("legal", GroupMembers((MemberUser("CAROL@example.com"),)))
    assert cited(app, CAROL, question) == ["contract"]
    result = app.chat(ChatRequest(CAROL, question))
    assert result.source_attributions[0].index_id == INDEX
    index.groups.delete_group("legal")
    assert cited(app, CAROL, question) == []
    index.put_documents([PutDocument(doc, None)])  # now public
    assert cited(app, BOB, question) == ["contract"]
    index.delete_documents(["contract", "never-existed"])
    assert cited(app, BOB, question) == []


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_corpus_folder_with_toml_sidecar_and_txt(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Plain text about parking.")
    write(
        tmp_path / "sub" / "b.md",
        "# Heading B\n\nText about badges.",
    )
    write(
        tmp_path / "sub" / "b.meta.toml",
        'url = "https://x.example/b"\n[attributes]\nreviewed = 2026-01-02T03:04:05Z\n'
        'n = 3\ntags = ["x"]\n[permissions.allow]\nusers = ["u@example.com"]\n',
    )
    write(tmp_path / "groups.json", json.dumps({"g": {"users": ["u@example.com"]}}))
    write(tmp_path / "notes.docx", "ignored: not a folder document type")
    corpus = load_corpus(tmp_path, loaded_at=datetime(2026, 1, 1, tzinfo=UTC))
    docs = {d.document.document_id: d for d in corpus.documents}
    assert set(docs) == {"a", "sub/b"}
    assert docs["a"].access is None
    assert docs["a"].document.title == "a"
    b = docs["sub/b"]
    assert b.document.title == "Heading B"
    assert b.document.url == "https://x.example/b"
    attrs = b.document.attribute_map
    assert attrs["reviewed"].date_value == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert attrs["n"].long_value == 3
    assert attrs["tags"].string_list_value == ("x",)
    assert b.access is not None
    assert [u.user_id for u in corpus.groups["g"].member_users] == ["u@example.com"]


@pytest.mark.parametrize(
    ("sidecar", "content"),
    [
        ("doc.meta.json", "{not json"),
        ("doc.meta.json", '["a list"]'),
        ("doc.meta.json", '{"colour": "red"}'),
        ("doc.meta.json", '{"attributes": {"flag": true}}'),
        ("doc.meta.json", '{"attributes": {"when": {"date": "not a date"}}}'),
        ("doc.meta.json", '{"permissions": {"allow": {"users": "alice"}}}'),
        ("doc.meta.json", '{"permissions": {"maybe": {}}}'),
        ("doc.meta.json", '{"title": 3}'),
        ("groups.json", '{"g": ["alice"]}'),
    ],
    ids=[
        "broken-json",
        "not-an-object",
        "unknown-key",
        "boolean-attribute",
        "bad-date",
        "users-not-a-list",
        "unknown-permission-kind",
        "title-not-string",
        "group-not-an-object",
    ],
)
def test_bad_corpus_files_are_config_errors(tmp_path: Path, sidecar: str, content: str) -> None:
    write(tmp_path / "doc.md", "# Doc\n\ntext")
    write(tmp_path / sidecar, content)
    with pytest.raises(ConfigError) as err:
        load_corpus(tmp_path)
    assert err.value.remedy


def test_missing_corpus_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_corpus(tmp_path / "nope")


def test_a_document_replaced_mid_search_never_leaks() -> None:
    """The ACL is checked, then the document changes, then the text is searched."""
    app = ApplicationDataPlane(APP)
    index = app.index(INDEX)
    bob_only = AccessConfiguration.from_wire(
        {"accessControls": [{"principals": [{"user": {"id": BOB, "access": "ALLOW"}}]}]}
    )
    public = PutDocument(IndexedDocument("doc", "Doc", "The canteen opens at noon."), None)
    secret = PutDocument(IndexedDocument("doc", "Doc", "The canteen merger is secret."), bob_only)
    pending = [secret]

    class InterleavedPermissions(PermissionIndex):
        def permitted(self, user: UserIdentity) -> frozenset[str]:
            result = super().permitted(user)
            if pending:  # another request replaces the document right after the check
                index.put_documents([pending.pop()])
            return result

    index.permissions = InterleavedPermissions()
    index.put_documents([public])
    hits = index.search(CAROL, "canteen merger secret")
    assert pending == []  # the interleaving happened
    assert [h.passage for h in hits if "secret" in h.passage] == []
    assert [h.document.document_id for h in index.search(BOB, "canteen merger secret")] == ["doc"]


USERS = ["u0@example.com", "u1@example.com", "u2@example.com"]
GROUP_NAMES = ["g0", "g1", "g2"]
WORDS = ["alpha", "beta", "gamma", "delta"]

acl_strategy = st.one_of(
    st.none(),
    st.builds(
        AccessConfiguration,
        st.lists(
            st.builds(
                AccessControl,
                st.lists(
                    st.one_of(
                        st.builds(
                            PrincipalUser, st.sampled_from(USERS), st.sampled_from(list(ReadAccess))
                        ),
                        st.builds(
                            PrincipalGroup,
                            st.sampled_from(GROUP_NAMES),
                            st.sampled_from(list(ReadAccess)),
                        ),
                    ),
                    max_size=3,
                ).map(tuple),
                st.sampled_from([None, *MemberRelation]),
            ),
            max_size=2,
        ).map(tuple),
        st.sampled_from([None, *MemberRelation]),
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    docs=st.lists(
        st.tuples(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), acl_strategy),
        min_size=1,
        max_size=8,
    ),
    memberships=st.dictionaries(
        st.sampled_from(GROUP_NAMES),
        st.tuples(
            st.lists(st.sampled_from(USERS), max_size=2),
            st.lists(st.sampled_from(GROUP_NAMES), max_size=2),
        ),
    ),
    who=st.sampled_from(USERS),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join),
)
def test_chat_never_cites_a_document_the_user_may_not_see(
    docs: list[tuple[list[str], AccessConfiguration | None]],
    memberships: dict[str, tuple[list[str], list[str]]],
    who: str,
    query: str,
) -> None:
    app = ApplicationDataPlane(APP)
    index = app.index(INDEX)
    for name, (users, subgroups) in memberships.items():
        index.groups.put_group(
            name,
            GroupMembers(
                tuple(MemberUser(u) for u in users), tuple(MemberGroup(g) for g in subgroups)
            ),
        )
    index.put_documents(
        [
            PutDocument(IndexedDocument(f"d{i}", f"d{i}", " ".join(words)), acl)
            for i, (words, acl) in enumerate(docs)
        ]
    )
    identity = index.identity(who)
    allowed = {f"d{i}" for i, (_, acl) in enumerate(docs) if may_see(acl, identity)}
    result = app.chat(ChatRequest(who, query))
    assert {a.document_id for a in result.source_attributions} <= allowed


def test_wire_dicts_validate_against_the_botocore_model(demo: ApplicationDataPlane) -> None:
    model = botocore.session.get_session().get_service_model("qbusiness")
    validator = ParamValidator()

    def check(shape: str, value: dict[str, object]) -> None:
        report = validator.validate(value, model.shape_for(shape))
        assert not report.has_errors(), report.generate_report()

    result = demo.chat(ChatRequest(BOB, "What was revenue in Q3?"))
    assert result.source_attributions
    check("ChatSyncOutput", result.to_wire())
    page = demo.conversations.list_messages(BOB, result.conversation_id)
    for message in page.items:
        check("Message", message.to_wire())
    for conversation in demo.conversations.list_conversations(BOB).items:
        check("Conversation", conversation.to_wire())
