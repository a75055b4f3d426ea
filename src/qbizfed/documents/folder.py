"""The document folder: qbizfed's public format for documents, their permissions and groups.

One parser for every reader: ``qbizfed admin docs sync DIR`` puts the folder into a
Q Business index, and ``qbizfed local aws --corpus DIR`` loads it into the emulator.

Layout (subfolders are read too; a document's id is its path relative to the folder,
without extension, ``/``-separated, e.g. ``hr/vacation``)::

    DIR/
      groups.json              optional: the index's groups (PutGroup)
      hr/vacation.md           a document
      hr/vacation.meta.json    optional sidecar for hr/vacation.md (or .meta.toml)

Documents, by extension, and the ``contentType`` they are sent with:
``.md`` MD, ``.txt`` PLAIN_TEXT, ``.html``/``.htm`` HTML, ``.pdf`` PDF, ``.csv`` CSV,
``.json`` JSON (``*.meta.json`` and the top-level ``groups.json`` are not documents).
Hidden files (``.name``) and other extensions are ignored. A document may be at most
50 MB (AWS's limit per document).

``groups.json`` maps a group name to its members; a member group nests (its members
belong to the outer group too)::

    {"engineering": {"users": ["alice@example.com"], "groups": ["sre"]},
     "sre": {"users": ["dave@example.com"]}}

A sidecar (every key optional, no other keys)::

    {
      "title": "Vacation policy",        default: the first "# heading" of .md, else file name
      "url": "https://intranet.example.com/hr/vacation",   the _source_uri attribute
      "attributes": {                    document attributes, typed by their JSON value:
        "department": "hr",                string           -> stringValue
        "tags": ["policy", "leave"],       list of strings  -> stringListValue
        "year": 2026,                      integer          -> longValue
        "reviewed": {"date": "2026-01-10T00:00:00Z"}   ISO-8601 (TOML: a datetime) -> dateValue
      },
      "permissions": {                   absent: every user of the application sees it
        "allow": {"users": ["bob@example.com"], "groups": ["finance"]},
        "deny":  {"users": ["alice@example.com"], "groups": []}
      }
    }

``permissions`` becomes one ``AccessControl`` holding the ALLOW and DENY principals:
any allowed user or member of an allowed group may see the document, unless denied.
``"permissions": {}`` (nobody allowed) hides the document from everyone.

Rules the parser enforces (each problem names its file and what to do; all problems
are reported together): a document, sidecar or groups.json that is a symbolic link to a
file outside the folder is refused (a folder may come from a repository others write
to); JSON/TOML must parse into an object; unknown sidecar keys,
attribute value types other than the four above (booleans, floats, other objects),
attribute names starting with ``_`` (reserved by Q Business, except via ``url``) are
errors. A group named in ``permissions`` that ``groups.json`` does not define is
listed in :attr:`DocumentFolder.unknown_groups`: ``admin docs sync`` accepts it only
if the group already exists in the index (else it is an error), the emulator's
corpus loader refuses it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from qbizfed.errors import ConfigError

CONTENT_TYPES: Mapping[str, str] = {
    ".md": "MD",
    ".txt": "PLAIN_TEXT",
    ".html": "HTML",
    ".htm": "HTML",
    ".pdf": "PDF",
    ".csv": "CSV",
    ".json": "JSON",
}
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
"""AWS's limit for one document (see docs/aws-facts.md)."""
MAX_INLINE_MEMBERS = 1000
"""PutGroup's limit on inline members (users and sub-groups together)."""
GROUPS_FILE = "groups.json"
SIDECAR_SUFFIXES = (".meta.json", ".meta.toml")
SOURCE_URI = "_source_uri"
SYNC_HASH_ATTRIBUTE = "qbizfed_sync_hash"
"""Custom attribute carrying a document's content-and-permissions hash (set by sync)."""
FORMAT_HELP = "See the folder format in README.md, section `qbizfed admin docs sync`."
_SIDECAR_KEYS = frozenset({"title", "url", "attributes", "permissions"})
_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class AttributeValue:
    """One typed attribute value (exactly one field is set), as ``DocumentAttributeValue``."""

    string: str | None = None
    string_list: tuple[str, ...] | None = None
    long: int | None = None
    date: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.string is not None:
            return {"stringValue": self.string}
        if self.string_list is not None:
            return {"stringListValue": list(self.string_list)}
        if self.long is not None:
            return {"longValue": self.long}
        assert self.date is not None
        return {"dateValue": self.date}

    def canonical(self) -> str:
        if self.date is not None:
            return "date:" + self.date.astimezone(UTC).isoformat()
        return json.dumps(self.to_wire(), sort_keys=True)


@dataclass(frozen=True)
class Permissions:
    """Who may see a document: allowed and denied users and groups."""

    allow_users: tuple[str, ...] = ()
    allow_groups: tuple[str, ...] = ()
    deny_users: tuple[str, ...] = ()
    deny_groups: tuple[str, ...] = ()

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.allow_groups + self.deny_groups)

    def to_wire(self) -> dict[str, Any]:
        """The ``accessConfiguration`` of BatchPutDocument."""
        principals: list[dict[str, Any]] = []
        for access, users, groups in (
            ("ALLOW", self.allow_users, self.allow_groups),
            ("DENY", self.deny_users, self.deny_groups),
        ):
            principals += [
                {"user": {"id": u, "access": access, "membershipType": "INDEX"}} for u in users
            ]
            principals += [
                {"group": {"name": g, "access": access, "membershipType": "INDEX"}} for g in groups
            ]
        return {"accessControls": [{"principals": principals}]}


@dataclass(frozen=True)
class FolderDocument:
    """A document of the folder, ready for BatchPutDocument."""

    document_id: str
    path: Path
    title: str
    content_type: str
    size: int
    attributes: tuple[tuple[str, AttributeValue], ...]
    permissions: Permissions | None
    content_sha256: str = field(repr=False)

    def read(self) -> bytes:
        return self.path.read_bytes()

    @property
    def sync_hash(self) -> str:
        """Hash of everything sync sends: content, title, type, attributes, permissions."""
        described = {
            "content": self.content_sha256,
            "title": self.title,
            "type": self.content_type,
            "attributes": sorted((n, v.canonical()) for n, v in self.attributes),
            "permissions": None if self.permissions is None else self.permissions.to_wire(),
        }
        blob = json.dumps(described, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def wire_attributes(self, *, with_hash: bool = False) -> list[dict[str, Any]]:
        wire = [{"name": n, "value": v.to_wire()} for n, v in self.attributes]
        if with_hash:
            wire.append({"name": SYNC_HASH_ATTRIBUTE, "value": {"stringValue": self.sync_hash}})
        return wire


@dataclass(frozen=True)
class FolderGroup:
    """A group of ``groups.json``: its member users and member groups."""

    name: str
    users: tuple[str, ...]
    groups: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        """The ``groupMembers`` of PutGroup."""
        return {
            "memberUsers": [{"userId": u, "type": "INDEX"} for u in self.users],
            "memberGroups": [{"groupName": g, "type": "INDEX"} for g in self.groups],
        }

    @property
    def sync_hash(self) -> str:
        return hashlib.sha256(
            json.dumps([sorted(self.users), sorted(self.groups)]).encode()
        ).hexdigest()


@dataclass(frozen=True)
class DocumentFolder:
    """Everything a folder holds."""

    root: Path
    documents: tuple[FolderDocument, ...]
    groups: tuple[FolderGroup, ...]
    unknown_groups: Mapping[str, tuple[str, ...]]
    """Group name -> documents whose permissions name it although groups.json does not."""


class FolderError(ConfigError):
    """The folder breaks the format; ``problems`` lists each one (file: what)."""

    def __init__(self, problems: list[str]) -> None:
        head = f"{len(problems)} problem(s) in the document folder:\n  " + "\n  ".join(problems)
        super().__init__(head, remedy=f"Correct the files named above. {FORMAT_HELP}")
        self.problems = tuple(problems)


class _Problems:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[str] = []

    def add(self, path: Path, what: str) -> None:
        try:
            name = path.relative_to(self.root).as_posix()
        except ValueError:
            name = str(path)
        self.items.append(f"{name}: {what}")


class _ProblemError(Exception):
    """One problem in one file (collected, never escapes this module)."""


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        data: object = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise _ProblemError(f"is not valid JSON ({where})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _ProblemError(f"is not valid TOML ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _ProblemError(f"cannot be read as UTF-8 ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise _ProblemError("must hold an object ({...})")
    return data


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _ProblemError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _date(value: object, name: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise _ProblemError(f'attribute "{name}": {value!r} is not an ISO-8601 date') from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _ProblemError(f'attribute "{name}": a date must be {{"date": "2026-01-10T00:00:00Z"}}')


def _attribute(name: str, value: object) -> AttributeValue:
    if not name or name.startswith("_"):
        raise _ProblemError(
            f'attribute "{name}": names starting with "_" are reserved by Q Business '
            '(use "url" for _source_uri)'
        )
    if name == SYNC_HASH_ATTRIBUTE:
        raise _ProblemError(f'attribute "{name}" is reserved for qbizfed\'s sync hash')
    if isinstance(value, str):
        return AttributeValue(string=value)
    if isinstance(value, int) and not isinstance(value, bool):
        return AttributeValue(long=value)
    if isinstance(value, (datetime, date)):
        return AttributeValue(date=_date(value, name))
    if isinstance(value, list):
        return AttributeValue(string_list=_strings(value, f'attribute "{name}"'))
    if isinstance(value, dict) and set(value) == {"date"}:
        return AttributeValue(date=_date(value["date"], name))
    kind = type(value).__name__
    raise _ProblemError(
        f'attribute "{name}" has an unknown attribute type ({kind}: {value!r}); use a string, '
        'a list of strings, an integer or {"date": "ISO-8601"}'
    )


def _permissions(raw: object) -> Permissions | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"allow", "deny"}:
        raise _ProblemError('permissions must be {"allow": {...}, "deny": {...}}')
    parts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for key in ("allow", "deny"):
        part = raw.get(key) or {}
        if not isinstance(part, dict) or set(part) - {"users", "groups"}:
            raise _ProblemError(f'permissions.{key} must be {{"users": [...], "groups": [...]}}')
        parts[key] = (
            _strings(part.get("users"), f"permissions.{key}.users"),
            _strings(part.get("groups"), f"permissions.{key}.groups"),
        )
    return Permissions(
        allow_users=parts["allow"][0],
        allow_groups=parts["allow"][1],
        deny_users=parts["deny"][0],
        deny_groups=parts["deny"][1],
    )


def _groups(path: Path) -> tuple[FolderGroup, ...]:
    data = _read_mapping(path)
    groups = []
    for name, members in data.items():
        if not isinstance(members, dict) or set(members) - {"users", "groups"}:
            raise _ProblemError(f'group "{name}" must be {{"users": [...], "groups": [...]}}')
        group = FolderGroup(
            name,
            _strings(members.get("users"), f'group "{name}" users'),
            _strings(members.get("groups"), f'group "{name}" groups'),
        )
        if len(group.users) + len(group.groups) > MAX_INLINE_MEMBERS:
            raise _ProblemError(
                f'group "{name}" has more than {MAX_INLINE_MEMBERS} members; split it into '
                "sub-groups"
            )
        groups.append(group)
    known = {g.name for g in groups}
    for group in groups:
        missing = sorted(set(group.groups) - known)
        if missing:
            raise _ProblemError(f'group "{group.name}": member groups {missing} are not defined')
    return tuple(groups)


def is_document(path: Path, root: Path) -> bool:
    """Whether ``path`` (a file under ``root``) is a document of the folder."""
    name = path.name
    if name.startswith(".") or name.endswith(SIDECAR_SUFFIXES):
        return False
    if path.parent == root and name == GROUPS_FILE:
        return False
    return path.suffix.lower() in CONTENT_TYPES


def _sidecar(path: Path, root: Path) -> Path | None:
    stem = path.name[: -len(path.suffix)]
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(stem + suffix)
        if sidecar.is_file():
            if not sidecar.resolve().is_relative_to(root):
                raise _ProblemError(f"{sidecar.name} is a symbolic link outside the folder")
            return sidecar
    return None


def _document(root: Path, path: Path, problems: _Problems) -> FolderDocument | None:
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        problems.add(
            path,
            f"is {size} bytes, over AWS's {MAX_DOCUMENT_BYTES} byte ({MAX_DOCUMENT_BYTES >> 20}"
            " MB) limit per document: split it into smaller documents or remove it",
        )
        return None
    if size == 0:
        problems.add(path, "is empty: Q Business refuses documents without content")
        return None
    content = path.read_bytes()
    stem = path.name[: -len(path.suffix)]
    content_type = CONTENT_TYPES[path.suffix.lower()]
    meta: dict[str, Any] = {}
    try:
        sidecar = _sidecar(path, root)
    except _ProblemError as exc:
        problems.add(path, str(exc))
        return None
    if sidecar is not None:
        try:
            meta = _read_mapping(sidecar)
            unknown = set(meta) - _SIDECAR_KEYS
            if unknown:
                raise _ProblemError(
                    f"unknown keys {sorted(unknown)}; allowed: {sorted(_SIDECAR_KEYS)}"
                )
            title = meta.get("title")
            if title is not None and (not isinstance(title, str) or not title.strip()):
                raise _ProblemError("title must be a non-empty string")
            url = meta.get("url")
            if url is not None and not (isinstance(url, str) and url.strip()):
                raise _ProblemError("url must be a non-empty string")
            raw_attributes = meta.get("attributes") or {}
            if not isinstance(raw_attributes, dict):
                raise _ProblemError("attributes must be an object")
            attributes = [(str(k), _attribute(str(k), v)) for k, v in raw_attributes.items()]
            permissions = _permissions(meta.get("permissions"))
        except _ProblemError as exc:
            problems.add(sidecar, str(exc))
            return None
    else:
        title, url, attributes, permissions = None, None, [], None
    if url is not None:
        attributes.append((SOURCE_URI, AttributeValue(string=url)))
    if title is None and content_type == "MD":
        heading = _HEADING.search(content.decode("utf-8", errors="replace"))
        title = heading.group(1) if heading else None
    return FolderDocument(
        document_id=path.relative_to(root).with_suffix("").as_posix(),
        path=path,
        title=title or stem,
        content_type=content_type,
        size=size,
        attributes=tuple(attributes),
        permissions=permissions,
        content_sha256=hashlib.sha256(content).hexdigest(),
    )


def read_folder(directory: Path) -> DocumentFolder:
    """Read and check a document folder; :class:`FolderError` lists every problem."""
    if not directory.is_dir():
        raise ConfigError(
            f"The document folder {directory} does not exist or is not a folder.",
            remedy=f"Pass a folder of documents. {FORMAT_HELP}",
        )
    root = directory.resolve()
    problems = _Problems(root)
    documents: list[FolderDocument] = []
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not is_document(path, root):
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            # A folder may come from a repository others write to: a link to
            # ~/.aws/credentials named notes.txt must not be uploaded.
            problems.add(
                path,
                "is a symbolic link to a file outside the folder; copy the file into the "
                "folder instead",
            )
            continue
        doc = _document(root, path, problems)
        if doc is None:
            continue
        if doc.document_id in seen:
            problems.add(
                path,
                f"has the same document id {doc.document_id!r} as "
                f"{seen[doc.document_id].name}: rename one of them",
            )
            continue
        seen[doc.document_id] = path
        documents.append(doc)
    groups: tuple[FolderGroup, ...] = ()
    groups_file = root / GROUPS_FILE
    if groups_file.is_file():
        try:
            if not groups_file.resolve().is_relative_to(root):
                raise _ProblemError("is a symbolic link outside the folder")
            groups = _groups(groups_file)
        except _ProblemError as exc:
            problems.add(groups_file, str(exc))
    if problems.items:
        raise FolderError(problems.items)
    defined = {g.name for g in groups}
    unknown: dict[str, list[str]] = {}
    for doc in documents:
        named = doc.permissions.groups if doc.permissions else frozenset()
        for group in sorted(named - defined):
            unknown.setdefault(group, []).append(doc.document_id)
    return DocumentFolder(
        root=root,
        documents=tuple(documents),
        groups=groups,
        unknown_groups={g: tuple(ids) for g, ids in sorted(unknown.items())},
    )


def unknown_group_error(unknown: Mapping[str, tuple[str, ...]], *, where: str) -> FolderError:
    """The error for permissions naming groups that exist neither in groups.json nor ``where``."""
    return FolderError(
        [
            f"{', '.join(ids)}: permissions name group {name!r}, which groups.json does not "
            f"define and {where} does not have: add it to groups.json (or fix the name)"
            for name, ids in unknown.items()
        ]
    )
