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
from bench.baselines.sample_samlapp import decode_for_the_page
from bench.report import Row
from bench.stats import Latency, median_difference, percentile, ratio_over_phases


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
    for expected in ("OIDC login throughput, full login", "OIDC login throughput, callback leg",
                     "SAML login throughput, full login", "SAML login throughput, ACS leg",
                     "share of ideal", "broker CPU per OIDC login", "broker CPU per SAML login",
                     "qbizfed creds", "SAML response validation", "chat library overhead",
                     "chat overhead of `serve`", "MCP `ask` tool call", "mutating calls",
                     "wall time", "IAM authorization", "emulator ChatSync over boto3 + HTTP",
                     "time to first text event", "whole answer",
                     "time to first text, library", "first SSE event", "paced answers",
                     "streaming through serve", "admin docs sync",
                     "chat turns/s through serve vs the library",
                     "chat-turn p50 through serve", "chat-turn p99 through serve",
                     "broker CPU per chat turn", "ChatSync transport"):  # fmt: skip
        assert expected in names
    with_baseline = [r for r in rows if r.baseline is not None]
    assert all(r.ratio is not None and r.ratio >= 0 for r in with_baseline)


def test_logins_and_chats_make_no_errors(quick_results: tuple[Path, dict[str, object]]) -> None:
    _, document = quick_results
    details = document["details"]
    assert isinstance(details, dict)
    assert {c["protocol"] for c in details["login"]} == {"OIDC", "SAML"}
    for comparison in details["login"]:
        runs = (comparison["qbizfed"], comparison["baseline"])
        for run in runs:
            assert run["errors"] == 0, run["first_error"]
            assert run["latency"]["count"] == run["logins"]
        assert runs[0]["logins"] == runs[1]["logins"]  # equal work
        assert len(runs[0]["phase_rates"]) == len(runs[1]["phase_rates"]) >= 2
    # serve against the library in alternating (ABBA) rounds, then the streamed answers
    assert [load["chat_via"] for load in details["load"]] == [*run_all.LOAD_ROUNDS, "serve-stream"]
    assert run_all.LOAD_ROUNDS == ("library", "serve", "serve", "library")
    loads = {load["chat_via"]: load for load in details["load"]}
    for load in details["load"]:
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


def test_docs_resync_of_an_unchanged_folder_mutates_nothing(
    quick_results: tuple[Path, dict[str, object]],
) -> None:
    _, document = quick_results
    sync = document["details"]["docs_sync"]  # type: ignore[index]
    assert sync["docs"] > 0
    assert sync["sync_docs_per_second"] > 0
    assert sync["resync_mutating_calls"] == 0
    assert sync["resync_calls"] > 0


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


def test_sample_saml_baseline_decodes_and_escapes_without_checking() -> None:
    import base64

    xml = b'<samlp:Response xmlns:samlp="urn:x"><a>unsigned & unchecked</a></samlp:Response>'
    page_text = decode_for_the_page(base64.b64encode(xml).decode())
    assert page_text.startswith("&lt;samlp:Response")
    assert "unsigned &amp; unchecked" in page_text


def test_an_overhead_inside_the_runs_noise_is_reported_as_such() -> None:
    raw = [10.0, 10.4, 9.8, 10.1, 10.3, 9.9, 10.2, 10.0, 10.1, 9.7]
    ours = [10.1, 10.0, 10.2, 9.9, 10.4, 10.0, 9.8, 10.3, 10.0, 10.1]
    close = median_difference(ours, raw, blocks=5)
    assert close.within_noise
    assert close.brief().startswith("within noise")
    far = median_difference([t + 5 for t in ours], raw, blocks=5)
    assert not far.within_noise
    assert far.value == pytest.approx(5.1, abs=0.3)
    row = Row(name="x", ours=10.0, baseline=10.0, unit="ms", ratio=1.01, goal="-", met=True,
              noise="±0.30 ms", within_noise=True)  # fmt: skip
    assert row.ratio_text() == "within noise (±0.30 ms)"


def test_a_ratio_over_alternating_phases_carries_their_spread() -> None:
    steady = ratio_over_phases([(100, 1.0), (100, 1.0)], [(10, 1.0), (10, 1.0)])
    assert steady.ratio == pytest.approx(10.0)
    assert steady.noise == 0
    assert not steady.within_noise
    drifting = ratio_over_phases([(10, 1.0), (13, 1.0)], [(12, 1.0), (10, 1.0)])
    assert drifting.within_noise  # per-phase ratios 0.83 and 1.3 straddle 1
