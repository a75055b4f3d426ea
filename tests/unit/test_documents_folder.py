"""The public document folder format: what it reads, and each bad input's named error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qbizfed.documents.folder import (
    MAX_DOCUMENT_BYTES,
    SYNC_HASH_ATTRIBUTE,
    FolderError,
    read_folder,
)
from qbizfed.errors import ConfigError
from tests.support.document_folder import ALL_IDS, write_folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(root: Path) -> list[str]:
    with pytest.raises(FolderError) as err:
        read_folder(root)
    assert "README.md" in err.value.remedy
    return list(err.value.problems)


def test_every_document_type_with_its_content_type(tmp_path: Path) -> None:
    folder = read_folder(write_folder(tmp_path))
    types = {d.document_id: d.content_type for d in folder.documents}
    assert set(types) == ALL_IDS
    assert types == {
        "handbook": "MD",
        "eng/runbook": "MD",
        "eng/design": "HTML",
        "finance/budget": "MD",
        "finance/forecast": "PDF",
        "finance/figures": "CSV",
        "ops/pager": "JSON",
    }
    assert {g.name for g in folder.groups} == {"engineering", "sre", "finance"}
    assert folder.unknown_groups == {}


def test_sidecar_becomes_title_url_attributes_and_access(tmp_path: Path) -> None:
    folder = read_folder(write_folder(tmp_path))
    runbook = next(d for d in folder.documents if d.document_id == "eng/runbook")
    assert runbook.title == "Runbook"  # from the "# heading"
    wire = {a["name"]: a["value"] for a in runbook.wire_attributes(with_hash=True)}
    assert wire["team"] == {"stringValue": "platform"}
    assert wire["tags"] == {"stringListValue": ["ops", "deploy"]}
    assert wire["revision"] == {"longValue": 7}
    assert wire["_source_uri"] == {"stringValue": "https://intranet.example.com/runbook"}
    assert wire[SYNC_HASH_ATTRIBUTE] == {"stringValue": runbook.sync_hash}
    design = next(d for d in folder.documents if d.document_id == "eng/design")
    assert design.title == "Design notes"
    assert design.wire_attributes()[0]["value"] == {"dateValue": datetime(2026, 1, 10, tzinfo=UTC)}
    forecast = next(d for d in folder.documents if d.document_id == "finance/forecast")
    assert forecast.permissions is not None
    principals = forecast.permissions.to_wire()["accessControls"][0]["principals"]
    assert {"user": {"id": "carol@example.com", "access": "DENY", "membershipType": "INDEX"}} in (
        principals
    )


def test_the_hash_changes_with_content_and_with_permissions_only(tmp_path: Path) -> None:
    root = write_folder(tmp_path)
    before = {d.document_id: d.sync_hash for d in read_folder(root).documents}
    write(root / "finance/budget.meta.json", json.dumps({"permissions": {"allow": {}}}))
    (root / "handbook.md").write_text("# Handbook\n\nZebulon: changed.\n")
    after = {d.document_id: d.sync_hash for d in read_folder(root).documents}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"finance/budget", "handbook"}


def test_malformed_meta_json_names_the_file_and_the_position(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A")
    write(tmp_path / "a.meta.json", '{"title": "A",\n "url": }')
    assert problems(tmp_path) == [
        "a.meta.json: is not valid JSON (line 2, column 9: Expecting value)"
    ]


def test_unknown_attribute_type_is_refused_with_the_allowed_types(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A")
    write(tmp_path / "a.meta.json", json.dumps({"attributes": {"score": 0.5, "ok": True}}))
    [problem] = problems(tmp_path)
    assert problem.startswith('a.meta.json: attribute "score" has an unknown attribute type')
    assert "a list of strings, an integer or" in problem


def test_boolean_attribute_is_an_unknown_type(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A")
    write(tmp_path / "a.meta.json", json.dumps({"attributes": {"ok": True}}))
    assert 'attribute "ok" has an unknown attribute type (bool' in problems(tmp_path)[0]


def test_reserved_attribute_names_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A")
    write(tmp_path / "a.meta.json", json.dumps({"attributes": {"_category": "x"}}))
    write(tmp_path / "b.md", "# B")
    write(tmp_path / "b.meta.json", json.dumps({"attributes": {SYNC_HASH_ATTRIBUTE: "x"}}))
    found = problems(tmp_path)
    assert "reserved by Q Business" in found[0]
    assert "reserved for qbizfed's sync hash" in found[1]


def test_a_permission_naming_a_group_groups_json_lacks_is_listed(tmp_path: Path) -> None:
    write(tmp_path / "groups.json", json.dumps({"hr": {"users": ["h@example.com"]}}))
    write(tmp_path / "a.md", "# A")
    write(
        tmp_path / "a.meta.json",
        json.dumps({"permissions": {"allow": {"groups": ["legal"]}, "deny": {"groups": ["hr"]}}}),
    )
    folder = read_folder(tmp_path)
    assert folder.unknown_groups == {"legal": ("a",)}


def test_a_document_over_the_aws_limit_is_refused_naming_it(tmp_path: Path) -> None:
    big = tmp_path / "reports" / "huge.pdf"
    big.parent.mkdir()
    with big.open("wb") as handle:
        handle.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: no 50 MB written
    [problem] = problems(tmp_path)
    assert problem.startswith(f"reports/huge.pdf: is {MAX_DOCUMENT_BYTES + 1} bytes, over AWS's")
    assert "split it into smaller documents" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A")
    write(tmp_path / "a.meta.json", '["not", "an", "object"]')
    write(tmp_path / "b.txt", "")
    write(tmp_path / "c.md", "# C")
    write(tmp_path / "c.meta.json", json.dumps({"colour": "red"}))
    write(tmp_path / "groups.json", json.dumps({"g": {"groups": ["missing"]}}))
    found = problems(tmp_path)
    assert [p.split(":")[0] for p in found] == [
        "a.meta.json",
        "b.txt",
        "c.meta.json",
        "groups.json",
    ]
    assert "must hold an object" in found[0]
    assert "is empty" in found[1]
    assert "unknown keys ['colour']" in found[2]
    assert "member groups ['missing'] are not defined" in found[3]


def test_two_files_with_one_id_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "notes.md", "# Notes")
    write(tmp_path / "notes.txt", "Notes")
    [problem] = problems(tmp_path)
    assert "same document id 'notes'" in problem


def test_sidecars_groups_hidden_and_other_files_are_not_documents(tmp_path: Path) -> None:
    write(tmp_path / "groups.json", "{}")
    write(tmp_path / "a.md", "# A")
    write(tmp_path / "a.meta.json", "{}")
    write(tmp_path / ".hidden.md", "# hidden")
    write(tmp_path / ".git" / "x.md", "# in a hidden folder")
    write(tmp_path / "slides.pptx", "binary")
    write(tmp_path / "sub" / "groups.json", json.dumps({"a": 1}))  # a document below the top
    ids = [d.document_id for d in read_folder(tmp_path).documents]
    assert ids == ["a", "sub/groups"]


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read_folder(tmp_path / "nope")
    assert "does not exist" in err.value.message
