"""The emulator's corpus: a document folder (``qbizfed local aws --corpus DIR``, the demo corpus).

The folder format is the public one of :mod:`qbizfed.documents.folder` (the same
parser ``qbizfed admin docs sync`` uses); this module only turns its documents into the
emulator's indexed documents (text extracted per content type by ``dataplane_content``)
and its groups into ``GroupMembers``. A permission naming a group that ``groups.json``
does not define is an error here: a fresh index has no other groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from qbizfed.documents.folder import FolderDocument, read_folder, unknown_group_error
from qbizfed.errors import ConfigError
from qbizfed.local.qbusiness.dataplane_attributes import DocumentAttribute
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError
from qbizfed.local.qbusiness.permissions import AccessConfiguration, GroupMembers
from qbizfed.local.qbusiness.retrieval import IndexedDocument


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


def _indexed(item: FolderDocument, loaded_at: datetime) -> CorpusDocument:
    from qbizfed.local.qbusiness.dataplane_content import extract_text

    try:
        text = extract_text(item.read(), item.content_type)
    except DataPlaneError as exc:
        raise ConfigError(
            f"Corpus document {item.path.name}: {exc.message}",
            remedy="Fix or remove the file; the folder format is in README.md.",
        ) from exc
    permissions = item.permissions
    return CorpusDocument(
        document=IndexedDocument(
            document_id=item.document_id,
            title=item.title,
            text=text,
            attributes=tuple(DocumentAttribute.from_wire(a) for a in item.wire_attributes()),
            updated_at=loaded_at,
        ),
        access=None
        if permissions is None
        else AccessConfiguration.from_wire(permissions.to_wire()),
        content_type=item.content_type,
    )


def load_corpus(directory: Path, *, loaded_at: datetime | None = None) -> Corpus:
    """Read a corpus folder (format: :mod:`qbizfed.documents.folder`)."""
    folder = read_folder(directory)
    if folder.unknown_groups:
        raise unknown_group_error(folder.unknown_groups, where="the local index")
    when = loaded_at or datetime.now(UTC)
    return Corpus(
        tuple(_indexed(doc, when) for doc in folder.documents),
        {g.name: GroupMembers.from_wire(g.to_wire()) for g in folder.groups},
    )
