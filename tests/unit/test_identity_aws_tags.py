"""The product side's reading of the ``https://aws.amazon.com/tags`` claim: its errors."""

from __future__ import annotations

import pytest

from qbizfed.identity.aws_tags import AWS_TAGS_CLAIM, MAX_TAGS, session_tags_from_claims
from qbizfed.identity.errors import MissingEmailClaimError, TooManySessionTagsError

ISSUER = "https://idp.example.com"


def _claims(principal_tags: dict[str, object]) -> dict[str, object]:
    return {AWS_TAGS_CLAIM: {"principal_tags": principal_tags}}


def test_too_many_tags_is_its_own_error_naming_the_limit() -> None:
    # Email is present and valid, every tag well formed: only the count is wrong.
    tags: dict[str, object] = {"Email": ["alice@example.com"]}
    tags.update({f"Tag{n}": ["x"] for n in range(MAX_TAGS)})
    with pytest.raises(TooManySessionTagsError) as info:
        session_tags_from_claims(_claims(tags), issuer=ISSUER)
    assert not isinstance(info.value, MissingEmailClaimError)
    assert f"asks for {MAX_TAGS + 1} session tags" in info.value.message
    assert f"at most {MAX_TAGS}" in info.value.message
    assert ISSUER in info.value.message
    assert "principal_tags" in info.value.remedy


def test_the_limit_itself_is_accepted() -> None:
    tags: dict[str, object] = {"Email": ["alice@example.com"]}
    tags.update({f"Tag{n}": ["x"] for n in range(MAX_TAGS - 1)})
    assert len(session_tags_from_claims(_claims(tags), issuer=ISSUER).principal_tags) == MAX_TAGS


def test_a_missing_email_is_still_missing_email() -> None:
    with pytest.raises(MissingEmailClaimError):
        session_tags_from_claims(_claims({"Department": ["Sales"]}), issuer=ISSUER)
