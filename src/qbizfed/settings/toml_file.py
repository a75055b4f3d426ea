"""Strict reading of the TOML file's tables: unknown keys and wrong types are refused.

``admin``'s configuration, the login profiles and ``serve``'s ``[serve]`` tables all
refuse a key they do not know (a typo such as ``scopse`` would otherwise be ignored
silently), naming the key, where it is, and the nearest known spelling; and a value
of the wrong type, naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qbizfed.errors import ConfigError


def refuse_unknown_keys(
    table: Mapping[str, object], known: Collection[str], *, where: str, remedy: str = ""
) -> None:
    """Raise :class:`ConfigError` naming every key of ``table`` that is not in ``known``."""
    unknown = sorted(set(table) - set(known))
    if not unknown:
        return
    import difflib  # only on the error path: credential_process imports this module

    named = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(known), n=1)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise ConfigError(
        f"{where} has unknown setting(s): {', '.join(named)}",
        remedy=remedy or f"check the spelling; the settings there are {', '.join(sorted(known))}",
    )


_KIND_TEXT = {
    "str": "a string (quote it)", "int": "an integer", "bool": "true or false",
    "strings": "a list of strings", "words": "a list of strings", "table": "a table",
}  # fmt: skip


def _fits(value: object, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "words" and isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check_table(
    table: Mapping[str, Any], schema: Mapping[str, str], *, where: str, source: Path
) -> None:
    """Refuse unknown keys and values of the wrong type, naming the key and the file."""
    refuse_unknown_keys(
        table, schema, where=f"[{where}] in {source}",
        remedy=f"check the spelling in {source}; [{where}] takes {', '.join(sorted(schema))}",
    )  # fmt: skip
    for key, value in table.items():
        if not _fits(value, schema[key]):
            raise ConfigError(
                f"{where}.{key} in {source} must be {_KIND_TEXT[schema[key]]}",
                remedy=f"fix {key} in the [{where}] table of {source}",
            )


@contextmanager
def naming_file(path: Path | str) -> Iterator[None]:
    """Add the file to a refusal raised while its settings are checked, if not named yet."""
    try:
        yield
    except ConfigError as exc:
        if str(path) in exc.message:
            raise
        raise type(exc)(f"{exc.message} (in {path})", remedy=exc.remedy) from exc
