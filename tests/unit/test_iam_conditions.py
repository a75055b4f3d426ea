"""The IAM condition evaluator, as a table: operator, policy values, request context,
expected outcome. Cases follow the IAM user guide's condition-operator semantics."""

from __future__ import annotations

from typing import Any

import pytest

from qbizfed.iam.conditions import (
    PolicyError,
    RequestContext,
    evaluate_condition_block,
    evaluate_operator,
)

AUD = "idp.example.test/realm:aud"
CTX = RequestContext(
    {
        AUD: "client-1",
        "idp.example.test/realm:sub": "User-42",
        "idp.example.test/realm:amr": ("pwd", "mfa"),
        "aws:RequestTag/Email": "ada@example.com",
        "aws:TagKeys": ("Email", "Dept"),
        "aws:SecureTransport": "true",
        "aws:FederatedProvider": "arn:aws:iam::123456789012:oidc-provider/idp.example.test/realm",
        "sts:DurationSeconds": "3600",
    }
)
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/idp.example.test/realm"
FP = "aws:FederatedProvider"
AMR = "idp.example.test/realm:amr"

CASES: list[tuple[str, str, str, Any, bool]] = [
    # name, operator, key, policy value(s), expected
    ("equals_match", "StringEquals", AUD, "client-1", True),
    ("equals_any_of_list", "StringEquals", AUD, ["x", "client-1"], True),
    ("equals_is_case_sensitive", "StringEquals", AUD, "CLIENT-1", False),
    ("equals_missing_key", "StringEquals", "nope:key", "x", False),
    ("key_name_is_case_insensitive", "StringEquals", AUD.upper(), "client-1", True),
    ("not_equals_other", "StringNotEquals", AUD, "client-2", True),
    ("not_equals_same", "StringNotEquals", AUD, "client-1", False),
    ("not_equals_none_of_list", "StringNotEquals", AUD, ["a", "client-1"], False),
    ("not_equals_missing_key_matches", "StringNotEquals", "nope:key", "x", True),
    ("ignore_case", "StringEqualsIgnoreCase", "idp.example.test/realm:sub", "user-42", True),
    ("not_equals_ignore_case", "StringNotEqualsIgnoreCase", AUD, "CLIENT-1", False),
    ("like_star", "StringLike", "aws:RequestTag/Email", "*", True),
    ("like_suffix", "StringLike", "aws:RequestTag/Email", "*@example.com", True),
    ("like_question_mark", "StringLike", AUD, "client-?", True),
    ("like_no_match", "StringLike", "aws:RequestTag/Email", "*@evil.test", False),
    ("like_missing_key", "StringLike", "aws:RequestTag/Dept", "*", False),
    ("like_anchored", "StringLike", AUD, "client", False),
    ("like_regex_chars_literal", "StringLike", AUD, "client.1", False),
    ("not_like", "StringNotLike", "aws:RequestTag/Email", "*@evil.test", True),
    ("not_like_match", "StringNotLike", "aws:RequestTag/Email", "*@example.com", False),
    ("if_exists_missing", "StringEqualsIfExists", "nope:key", "x", True),
    ("if_exists_present_mismatch", "StringEqualsIfExists", AUD, "x", False),
    ("like_if_exists_present", "StringLikeIfExists", AUD, "client-*", True),
    ("bool_true", "Bool", "aws:SecureTransport", "true", True),
    ("bool_json_boolean", "Bool", "aws:SecureTransport", True, True),
    ("bool_false", "Bool", "aws:SecureTransport", "false", False),
    ("bool_missing", "Bool", "aws:MultiFactorAuthPresent", "true", False),
    ("bool_if_exists_missing", "BoolIfExists", "aws:MultiFactorAuthPresent", "false", True),
    ("arn_like_wildcard", "ArnLike", FP, "arn:aws:iam::*:oidc-provider/*", True),
    ("arn_equals_exact", "ArnEquals", "aws:FederatedProvider", PROVIDER_ARN, True),
    ("arn_like_other_account", "ArnLike", FP, "arn:aws:iam::999999999999:*", False),
    ("arn_like_not_an_arn", "ArnLike", AUD, "arn:aws:iam::*:*", False),
    ("arn_not_like", "ArnNotLike", "aws:FederatedProvider", "arn:aws:iam::999999999999:*", True),
    ("null_true_absent", "Null", "aws:RequestTag/Dept", "true", True),
    ("null_true_present", "Null", "aws:RequestTag/Email", "true", False),
    ("null_false_present", "Null", "aws:RequestTag/Email", "false", True),
    ("null_false_absent", "Null", "aws:RequestTag/Dept", "false", False),
    ("numeric_less_than", "NumericLessThanEquals", "sts:DurationSeconds", "3600", True),
    ("numeric_greater", "NumericGreaterThan", "sts:DurationSeconds", "3600", False),
    ("numeric_not_a_number", "NumericEquals", AUD, "1", False),
    ("any_value_one_matches", "ForAnyValue:StringEquals", AMR, "mfa", True),
    ("any_value_none_match", "ForAnyValue:StringEquals", AMR, "otp", False),
    ("any_value_missing_key", "ForAnyValue:StringEquals", "nope:key", "x", False),
    ("all_values_subset", "ForAllValues:StringEquals", "aws:TagKeys", ["Email", "Dept", "X"], True),
    ("all_values_not_subset", "ForAllValues:StringEquals", "aws:TagKeys", ["Email"], False),
    ("all_values_missing_key_is_vacuous", "ForAllValues:StringEquals", "nope:key", "x", True),
    ("all_values_like", "ForAllValues:StringLike", "aws:TagKeys", ["E*", "D*"], True),
    ("any_value_not_equals", "ForAnyValue:StringNotEquals", "aws:TagKeys", "Email", True),
    ("plain_operator_multivalued_needs_all", "StringEquals", "aws:TagKeys", "Email", False),
    ("plain_like_multivalued_all_match", "StringLike", "aws:TagKeys", "*", True),
]


@pytest.mark.parametrize(
    ("operator", "key", "values", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_operator(operator: str, key: str, values: Any, expected: bool) -> None:
    assert evaluate_operator(operator, key, values, CTX) is expected


def test_block_is_a_conjunction() -> None:
    block = {
        "StringEquals": {AUD: "client-1"},
        "StringLike": {"aws:RequestTag/Email": "*", "aws:RequestTag/Dept": "*"},
    }
    assert evaluate_condition_block(block, CTX) is False
    del block["StringLike"]["aws:RequestTag/Dept"]
    assert evaluate_condition_block(block, CTX) is True


def test_absent_block_is_true() -> None:
    assert evaluate_condition_block(None, CTX) is True


@pytest.mark.parametrize(
    "block",
    [
        {"StringEqualz": {AUD: "x"}},
        {"ForSomeValues:StringEquals": {AUD: "x"}},
        {"ForAnyValue:Null": {AUD: "true"}},
        {"StringEquals": {AUD: {"nested": "object"}}},
        {"StringEquals": "not-an-object"},
        ["not", "a", "mapping"],
    ],
    ids=[
        "unknown_operator",
        "unknown_qualifier",
        "null_with_qualifier",
        "object_as_value",
        "operator_without_keys",
        "block_not_an_object",
    ],
)
def test_malformed_conditions_raise(block: Any) -> None:
    with pytest.raises(PolicyError):
        evaluate_condition_block(block, CTX)
