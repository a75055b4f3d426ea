"""What a fuzz target is: a setup, some seed inputs, and ``check(data)`` for one input.

``check`` feeds the bytes to the code under test and swallows only the refusals that
code is allowed to raise (a qbizfed error, an STS wire error, a Q Business API
error). Anything else escapes and is a finding: atheris records it as a crash,
Hypothesis as a failed example.
"""

from __future__ import annotations

from typing import Protocol

SEPARATOR = b"\x00"


class FuzzTarget(Protocol):
    """One entry point under fuzz."""

    name: str

    def seeds(self) -> list[bytes]:
        """Valid or nearly valid inputs the fuzzer starts from."""

    def check(self, data: bytes) -> None:
        """Run one input; raise only if the code under test misbehaved."""


def split_fields(data: bytes, count: int) -> list[bytes]:
    """``count`` fields separated by NUL bytes (missing ones are empty)."""
    parts = data.split(SEPARATOR, count - 1)
    return parts + [b""] * (count - len(parts))


def join_fields(*fields: bytes) -> bytes:
    """The inverse of :func:`split_fields`, for building seeds."""
    return SEPARATOR.join(fields)


def text(data: bytes) -> str:
    """Bytes as the text a web framework would hand over (invalid UTF-8 replaced)."""
    return data.decode("utf-8", errors="replace")
