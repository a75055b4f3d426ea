"""``qbizfed login`` through the installed console script when STS refuses or fails.

The same distinctions as ``serve``'s 403 / 503 pages: a refusal names the setting to
change, an STS outage says to try again; both exit 1 and cache nothing. The IdP is the
loopback test IdP (the ID token is genuine), STS is a stand-in on loopback answering
with AWS's error format, and the "browser" follows the printed URL back to the
loopback redirect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from qbizfed.settings.profiles import Profile, write_profile
from tests.integration.test_serve_sts_status import ErrorSts, StsAnswer
from tests.support.rp_idp import LoopbackOidcIdp

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))
SECRET_ENV = "QBIZFED_STS_STATUS_SECRET"


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sts() -> Iterator[ErrorSts]:
    server = ErrorSts()
    yield server
    server.stop()


CASES = [
    (StsAnswer(500, "InternalFailure", "internal"), "STS failed on its side",
     "try again in a minute"),
    (StsAnswer(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
     "STS refused", "check the trust policy"),
    (StsAnswer(400, "InvalidIdentityToken", "Incorrect token audience"), "STS refused",
     "add client id"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "says", "fix"), CASES, ids=[a.code for a, _, _ in CASES])
def test_login_says_whether_sts_refused_or_failed(
    idp: LoopbackOidcIdp, sts: ErrorSts, tmp_path: Path, answer: StsAnswer, says: str, fix: str
) -> None:
    sts.answer = answer
    config = str(tmp_path / "config.toml")
    write_profile(
        Profile(
            name="dev", protocol="oidc", role_arn="arn:aws:iam::123456789012:role/QBizWeb",
            endpoint_url=sts.url, allow_insecure_loopback_http=True, issuer=idp.issuer,
            client_id=idp.client_id, client_secret_env=SECRET_ENV,
        ),
        config,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"QBIZFED_CONFIG": config, "QBIZFED_CACHE_DIR": str(tmp_path / "cache"),
                SECRET_ENV: idp.client_secret, "AWS_MAX_ATTEMPTS": "1"})  # fmt: skip
    process = subprocess.Popen(
        [QBIZFED, "login", "--profile", "dev", "--no-browser", "--timeout", "30"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    url = ""
    for line in process.stderr:
        if line.startswith("http"):
            url = line.strip()
            break
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    idp.token_response = {
        "access_token": "at", "token_type": "Bearer",
        "id_token": idp.mint(idp.claims(nonce=query["nonce"])),
    }  # fmt: skip
    back = {"code": "c", "state": query["state"]}
    httpx.get(f"{query['redirect_uri']}?{urlencode(back)}", timeout=10)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 1, rest
    assert says in rest
    assert fix in rest
    assert "Traceback" not in rest
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
