"""JSON for the ``credential_process`` fast path, without importing the ``json`` package.

``import json`` pulls in ``re`` (and with it ``enum``, ``functools``...), which costs about
as much as starting Python itself. This module drives the same C scanner and string
encoder that ``json`` uses (CPython's ``_json``), so parsing and escaping behave exactly
like ``json.loads``/``json.dumps``; it falls back to ``json`` where ``_json`` is missing.
Only what the cache needs: parse a document, encode a flat object of strings and ints.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


class _ScannerContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_refuse_constant)
    memo: dict[str, str] = {}  # noqa: RUF012 - read by the C scanner, never mutated here


_scan: Callable[[str, int], tuple[object, int]] | None
_quote: Callable[[str], str]
try:
    import _json

    _scan = _json.make_scanner(_ScannerContext())  # type: ignore[arg-type]
    _quote = _json.encode_basestring_ascii
except ImportError:  # pragma: no cover - CPython always has _json
    _scan = None
    import json as _fallback

    _quote = _fallback.dumps

_WHITESPACE = " \t\n\r"


def loads(text: str) -> object:
    """Parse one JSON document; ``ValueError`` if it is not exactly that."""
    if _scan is None:  # pragma: no cover
        import json

        return json.loads(text)
    stripped = text.strip(_WHITESPACE)
    try:
        value, end = _scan(stripped, 0)
    except StopIteration as exc:
        raise ValueError("not a JSON document") from exc
    except Exception as exc:  # JSONDecodeError (a ValueError) and RecursionError alike
        raise ValueError(f"not a JSON document: {exc}") from exc
    if end != len(stripped):
        raise ValueError("extra data after the JSON document")
    return value


def dumps_flat(obj: dict[str, str | int]) -> str:
    """Encode a flat object of strings and ints on one line, as ``json.dumps`` would."""
    parts = []
    for key, value in obj.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"{key}: only strings and ints are supported")
        encoded = _quote(value) if isinstance(value, str) else str(int(value))
        parts.append(f"{_quote(key)}: {encoded}")
    return "{" + ", ".join(parts) + "}"
