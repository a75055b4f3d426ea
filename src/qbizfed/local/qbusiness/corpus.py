"""A folder of documents for ``qbizfed local aws --corpus DIR`` (and the demo corpus).

Format of the folder (subfolders are read too; the document id is the path
relative to the folder, without extension, with ``/`` separators)::

    DIR/
      groups.json                 optional: PutGroup data
      hr/vacation.md              a document (.md or .txt, UTF-8)
      hr/vacation.meta.json       optional sidecar (or vacation.meta.toml)

``groups.json`` maps a group name to its members; sub-groups nest::

    {"engineering": {"users": ["alice@example.com"], "groups": ["sre"]},
     "sre": {"users": ["dave@example.com"]}}

A sidecar (every key optional)::

    {
      "title": "Vacation policy",                  default: first "# heading", else file name
      "url": "https://intranet.example.com/hr/vacation",   becomes the _source_uri attribute
      "attributes": {                              document attributes by value type:
        "department": "hr",                          string      -> stringValue
        "tags": ["policy", "leave"],                 [string]    -> stringListValue
        "year": 2026,                                integer     -> longValue
        "reviewed": {"date": "2026-01-10T00:00:00Z"} date (TOML: a datetime) -> dateValue
      },
      "permissions": {                             absent: public to every user of the app
        "allow": {"users": ["bob@example.com"], "groups": ["finance"]},
        "deny":  {"users": ["alice@example.com"], "groups": []}
      }
    }

``permissions`` becomes one ``AccessControl`` (memberRelation OR) holding the ALLOW
and DENY principals: any allowed user or group member may see the document unless
denied. ``"permissions": {}`` (nobody allowed) hides the document from everyone.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from qbizfed.errors import ConfigError
from qbizfed.local.qbusiness.dataplane_attributes import (
    AttributeValue,
    DocumentAttribute,
    parse_date,
)
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError
from qbizfed.local.qbusiness.permissions import (
    AccessConfiguration,
    AccessControl,
    GroupMembers,
    MemberGroup,
    MemberUser,
    Principal,
    PrincipalGroup,
    PrincipalUser,
    ReadAccess,
)
from qbizfed.local.qbusiness.retrieval import SOURCE_URI, IndexedDocument

DOCUMENT_SUFFIXES = (".md", ".txt")
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CorpusDocument:
    """A document and its access configuration (None = public)."""

    document: IndexedDocument
    access: AccessConfiguration | None
    content_type: str


@dataclass(frozen=True)
class Corpus:
    """Everything a corpus folder holds."""

    documents: tuple[CorpusDocument, ...]
    groups: Mapping[str, GroupMembers]


def demo_corpus_path() -> Path:
    """The demo corpus shipped as package data."""
    return Path(str(resources.files("qbizfed.local.qbusiness") / "demo_corpus"))


def _bad(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"Corpus file {path.name}: {what}",
        remedy="See the corpus format in qbizfed.local.qbusiness.corpus (module docstring).",
    )


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        if path.suffix == ".toml":
            data: object = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"cannot be read ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise _bad(path, "must hold an object")
    return data


def _strings(path: Path, value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(path, f"{where} must be a list of non-empty strings")
    return list(value)


def _attribute(path: Path, name: str, value: object) -> DocumentAttribute:
    try:
        if isinstance(value, bool):
            raise _bad(path, f"attribute {name!r}: booleans are not an attribute type")
        if isinstance(value, str):
            return DocumentAttribute(name, AttributeValue(string_value=value))
        if isinstance(value, int):
            return DocumentAttribute(name, AttributeValue(long_value=value))
        if isinstance(value, datetime):
            return DocumentAttribute(name, AttributeValue(date_value=parse_date(value)))
        if isinstance(value, list):
            return DocumentAttribute(
                name, AttributeValue(string_list_value=tuple(_strings(path, value, name)))
            )
        if isinstance(value, dict) and set(value) == {"date"}:
            return DocumentAttribute(name, AttributeValue(date_value=parse_date(value["date"])))
    except DataPlaneValidationError as exc:
        raise _bad(path, f"attribute {name!r}: {exc.message}") from exc
    raise _bad(path, f"attribute {name!r} has an unsupported value")


def _access(path: Path, permissions: object) -> AccessConfiguration | None:
    if permissions is None:
        return None
    if not isinstance(permissions, dict) or set(permissions) - {"allow", "deny"}:
        raise _bad(path, 'permissions must be {"allow": {...}, "deny": {...}}')
    principals: list[Principal] = []
    for key, access in (("allow", ReadAccess.ALLOW), ("deny", ReadAccess.DENY)):
        part = permissions.get(key) or {}
        if not isinstance(part, dict) or set(part) - {"users", "groups"}:
            raise _bad(path, f'permissions.{key} must be {{"users": [...], "groups": [...]}}')
        principals += [PrincipalUser(u, access) for u in _strings(path, part.get("users"), key)]
        principals += [PrincipalGroup(g, access) for g in _strings(path, part.get("groups"), key)]
    return AccessConfiguration((AccessControl(tuple(principals)),))


def _groups(path: Path) -> dict[str, GroupMembers]:
    data = _read_mapping(path)
    groups: dict[str, GroupMembers] = {}
    for name, members in data.items():
        if not isinstance(members, dict) or set(members) - {"users", "groups"}:
            raise _bad(path, f'group {name!r} must be {{"users": [...], "groups": [...]}}')
        groups[name] = GroupMembers(
            member_users=tuple(MemberUser(u) for u in _strings(path, members.get("users"), name)),
            member_groups=tuple(
                MemberGroup(g) for g in _strings(path, members.get("groups"), name)
            ),
        )
    return groups


def _document(root: Path, path: Path, loaded_at: datetime) -> CorpusDocument:
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise _bad(path, f"is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, "is not readable UTF-8 text") from exc
    stem = path.name[: -len(path.suffix)]
    meta: dict[str, Any] = {}
    for suffix in (".meta.json", ".meta.toml"):
        sidecar = path.with_name(stem + suffix)
        if sidecar.is_file():
            meta = _read_mapping(sidecar)
            break
    unknown = set(meta) - {"title", "url", "attributes", "permissions"}
    if unknown:
        raise _bad(path, f"sidecar has unknown keys: {', '.join(sorted(unknown))}")
    heading = _HEADING.search(text) if path.suffix == ".md" else None
    title = meta.get("title") or (heading.group(1) if heading else stem)
    if not isinstance(title, str):
        raise _bad(path, "title must be a string")
    raw_attributes = meta.get("attributes") or {}
    if not isinstance(raw_attributes, dict):
        raise _bad(path, "attributes must be an object")
    attributes = [_attribute(path, str(k), v) for k, v in raw_attributes.items()]
    url = meta.get("url")
    if url is not None:
        if not isinstance(url, str):
            raise _bad(path, "url must be a string")
        attributes = [a for a in attributes if a.name != SOURCE_URI]
        attributes.append(DocumentAttribute(SOURCE_URI, AttributeValue(string_value=url)))
    document_id = path.relative_to(root).with_suffix("").as_posix()
    return CorpusDocument(
        document=IndexedDocument(
            document_id=document_id,
            title=title,
            text=text,
            attributes=tuple(attributes),
            updated_at=loaded_at,
        ),
        access=_access(path, meta.get("permissions")),
        content_type="MD" if path.suffix == ".md" else "PLAIN_TEXT",
    )


def load_corpus(directory: Path, *, loaded_at: datetime | None = None) -> Corpus:
    """Read a corpus folder (see the module docstring for the format)."""
    if not directory.is_dir():
        raise ConfigError(
            f"Corpus folder {directory} does not exist.",
            remedy="Pass --corpus a folder of .md/.txt files (see `qbizfed local aws --help`).",
        )
    when = loaded_at or datetime.now(UTC)
    documents = [
        _document(directory, path, when)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix in DOCUMENT_SUFFIXES and not path.name.startswith(".")
    ]
    groups_file = directory / "groups.json"
    groups = _groups(groups_file) if groups_file.is_file() else {}
    return Corpus(tuple(documents), groups)
