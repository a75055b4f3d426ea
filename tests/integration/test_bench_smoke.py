"""Smoke test of ``bench/``: every benchmark runs in a tiny configuration and works.

Asserts correctness only (every login and chat turn succeeds, a re-apply makes no
mutating call, every report file is written with a row per benchmark), never timings:
timings belong to ``make bench``, which prints them as ratios against baselines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import run_all
from bench.baselines.sample_samlapp import read_attributes_unchecked
from bench.report import Row
from bench.stats import Latency, percentile


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("bench")
    run_all.main(["--quick", "--out", str(out)])
    return out, json.loads((out / "latest.json").read_text())


def test_every_report_file_is_written(quick_results: tuple[Path, dict[str, object]]) -> None:
    out, _ = quick_results
    assert (out / "latest.md").read_text().startswith("| benchmark | qbizfed | baseline |")
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_benchmark_has_a_row(quick_results: tuple[Path, dict[str, object]]) -> None:
    _, document = quick_results
    rows = [Row(**row) for row in document["rows"]]  # type: ignore[attr-defined]
    names = " | ".join(r.name for r in rows)
    for expected in ("full login", "callback leg", "share of ideal", "broker CPU per login",
                     "qbizfed creds", "SAML response validation", "chat library overhead",
                     "chat overhead of `serve`", "mutating calls", "wall time",
                     "time to first text event", "whole answer",
                     "time to first text, library", "first SSE event", "paced answers",
                     "streaming through serve"):  # fmt: skip
        assert expected in names
    with_baseline = [r for r in rows if r.baseline is not None]
    assert all(r.ratio is not None and r.ratio >= 0 for r in with_baseline)


def test_logins_and_chats_make_no_errors(quick_results: tuple[Path, dict[str, object]]) -> None:
    _, document = quick_results
    details = document["details"]
    assert isinstance(details, dict)
    for comparison in details["login"]:
        for run in (comparison["qbizfed"], comparison["baseline"]):
            assert run["errors"] == 0, run["first_error"]
            assert run["latency"]["count"] == run["logins"]
    loads = {load["chat_via"]: load for load in details["load"]}
    assert set(loads) == {"library", "serve", "serve-stream"}
    for load in loads.values():
        assert load["errors"] == 0, load["error_kinds"]
        assert load["completed"] == load["users"]
        assert load["chat_turn"]["count"] == load["users"] * load["turns_per_user"]
    assert loads["library"]["answered_with_sources"] > 0
    chat = details["chat"]
    assert chat["library"]["count"] == chat["raw"]["count"] == chat["serve"]["count"] > 0
    first = details["stream_first_text"]
    assert first["emulator"]["count"] == first["library"]["count"] == first["serve"]["count"] > 0
    assert details["stream_paced"]["events_per_answer"] > 1


def test_reapply_of_an_up_to_date_stack_mutates_nothing(
    quick_results: tuple[Path, dict[str, object]],
) -> None:
    _, document = quick_results
    reapply = document["details"]["reapply"]  # type: ignore[index]
    assert reapply["first_apply_mutating_calls"] > 0
    assert reapply["reapply_mutating_calls"] == 0
    assert reapply["reapply_read_calls"] > 0


def test_saml_benchmark_validated_every_response(
    quick_results: tuple[Path, dict[str, object]],
) -> None:
    _, document = quick_results
    saml = document["details"]["saml"]  # type: ignore[index]
    assert saml["qbizfed"]["count"] == saml["baseline"]["count"] == saml["responses"] > 0


def test_nearest_rank_percentiles() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert Latency.of_seconds([0.001, 0.002]).p50 == pytest.approx(1.0)


def test_sample_saml_baseline_reads_attributes_without_checking() -> None:
    import base64

    xml = (
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Assertion>'
        b'<saml:AttributeStatement><saml:Attribute Name="Email">'
        b"<saml:AttributeValue>a@example.com</saml:AttributeValue></saml:Attribute>"
        b"</saml:AttributeStatement></saml:Assertion></samlp:Response>"
    )
    assert read_attributes_unchecked(base64.b64encode(xml).decode()) == {"Email": ["a@example.com"]}
