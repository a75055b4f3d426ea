"""Fixtures that start and stop the third-party identity providers used as test peers.

* ``oidc_provider_peer``: the npm ``oidc-provider`` (tests/peers/oidc_provider), a node
  process on 127.0.0.1 with an ephemeral port, stopped at the end of the run.
* ``pysaml2_peer``: pysaml2's IdP (tests/peers/pysaml2_idp.py) in a background thread.

A missing part (node, the installed npm package, xmlsec1) fails the tests under
``CI=true`` and skips them, with the reason and the fix, elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.peers.pysaml2_idp import PeerSp, Pysaml2Idp

PEER_DIR = Path(__file__).parent / "oidc_provider"
PEER_USERS = [
    {"username": "alice", "email": "alice@example.com", "name": "Alice Anders"},
    {"username": "bob", "email": "bob@example.com", "name": "Bob Brown"},
    {"username": "carol", "email": "carol@example.com", "name": "Carol Chen"},
]
PEER_CLIENT_ID = "qbizfed-peer-client"
PEER_CLIENT_SECRET = "qbizfed-peer-client-secret-0123456789abcdef"
PEER_REDIRECT_URI = "http://127.0.0.1:8765/callback"
STARTUP_SECONDS = 30.0
STARTUP_ATTEMPTS = 2
"""Starts of the oidc-provider peer before its fixture fails. Once, on an otherwise idle
CI run, node printed nothing for 20 s and three tests errored at setup; the same tests
passed in the run before and every run after. A second start is cheaper than a red run."""


def missing_peer(reason: str) -> None:
    """Fail under CI (a missing install step must not turn green), skip locally."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"test peer unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"test peer unavailable: {reason}")


@dataclass(frozen=True)
class OidcPeer:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"


@contextlib.contextmanager
def running_oidc_provider(
    clients: list[dict[str, object]],
    *,
    device: dict[str, int] | None = None,
    profile_in_userinfo_only: bool = False,
) -> Iterator[str]:
    """npm oidc-provider on loopback knowing ``clients`` and the demo users; yields its issuer.

    Each client: ``client_id``, ``client_secret``, ``redirect_uris``, optionally
    ``post_logout_redirect_uris`` and ``token_endpoint_auth_method``. ``device``: the
    device flow's ``interval`` and ``ttl`` in seconds (default 5 and 600).
    ``profile_in_userinfo_only``: the users' names reach a relying party by UserInfo only.
    """
    node = shutil.which("node")
    if node is None:
        missing_peer("node is not installed (Node 20+ is needed for npm oidc-provider)")
    if not (PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        missing_peer("npm oidc-provider is not installed: run tests/peers/install.sh")
    config: dict[str, object] = {"clients": clients, "users": PEER_USERS}
    if device is not None:
        config["device"] = device
    if profile_in_userinfo_only:
        config["profile_in_userinfo_only"] = True
    env = {**os.environ, "QBIZFED_PEER_CONFIG": json.dumps(config), "NODE_NO_WARNINGS": "1"}
    with tempfile.TemporaryFile() as stderr:
        for attempt in range(1, STARTUP_ATTEMPTS + 1):
            process = subprocess.Popen(
                [str(node), "server.mjs"],
                cwd=PEER_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
            issuer = _await_listening(process, stderr, last_attempt=attempt == STARTUP_ATTEMPTS)
            if issuer is not None:
                break
        assert issuer is not None  # the last attempt fails instead of returning None
        try:
            yield issuer
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture(scope="session")
def oidc_provider_peer() -> Iterator[OidcPeer]:
    client: dict[str, object] = {
        "client_id": PEER_CLIENT_ID,
        "client_secret": PEER_CLIENT_SECRET,
        "redirect_uris": [PEER_REDIRECT_URI],
    }
    with running_oidc_provider([client]) as issuer:
        yield OidcPeer(issuer, PEER_CLIENT_ID, PEER_CLIENT_SECRET, PEER_REDIRECT_URI)


def _await_listening(
    process: subprocess.Popen[bytes], stderr: IO[bytes], *, last_attempt: bool
) -> str | None:
    """The issuer printed as ``LISTENING <issuer>``; otherwise the process is stopped and,
    on the last attempt, the fixture fails with node's stderr (else None: start again)."""
    line: list[bytes] = []
    reader = threading.Thread(
        target=lambda: line.append(process.stdout.readline() if process.stdout else b""),
        daemon=True,
    )
    reader.start()
    reader.join(STARTUP_SECONDS)
    text = line[0].decode().strip() if line else ""
    if not text.startswith("LISTENING "):
        process.kill()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        if not last_attempt:
            return None
        stderr.seek(0)
        detail = stderr.read().decode(errors="replace")[-2000:]
        pytest.fail(f"oidc-provider peer did not start: {text!r}\n{detail}", pytrace=False)
    return text.removeprefix("LISTENING ")


Pysaml2Factory = Callable[[list["PeerSp"]], "Pysaml2Idp"]


@pytest.fixture(scope="session")
def pysaml2_peer_factory() -> Iterator[Pysaml2Factory]:
    """``make([PeerSp(...)])``: a running pysaml2 IdP knowing those SPs (stopped after)."""
    if not Path("/usr/bin/xmlsec1").exists():
        missing_peer("Debian's xmlsec1 is missing at /usr/bin/xmlsec1 (apt-get install xmlsec1)")
    try:
        from tests.peers.pysaml2_idp import PeerUser, Pysaml2Idp
    except ImportError as exc:
        missing_peer(f"pysaml2 cannot be imported ({exc}); install the dev extra")
    started: list[Pysaml2Idp] = []

    def make(sps: list[PeerSp]) -> Pysaml2Idp:
        users = [PeerUser(u["username"], u["email"], u["name"]) for u in PEER_USERS]
        idp = Pysaml2Idp(users, sps).start()
        started.append(idp)
        return idp

    yield make
    for idp in started:
        idp.stop()
