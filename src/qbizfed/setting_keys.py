"""Unknown keys in a settings table: one refusal for every TOML table qbizfed reads.

``admin``'s configuration, the login profiles and ``serve``'s ``[serve]`` tables all
refuse a key they do not know (a typo such as ``scopse`` would otherwise be ignored
silently), naming the key, where it is, and the nearest known spelling.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

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
