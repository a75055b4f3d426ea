"""Wall time of a warm ``qbizfed creds`` (the ``credential_process`` path) vs ``python -c pass``.

Both commands run on the same machine, interleaved (so drift hits both alike), after
warm-up runs, with bytecode caching on (as after ``pip install``); the script prints the
median, p90 and the ratio of medians. Goal: under 2x.

Run: ``.venv/bin/python bench/creds_process.py [--runs 60] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import cache
from qbizfed.creds.cache import CacheEntry


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms   p90 {p90 * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    qbizfed = str(Path(sys.executable).with_name("qbizfed"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QBIZFED_CACHE_DIR": tmp}
        env.pop("QBIZFED_NO_FAST_PATH", None)
        # As installed: bytecode cached (pip compiles it; the warm-up runs write it here,
        # outside the source tree), even where the shell sets PYTHONDONTWRITEBYTECODE.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        os.environ["QBIZFED_CACHE_DIR"] = tmp
        cache.save(
            CacheEntry(
                profile="bench",
                credentials=AwsCredentials(
                    access_key_id="ASIABENCHMARK0000001",
                    secret_access_key="bench-secret",
                    session_token="bench-token",
                    expiration=datetime.now(UTC) + timedelta(hours=1),
                    region="us-east-1",
                ),
            )
        )
        creds_cmd = [qbizfed, "creds", "--profile", "bench"]
        check = subprocess.run(creds_cmd, env=env, capture_output=True, text=True, check=True)
        assert json.loads(check.stdout)["Version"] == 1
        baseline_cmd = [sys.executable, "-c", "pass"]
        for _ in range(5):
            timed(creds_cmd, env)
            timed(baseline_cmd, env)
        creds_times: list[float] = []
        baseline_times: list[float] = []
        for _ in range(args.runs):
            baseline_times.append(timed(baseline_cmd, env))
            creds_times.append(timed(creds_cmd, env))
    ratio = statistics.median(creds_times) / statistics.median(baseline_times)
    if args.json:
        print(json.dumps({
            "creds_median_ms": statistics.median(creds_times) * 1000,
            "baseline_median_ms": statistics.median(baseline_times) * 1000,
            "ratio": ratio,
            "runs": args.runs,
        }))  # fmt: skip
        return
    print(f"python -c pass          {summary(baseline_times)}")
    print(f"qbizfed creds (warm)    {summary(creds_times)}")
    print(f"ratio (median/median)  {ratio:.2f}x   (goal: < 2x, {args.runs} runs each)")


if __name__ == "__main__":
    main()
