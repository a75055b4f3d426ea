"""Session tags passed by an identity provider, checked against STS's limits.

IAM user guide, "Passing session tags in STS": at most 50 tags, keys of 1–128 and
values of 0–256 characters from ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``, no ``aws:`` prefix,
keys unique regardless of case, and every transitive tag key must be one of the
session's tags.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from qbizfed.local.sts.refusal import StsRefusalError, validation_error

MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
_PUNCTUATION = frozenset("_.:/=+-@")


def _allowed(text: str) -> bool:
    """``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``: letters, separators, numbers, and these."""
    return all(
        char in _PUNCTUATION or unicodedata.category(char)[0] in ("L", "Z", "N") for char in text
    )


@dataclass(frozen=True)
class SessionTags:
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    transitive_keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tags)


def build_session_tags(
    pairs: Iterable[tuple[str, str]], transitive_keys: Iterable[str]
) -> SessionTags:
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in pairs:
        if not key or len(key) > MAX_KEY or not _allowed(key):
            raise validation_error(
                f"1 validation error detected: Value at 'tags.{len(tags) + 1}.member.key' "
                f"failed to satisfy constraint: Member must have length between 1 and {MAX_KEY} "
                r"and match [\p{L}\p{Z}\p{N}_.:/=+\-@]+"
            )
        if len(value) > MAX_VALUE or not _allowed(value):
            raise validation_error(
                f"1 validation error detected: Value at 'tags.{len(tags) + 1}.member.value' "
                f"failed to satisfy constraint: Member must have length less than or equal to "
                rf"{MAX_VALUE} and match [\p{{L}}\p{{Z}}\p{{N}}_.:/=+\-@]*"
            )
        if key.lower().startswith("aws:"):
            raise validation_error("Tag keys starting with 'aws:' are reserved for AWS use.")
        if key.lower() in seen:
            raise validation_error(
                f"Duplicate tag keys found: {key} (tag keys are case-insensitive)."
            )
        seen.add(key.lower())
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise StsRefusalError(
            "PackedPolicyTooLarge",
            f"Session tags exceed the limit: {len(tags)} tags were passed, at most {MAX_TAGS} "
            "are allowed.",
        )
    transitive = tuple(dict.fromkeys(transitive_keys))
    missing = [key for key in transitive if key.lower() not in seen]
    if missing:
        raise validation_error(
            "Transitive tag keys must be a subset of the session tag keys: " + ", ".join(missing)
        )
    return SessionTags(tags=MappingProxyType(tags), transitive_keys=transitive)


def tag_context_keys(tags: SessionTags) -> dict[str, tuple[str, ...] | str]:
    """``aws:RequestTag/<key>`` for each tag, ``aws:TagKeys`` and ``sts:TransitiveTagKeys``."""
    context: dict[str, tuple[str, ...] | str] = {
        f"aws:RequestTag/{key}": value for key, value in tags.tags.items()
    }
    if tags.tags:
        context["aws:TagKeys"] = tuple(tags.tags)
    if tags.transitive_keys:
        context["sts:TransitiveTagKeys"] = tags.transitive_keys
    return context
