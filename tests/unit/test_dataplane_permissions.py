"""Document ACLs and PutGroup groups of the Q Business emulator's data plane."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError
from qbizfed.local.qbusiness.permissions import (
    AccessConfiguration,
    AccessControl,
    GroupDirectory,
    GroupMembers,
    MemberGroup,
    MemberRelation,
    MemberUser,
    PermissionIndex,
    Principal,
    PrincipalGroup,
    PrincipalUser,
    ReadAccess,
    UserIdentity,
    may_see,
    normalize_user_id,
)

ALLOW = ReadAccess.ALLOW
DENY = ReadAccess.DENY
AND = MemberRelation.AND
OR = MemberRelation.OR


def acl(*controls: AccessControl, relation: MemberRelation | None = None) -> AccessConfiguration:
    return AccessConfiguration(tuple(controls), relation)


def control(*principals: Principal, relation: MemberRelation | None = None) -> AccessControl:
    return AccessControl(tuple(principals), relation)


def user(uid: str, access: ReadAccess = ALLOW) -> PrincipalUser:
    return PrincipalUser(uid, access)


def group(name: str, access: ReadAccess = ALLOW) -> PrincipalGroup:
    return PrincipalGroup(name, access)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice@Example.COM", "alice@example.com"),
        ("alice+work@example.com", "alice@example.com"),
        ("ALICE+Work+x@EXAMPLE.com", "alice@example.com"),
        ("  alice@example.com ", "alice@example.com"),
        ("Not-An-Email", "Not-An-Email"),  # non-email ids compare exactly
        ("@example.com", "@example.com"),
        ("alice@", "alice@"),
    ],
)
def test_user_ids_compare_like_q_business(raw: str, normalised: str) -> None:
    assert normalize_user_id(raw) == normalised


ALICE = UserIdentity.of("alice@example.com", {"engineering"})
BOB = UserIdentity.of("bob@example.com", {"finance"})
CAROL = UserIdentity.of("carol@example.com")
DUAL = UserIdentity.of("dual@example.com", {"engineering", "finance"})

ACL_CASES = [
    ("no-acl-is-public", None, CAROL, True),
    ("user-allowed", acl(control(user("carol@example.com"))), CAROL, True),
    ("user-allowed-other-case", acl(control(user("CAROL@example.com"))), CAROL, True),
    ("user-allowed-subaddress", acl(control(user("carol+hr@example.com"))), CAROL, True),
    ("user-not-listed", acl(control(user("bob@example.com"))), CAROL, False),
    ("group-allowed", acl(control(group("engineering"))), ALICE, True),
    ("group-name-is-case-sensitive", acl(control(group("Engineering"))), ALICE, False),
    ("other-group", acl(control(group("finance"))), ALICE, False),
    ("or-any-principal", acl(control(group("finance"), user("alice@example.com"))), ALICE, True),
    (
        "deny-user-beats-group-allow",
        acl(control(group("engineering"), user("alice@example.com", DENY))),
        ALICE,
        False,
    ),
    (
        "deny-group-beats-user-allow",
        acl(control(user("alice@example.com"), group("engineering", DENY))),
        ALICE,
        False,
    ),
    (
        "deny-in-another-control-beats-allow",
        acl(control(user("alice@example.com")), control(group("engineering", DENY))),
        ALICE,
        False,
    ),
    (
        "deny-under-and-relation-still-denies",
        acl(
            control(group("engineering"), user("alice@example.com", DENY), relation=AND),
        ),
        ALICE,
        False,
    ),
    (
        "deny-someone-else-keeps-allow",
        acl(control(group("engineering"), user("bob@example.com", DENY))),
        ALICE,
        True,
    ),
    (
        "and-needs-all-groups",
        acl(control(group("engineering"), group("finance"), relation=AND)),
        ALICE,
        False,
    ),
    (
        "and-all-groups-present",
        acl(control(group("engineering"), group("finance"), relation=AND)),
        DUAL,
        True,
    ),
    (
        "explicit-or",
        acl(control(group("engineering"), group("finance"), relation=OR)),
        BOB,
        True,
    ),
    (
        "controls-and-needs-every-control",
        acl(control(group("engineering")), control(group("finance")), relation=AND),
        ALICE,
        False,
    ),
    (
        "controls-and-satisfied",
        acl(control(group("engineering")), control(group("finance")), relation=AND),
        DUAL,
        True,
    ),
    (
        "controls-or-default",
        acl(control(group("engineering")), control(group("finance"))),
        BOB,
        True,
    ),
    (
        "controls-and-ignores-deny-only-control",
        acl(control(group("engineering")), control(user("bob@example.com", DENY)), relation=AND),
        ALICE,
        True,
    ),
    # Unconfirmed in AWS docs; the safer reading: nothing allowed -> nobody sees it.
    ("empty-acl-hides", acl(), CAROL, False),
    ("empty-control-hides", acl(control()), CAROL, False),
    (
        "deny-only-acl-hides-from-others-too",
        acl(control(user("bob@example.com", DENY))),
        CAROL,
        False,
    ),
]


@pytest.mark.parametrize(
    ("config", "who", "expected"),
    [pytest.param(c, w, e, id=name) for name, c, w, e in ACL_CASES],
)
def test_may_see(config: AccessConfiguration | None, who: UserIdentity, expected: bool) -> None:
    assert may_see(config, who) is expected


@pytest.mark.parametrize(
    ("config", "who", "expected"),
    [pytest.param(c, w, e, id=name) for name, c, w, e in ACL_CASES],
)
def test_permission_index_agrees_with_may_see(
    config: AccessConfiguration | None, who: UserIdentity, expected: bool
) -> None:
    index = PermissionIndex()
    index.set_access("doc", config)
    assert ("doc" in index.permitted(who)) is expected
    assert index.may_see("doc", who) is expected


def test_access_configuration_from_wire() -> None:
    config = AccessConfiguration.from_wire(
        {
            "accessControls": [
                {
                    "principals": [
                        {"user": {"id": "Alice@example.com", "access": "ALLOW"}},
                        {"group": {"name": "eng", "access": "DENY", "membershipType": "INDEX"}},
                    ],
                    "memberRelation": "AND",
                }
            ],
            "memberRelation": "OR",
        }
    )
    assert config.member_relation is OR
    (ctl,) = config.access_controls
    assert ctl.member_relation is AND
    assert ctl.principals[0] == PrincipalUser("Alice@example.com", ALLOW)
    assert isinstance(ctl.principals[1], PrincipalGroup)
    assert ctl.principals[1].access is DENY


def members(users: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> GroupMembers:
    return GroupMembers(tuple(MemberUser(u) for u in users), tuple(MemberGroup(g) for g in groups))


def test_nested_groups_resolve_transitively() -> None:
    directory = GroupDirectory()
    directory.put_group("company", members(users=("ceo@example.com",), groups=("research",)))
    directory.put_group("research", members(groups=("ml",)))
    directory.put_group("ml", members(users=("Alice+x@Example.com",)))
    assert directory.groups_of("alice@example.com") == {"ml", "research", "company"}
    assert directory.groups_of("ceo@example.com") == {"company"}
    assert directory.groups_of("nobody@example.com") == frozenset()


def test_group_cycles_terminate() -> None:
    directory = GroupDirectory()
    directory.put_group("a", members(users=("u@example.com",), groups=("b",)))
    directory.put_group("b", members(groups=("c",)))
    directory.put_group("c", members(groups=("a",)))
    directory.put_group("self", members(groups=("self",), users=("v@example.com",)))
    assert directory.groups_of("u@example.com") == {"a", "b", "c"}
    assert directory.groups_of("v@example.com") == {"self"}


def test_put_group_replaces_members_and_delete_removes() -> None:
    directory = GroupDirectory()
    directory.put_group("eng", members(users=("alice@example.com",)))
    assert directory.groups_of("alice@example.com") == {"eng"}
    version = directory.version
    directory.put_group("eng", members(users=("bob@example.com",)))
    assert directory.version > version
    assert directory.groups_of("alice@example.com") == frozenset()
    assert directory.groups_of("bob@example.com") == {"eng"}
    assert directory.delete_group("eng") is True
    assert directory.delete_group("eng") is False
    assert directory.groups_of("bob@example.com") == frozenset()
    assert directory.group_names() == []


def test_group_members_from_wire() -> None:
    parsed = GroupMembers.from_wire(
        {
            "memberUsers": [{"userId": "a@example.com", "type": "INDEX"}],
            "memberGroups": [{"groupName": "sub"}],
        }
    )
    assert parsed.member_users[0].user_id == "a@example.com"
    assert parsed.member_groups == (MemberGroup("sub"),)


def test_inline_groups_are_limited_to_1000_members() -> None:
    users = [{"userId": f"u{i}@example.com"} for i in range(999)]
    assert (
        len(
            GroupMembers.from_wire(
                {"memberUsers": users, "memberGroups": [{"groupName": "g"}]}
            ).member_users
        )
        == 999
    )
    with pytest.raises(DataPlaneValidationError):
        GroupMembers.from_wire(
            {"memberUsers": users, "memberGroups": [{"groupName": "g"}, {"groupName": "h"}]}
        )


def test_permitted_cache_is_invalidated_on_change() -> None:
    index = PermissionIndex()
    index.set_access("d1", acl(control(user("alice@example.com"))))
    alice = UserIdentity.of("alice@example.com")
    assert index.permitted(alice) == {"d1"}
    assert index.permitted(alice) is index.permitted(alice)  # cached
    index.set_access("d1", acl(control(user("alice@example.com", DENY))))
    assert index.permitted(alice) == frozenset()
    index.set_access("d2", None)
    assert index.permitted(alice) == {"d2"}
    index.remove("d2")
    assert index.permitted(alice) == frozenset()
    assert index.may_see("unknown", alice) is False


# ---- property: the fast index equals the plain evaluation for random ACLs ----

USERS = ["u0@example.com", "u1@example.com", "U2@example.com", "u3+tag@example.com"]
GROUPS = ["g0", "g1", "g2"]

principals = st.one_of(
    st.builds(PrincipalUser, st.sampled_from(USERS), st.sampled_from(list(ReadAccess))),
    st.builds(PrincipalGroup, st.sampled_from(GROUPS), st.sampled_from(list(ReadAccess))),
)
relations = st.sampled_from([None, AND, OR])
controls = st.builds(AccessControl, st.lists(principals, max_size=4).map(tuple), relations)
configs = st.one_of(
    st.none(),
    st.builds(AccessConfiguration, st.lists(controls, max_size=3).map(tuple), relations),
)
identities = st.builds(
    UserIdentity.of,
    st.sampled_from([*USERS, "other@example.com"]),
    st.frozensets(st.sampled_from(GROUPS)),
)


@settings(max_examples=120, deadline=None)
@given(st.lists(configs, min_size=1, max_size=8), identities)
def test_permission_index_matches_brute_force(
    docs: list[AccessConfiguration | None], who: UserIdentity
) -> None:
    index = PermissionIndex()
    for i, config in enumerate(docs):
        index.set_access(f"d{i}", config)
    expected = {f"d{i}" for i, config in enumerate(docs) if may_see(config, who)}
    assert index.permitted(who) == expected
