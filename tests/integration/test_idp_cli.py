"""``qbizfed local idp`` as a user runs it: prints what it serves, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qbizfed.errors import LocalStackError
from qbizfed.local.idp.server import DevIdp, DevIdpSettings

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [QBIZFED, "local", "idp", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C" in line:
            break
    return process, lines


def test_serves_discovery_and_metadata_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, lines = _start(
        "--client", "web:web-secret-xyz:http://127.0.0.1:8000/cb",
        "--sp", "urn:sp=http://127.0.0.1:8000/saml",
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    try:
        text = "".join(lines)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert match, text
        url = match.group(1)
        assert f"OIDC issuer:    {url}" in text
        assert "alice <alice@example.com>" in text
        assert "demo password:  demo" in text
        assert "web-secret-xyz" not in text, "client secrets are never printed"
        assert "web -> http://127.0.0.1:8000/cb" in text
        discovery = httpx.get(url + "/.well-known/openid-configuration").json()
        assert discovery["issuer"] == url
        assert len(httpx.get(url + "/saml/metadata").text) >= 1000
        assert (tmp_path / "state" / "idp-signing-key.pem").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in out


def test_refuses_a_non_loopback_address_without_the_flag() -> None:
    result = subprocess.run(
        [QBIZFED, "local", "idp", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert "refusing to serve the dev IdP on 0.0.0.0" in result.stderr
    assert "--allow-non-loopback" in result.stderr


def test_api_refuses_non_loopback_and_busy_ports() -> None:
    with pytest.raises(LocalStackError) as err:
        DevIdp(DevIdpSettings(host="0.0.0.0", port=0))
    assert "--allow-non-loopback" in err.value.remedy
    with DevIdp(DevIdpSettings(port=0)) as first:
        with pytest.raises(LocalStackError) as busy:
            DevIdp(DevIdpSettings(port=first.port), keys=first.keys).start()
        assert "cannot listen" in busy.value.message
        assert httpx.get(first.discovery_url).status_code == 200
