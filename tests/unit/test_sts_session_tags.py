"""Session tag limits and request parameters, as tables of accepted and refused values."""

from __future__ import annotations

import pytest

from qbizfed.local.sts import parameters
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.session_tags import build_session_tags, tag_context_keys
from qbizfed.local.sts.web_identity import session_tags_from_claims

TAGS = "https://aws.amazon.com/tags"


def test_claim_becomes_tags_and_context() -> None:
    tags = session_tags_from_claims(
        {
            TAGS: {
                "principal_tags": {"Email": ["ada@example.com"], "Dept": ["eng"]},
                "transitive_tag_keys": ["Dept"],
            }
        }
    )
    assert dict(tags.tags) == {"Email": "ada@example.com", "Dept": "eng"}
    context = tag_context_keys(tags)
    assert context["aws:RequestTag/Email"] == "ada@example.com"
    assert context["aws:TagKeys"] == ("Email", "Dept")
    assert context["sts:TransitiveTagKeys"] == ("Dept",)


def test_no_claim_no_tags() -> None:
    assert not session_tags_from_claims({"sub": "x"})


@pytest.mark.parametrize(
    ("claim", "code"),
    [
        ("not-an-object", "InvalidIdentityToken"),
        ({"principal_tags": ["Email"]}, "InvalidIdentityToken"),
        ({"principal_tags": {"Email": "ada@example.com"}}, "InvalidIdentityToken"),
        ({"principal_tags": {"Email": []}}, "InvalidIdentityToken"),
        ({"principal_tags": {"Email": [1]}}, "InvalidIdentityToken"),
        (
            {"principal_tags": {"Email": ["a"]}, "transitive_tag_keys": "Email"},
            "InvalidIdentityToken",
        ),
        ({"principal_tags": {"Email": ["a"], "email": ["b"]}}, "ValidationError"),
        ({"principal_tags": {"k" * 129: ["v"]}}, "ValidationError"),
        ({"principal_tags": {"Email": ["v" * 257]}}, "ValidationError"),
        ({"principal_tags": {"bad<key>": ["v"]}}, "ValidationError"),
        ({"principal_tags": {"Email": ["<script>"]}}, "ValidationError"),
        ({"principal_tags": {"AWS:x": ["v"]}}, "ValidationError"),
        ({"principal_tags": {f"k{n}": ["v"] for n in range(51)}}, "PackedPolicyTooLarge"),
    ],
    ids=[
        "claim_not_an_object",
        "principal_tags_not_an_object",
        "value_not_a_list",
        "value_empty_list",
        "value_not_a_string",
        "transitive_keys_not_a_list",
        "duplicate_keys_ignoring_case",
        "key_too_long",
        "value_too_long",
        "key_with_forbidden_characters",
        "value_with_forbidden_characters",
        "reserved_aws_prefix",
        "fifty_one_tags",
    ],
)
def test_bad_tags_claim(claim: object, code: str) -> None:
    with pytest.raises(StsRefusalError) as info:
        session_tags_from_claims({TAGS: claim})
    assert info.value.code == code


def test_limits_are_inclusive() -> None:
    pairs = [(f"K{n:02d}" + "k" * 124, "v" * 256) for n in range(50)]
    assert len(build_session_tags(pairs, []).tags) == 50
    assert len(build_session_tags([("Email", "")], []).tags) == 1


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ab", True),
        ("ada@example.com", True),
        ("a+b=c,d.e@f-g_h", True),
        ("x" * 64, True),
        ("a", False),
        ("x" * 65, False),
        ("ada lovelace", False),
        ("ada/lovelace", False),
        ("adä", False),
        ("a\nb", False),
    ],
)
def test_role_session_name(name: str, ok: bool) -> None:
    if ok:
        assert parameters.role_session_name(name) == name
    else:
        with pytest.raises(StsRefusalError) as info:
            parameters.role_session_name(name)
        assert info.value.code == "ValidationError"


@pytest.mark.parametrize(
    ("raw", "role_max", "expected"),
    [(None, 3600, 3600), (None, 7200, 3600), ("900", 3600, 900), ("7200", 7200, 7200)],
)
def test_duration_accepted(raw: str | None, role_max: int, expected: int) -> None:
    assert parameters.check_against_role(parameters.requested_duration(raw), role_max) == expected


@pytest.mark.parametrize(
    ("raw", "role_max"),
    [("899", 3600), ("3601", 3600), ("43201", 43200), ("1e3", 3600), ("", 3600), ("-1", 3600)],
    ids=["below_900", "above_role_max", "above_12h", "not_an_integer", "empty_is_default", "neg"],
)
def test_duration_refused(raw: str, role_max: int) -> None:
    if raw == "":
        assert parameters.requested_duration(raw) is None
        return
    with pytest.raises(StsRefusalError) as info:
        parameters.check_against_role(parameters.requested_duration(raw), role_max)
    assert info.value.code == "ValidationError"


@pytest.mark.parametrize(
    ("policy", "code"),
    [
        ("{not json", "MalformedPolicyDocument"),
        ("[]", "MalformedPolicyDocument"),
        ('{"Statement": []}' + " " * 2100, "PackedPolicyTooLarge"),
    ],
    ids=["not_json", "not_an_object", "too_large"],
)
def test_session_policy_refused(policy: str, code: str) -> None:
    with pytest.raises(StsRefusalError) as info:
        parameters.session_policy(policy)
    assert info.value.code == code
