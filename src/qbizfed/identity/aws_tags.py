"""Read AWS session tags from an ID token's ``https://aws.amazon.com/tags`` claim.

AWS expects ``{"principal_tags": {"Email": ["user@example.com"]}, "transitive_tag_keys": [...]}``
(each tag value is a one-element list). Q Business identifies the user by the ``Email``
tag, so a token without it is useless; the error says which IdP setting adds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qbizfed.identity.errors import MissingEmailClaimError, TooManySessionTagsError

AWS_TAGS_CLAIM = "https://aws.amazon.com/tags"
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

_EMAIL_REMEDY = (
    "make the IdP put the claim https://aws.amazon.com/tags with principal_tags.Email "
    "into the ID token. Okta: add a custom claim 'https://aws.amazon.com/tags' (type ID token, "
    'value e.g. {"principal_tags": {"Email": [user.email]}}) to the authorization server; '
    "Auth0/others: add it in a login action or mapper; qbizfed's dev IdP and oidc-provider: "
    "request the scope that releases the claim (e.g. add 'aws_tags' to the scopes)"
)


@dataclass(frozen=True)
class AwsSessionTags:
    """Tags an ID token asks STS to attach, in claim order."""

    principal_tags: tuple[tuple[str, str], ...]
    transitive_tag_keys: tuple[str, ...]

    @property
    def email(self) -> str:
        return dict(self.principal_tags)["Email"]


def _tag_value(key: str, value: Any) -> str:
    # AWS documents a list with one string; accept a bare string too (some IdPs emit it).
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if not isinstance(value, str):
        raise MissingEmailClaimError(
            f"session tag {key!r} in {AWS_TAGS_CLAIM} is not a string or one-string list",
            remedy=_EMAIL_REMEDY,
        )
    if len(value) > MAX_TAG_VALUE:
        raise MissingEmailClaimError(
            f"session tag {key!r} is longer than {MAX_TAG_VALUE} characters",
            remedy="shorten the value the IdP releases",
        )
    return value


def session_tags_from_claims(claims: Mapping[str, Any], *, issuer: str) -> AwsSessionTags:
    """Extract the tags; raise :class:`MissingEmailClaimError` naming the fix if Email is absent."""
    raw = claims.get(AWS_TAGS_CLAIM)
    principal = raw.get("principal_tags") if isinstance(raw, dict) else None
    if not isinstance(principal, dict) or "Email" not in principal:
        raise MissingEmailClaimError(
            f"the ID token from {issuer} has no {AWS_TAGS_CLAIM} principal_tags.Email claim, "
            "which Amazon Q Business needs to identify the user",
            remedy=_EMAIL_REMEDY,
        )
    if len(principal) > MAX_TAGS:
        raise TooManySessionTagsError(
            f"the ID token from {issuer} asks for {len(principal)} session tags in "
            f"{AWS_TAGS_CLAIM} principal_tags; STS accepts at most {MAX_TAGS}",
            remedy=f"release at most {MAX_TAGS} principal_tags from the IdP (Amazon Q Business "
            "needs only Email)",
        )
    tags: list[tuple[str, str]] = []
    for key, value in principal.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
            raise MissingEmailClaimError(
                "a session tag key is empty or too long", remedy=_EMAIL_REMEDY
            )
        tags.append((key, _tag_value(key, value)))
    email = dict(tags)["Email"]
    if "@" not in email:
        raise MissingEmailClaimError(
            f"the Email session tag from {issuer} is not an email address",
            remedy="map principal_tags.Email to the user's email attribute",
        )
    transitive = raw.get("transitive_tag_keys", []) if isinstance(raw, dict) else []
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        transitive = []
    return AwsSessionTags(principal_tags=tuple(tags), transitive_tag_keys=tuple(transitive))
