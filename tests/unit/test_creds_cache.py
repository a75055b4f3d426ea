"""The credential cache: private files, atomic writes, the record's shape, the fast path."""

from __future__ import annotations

import io
import json
import os
import stat
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import platformdirs
import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache, fast, locations, record
from qbizfed.creds.cache import CacheEntry
from qbizfed.expiration import format_expiration


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(directory))
    monkeypatch.delenv("QBIZFED_PROFILE", raising=False)
    monkeypatch.delenv("QBIZFED_NO_FAST_PATH", raising=False)
    return directory


def make_creds(
    profile: str = "dev", *, minutes: float = 60, refresh_token: str | None = None
) -> CacheEntry:
    return CacheEntry(
        profile=profile,
        credentials=AwsCredentials(
            access_key_id="ASIAEXAMPLEKEY000001",
            secret_access_key="secret/with+chars=" + "x" * 20,
            session_token="token+" + "y" * 40,
            expiration=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes),
            region="us-east-1",
            role_arn="arn:aws:iam::123456789012:role/QBizWeb",
            session_tags=(("Email", "alice@example.com"),),
        ),
        protocol="oidc",
        refresh_token=refresh_token,
    )


def run_fast(args: list[str]) -> tuple[int | None, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = fast.answer_from_warm_cache(args)
    return code, out.getvalue()


def test_round_trip_keeps_every_field(cache_dir: Path) -> None:
    creds = make_creds(refresh_token="rt-123")
    cache.save(creds)
    assert cache.load("dev") == creds


def test_files_are_0600_in_a_0700_directory(cache_dir: Path) -> None:
    path = Path(cache.save(make_creds()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert path.stat().st_uid == os.geteuid()


def test_write_is_atomic_and_leaves_no_temporary_files(cache_dir: Path) -> None:
    cache.save(make_creds(minutes=10))
    cache.save(make_creds(minutes=20))
    assert sorted(p.name for p in cache_dir.iterdir()) == ["dev.json"]
    assert cache.load("dev") == make_creds(minutes=20)


def test_the_cache_never_holds_a_client_secret(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CLIENT_SECRET", "the-client-secret-value")
    path = Path(cache.save(make_creds(refresh_token="rt")))
    text = path.read_text()
    assert "the-client-secret-value" not in text
    assert "client_secret" not in text


def test_load_missing_profile_is_none(cache_dir: Path) -> None:
    assert cache.load("nobody") is None


def test_delete_removes_the_file(cache_dir: Path) -> None:
    cache.save(make_creds())
    assert cache.delete("dev") is True
    assert cache.load("dev") is None
    assert cache.delete("dev") is False


def test_cache_dir_matches_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QBIZFED_CACHE_DIR", raising=False)
    for xdg in (None, str(tmp_path / "xdg"), "   "):
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert locations.cache_dir() == platformdirs.user_cache_dir("qbizfed")


def test_cache_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "c"))
    assert locations.cache_file("dev") == str(tmp_path / "c" / "dev.json")


def test_fast_path_prints_credential_process_json(cache_dir: Path) -> None:
    creds = make_creds()
    cache.save(creds)
    code, out = run_fast(["--profile", "dev"])
    assert code == 0
    doc = json.loads(out)
    assert doc == {
        "Version": 1,
        "AccessKeyId": creds.credentials.access_key_id,
        "SecretAccessKey": creds.credentials.secret_access_key,
        "SessionToken": creds.credentials.session_token,
        "Expiration": creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_fast_path_uses_qbizfed_profile_env(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.save(make_creds("other"))
    monkeypatch.setenv("QBIZFED_PROFILE", "other")
    code, out = run_fast([])
    assert code == 0
    assert json.loads(out)["AccessKeyId"] == "ASIAEXAMPLEKEY000001"


@pytest.mark.parametrize(
    ("minutes", "refresh_token", "answers"),
    [
        pytest.param(60, None, True, id="fresh-without-refresh-token"),
        pytest.param(60, "rt", True, id="fresh-with-refresh-token"),
        pytest.param(3, "rt", False, id="refresh-window-with-token-goes-slow-path"),
        pytest.param(3, None, True, id="refresh-window-without-token-still-valid"),
        pytest.param(-1, None, False, id="expired-goes-slow-path"),
        pytest.param(-1, "rt", False, id="expired-with-token-goes-slow-path"),
    ],
)
def test_fast_path_decision(
    cache_dir: Path, minutes: float, refresh_token: str | None, answers: bool
) -> None:
    cache.save(make_creds(minutes=minutes, refresh_token=refresh_token))
    code, out = run_fast(["--profile=dev"])
    assert (code == 0) is answers
    assert bool(out) is answers


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--help"], id="help"),
        pytest.param(["--profile"], id="option-without-value"),
        pytest.param(["--format", "yaml"], id="unknown-format"),
        pytest.param(["--profile", "../etc"], id="traversal-profile"),
        pytest.param(["--verbose"], id="unknown-option"),
        pytest.param(["extra"], id="positional"),
    ],
)
def test_fast_path_falls_back_for_anything_unusual(cache_dir: Path, args: list[str]) -> None:
    cache.save(make_creds())
    assert run_fast(args) == (None, "")


def test_fast_path_falls_back_when_there_is_no_cache(cache_dir: Path) -> None:
    assert run_fast(["--profile", "dev"]) == (None, "")


def test_fast_path_can_be_disabled(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.save(make_creds())
    monkeypatch.setenv("QBIZFED_NO_FAST_PATH", "1")
    assert run_fast(["--profile", "dev"]) == (None, "")


def test_record_refuses_naive_expiration(cache_dir: Path) -> None:
    rec = make_creds().to_record()
    rec["Expiration"] = "2030-01-01T00:00:00"
    with pytest.raises(record.CorruptCacheFileError):
        record.parse_record(json.dumps(rec).encode(), "x", profile="dev")


def test_expiration_is_written_in_utc_with_z() -> None:
    moment = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert format_expiration(moment) == "2030-01-01T12:00:00Z"
    with pytest.raises(ValueError, match="aware"):
        format_expiration(datetime(2030, 1, 1))
