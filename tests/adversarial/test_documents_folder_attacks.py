"""A document folder someone else can write to (a shared repository) cannot make
``admin docs sync`` upload files from outside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qbizfed.documents.folder import FolderError, read_folder


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    outside = tmp_path / "home" / ".aws" / "credentials"
    outside.parent.mkdir(parents=True)
    outside.write_text("[default]\naws_secret_access_key = not-for-the-index\n")
    return outside


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "handbook.md").write_text("# Handbook\n\nThe office opens at nine.\n")
    return root


def test_document_symlinked_outside_the_folder_is_refused(tmp_path: Path, secret: Path) -> None:
    root = folder(tmp_path)
    (root / "notes.txt").symlink_to(secret)
    with pytest.raises(FolderError) as refused:
        read_folder(root)
    assert refused.value.problems == (
        "notes.txt: is a symbolic link to a file outside the folder; copy the file into the "
        "folder instead",
    )


def test_sidecar_symlinked_outside_the_folder_is_refused(tmp_path: Path, secret: Path) -> None:
    root = folder(tmp_path)
    outside_meta = secret.with_name("meta.json")
    outside_meta.write_text(json.dumps({"title": "Looks harmless"}))
    (root / "handbook.meta.json").symlink_to(outside_meta)
    with pytest.raises(FolderError) as refused:
        read_folder(root)
    assert "handbook.md: handbook.meta.json is a symbolic link outside the folder" in (
        refused.value.problems
    )


def test_groups_json_symlinked_outside_the_folder_is_refused(tmp_path: Path, secret: Path) -> None:
    root = folder(tmp_path)
    outside = secret.with_name("groups.json")
    outside.write_text(json.dumps({"g": {"users": ["a@example.com"]}}))
    (root / "groups.json").symlink_to(outside)
    with pytest.raises(FolderError) as refused:
        read_folder(root)
    assert refused.value.problems == ("groups.json: is a symbolic link outside the folder",)


def test_control_symlink_inside_the_folder_is_read(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "shared").mkdir()
    (root / "shared" / "policy.md").write_text("# Policy\n\nShared text.\n")
    (root / "policy-link.md").symlink_to(root / "shared" / "policy.md")
    ids = sorted(d.document_id for d in read_folder(root).documents)
    assert ids == ["handbook", "policy-link", "shared/policy"]
