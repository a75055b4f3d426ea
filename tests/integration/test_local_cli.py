"""``qbizfed local aws`` as a user starts it: a process that starts, serves and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [QBIZFED, "local", "aws", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    assert match, line
    return process, match.group(1)


def test_starts_and_serves_boto3() -> None:
    # How fast it starts is a benchmark's question, not a test's (a loaded machine is slow).
    process, url = _start()
    try:
        sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
        assert sts.get_caller_identity()["Account"] == "123456789012"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in output


def test_ctrl_c_stops_it_cleanly() -> None:
    process, _ = _start("--latency-ms", "sts=5", "--throttle-rate", "0")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in output


def test_bad_fault_flag_exits_with_a_fix() -> None:
    result = subprocess.run(
        [QBIZFED, "local", "aws", "--port", "0", "--error-rate", "sts=2"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 1
    assert "outside 0..1" in result.stderr
    assert "fix:" in result.stderr


def test_every_command_has_help() -> None:
    for args in (["--help"], ["local", "--help"], ["local", "aws", "--help"], ["admin", "--help"]):
        result = subprocess.run([QBIZFED, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout
