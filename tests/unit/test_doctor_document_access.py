"""``doctor --user --document``: which ACL entry decides, and the fix (pure, on canned
CheckDocumentAccess answers in the API's shapes)."""

from __future__ import annotations

from typing import Any

from qbizfed.doctor.document_access import explain


def answer(
    has_access: bool,
    groups: list[str],
    allow: dict[str, list[str]],
    deny: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    def membership(entries: dict[str, list[str]] | None) -> dict[str, Any]:
        if not entries:
            return {"memberRelation": "OR", "conditions": []}
        return {
            "memberRelation": "OR",
            "conditions": [
                {
                    "memberRelation": "OR",
                    "users": [{"id": u, "type": "INDEX"} for u in entries.get("users", [])],
                    "groups": [{"name": g, "type": "INDEX"} for g in entries.get("groups", [])],
                }
            ],
        }

    return {
        "hasAccess": has_access,
        "userGroups": [{"name": g, "type": "INDEX"} for g in groups],
        "userAliases": [],
        "documentAcl": {"allowlist": membership(allow), "denyList": membership(deny)},
    }


def test_allowed_through_a_group() -> None:
    result = explain("alice@example.com", "doc", answer(True, ["eng"], {"groups": ["eng"]}))
    assert result.exit_code == 0
    assert result.reason == "allowed by ALLOW group eng"
    assert result.fixes == ()


def test_allowed_by_name_matches_case_insensitively() -> None:
    result = explain("Alice@Example.com", "doc", answer(True, [], {"users": ["alice@example.com"]}))
    assert [str(e) for e in result.deciding] == ["ALLOW user alice@example.com"]


def test_denied_through_a_group_says_both_ways_out() -> None:
    result = explain(
        "bob@example.com",
        "doc",
        answer(False, ["eng", "contractors"], {"groups": ["eng"]}, {"groups": ["contractors"]}),
    )
    assert result.exit_code == 1
    assert result.reason == "denied by DENY group contractors"
    assert "permissions.deny.groups" in result.fixes[0]
    assert "take bob@example.com out of group contractors" in result.fixes[0]


def test_not_on_the_allow_list_suggests_each_allowed_group() -> None:
    result = explain(
        "bob@example.com", "doc", answer(False, ["finance"], {"groups": ["eng", "sre"]})
    )
    assert result.exit_code == 1
    assert "not on the allow list" in result.reason
    assert result.fixes[0].startswith("add bob@example.com to group eng")
    assert result.fixes[1].startswith("add bob@example.com to group sre")
    assert "permissions.allow.users" in result.fixes[2]


def test_a_document_without_allow_entries_is_open() -> None:
    result = explain("x@example.com", "doc", answer(True, [], {}))
    assert result.exit_code == 0
    assert "every user of the application sees it" in result.reason
