"""``qbizfed serve --workers 2`` as a user runs it, against a dev IdP, local AWS and Redis.

:func:`serve_workers` starts the installed console script with both sign-in methods and
the chat pages configured through the sample's variables, a real ``redis-server`` as the
session store, and port 0. The broker's own callback and ACS URLs are not where it
listens (the port is only known once it runs): the test's browser stops at the IdP's
redirect or auto-post and delivers it to the real port, as a load balancer would.

Which worker answered a request is read from serve's access log, whose lines carry the
process id when several workers run (``qbizfed.web.access [pid] GET / 200 ...``).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.web.sealing import SessionKeys
from tests.conftest import REGION
from tests.support.console_script import RunningQbizfed, running_qbizfed
from tests.support.dev_idp_federation import federate_dev_idp
from tests.support.qbusiness_app import subscribed_application
from tests.support.redis_server import RedisServer

CLIENT_ID = "qbizfed-workers"
CLIENT_SECRET = "workers-secret-0123456789abcdef"
# What the IdP sends the browser to; never contacted (the browser stops there).
BROKER_BASE = "http://127.0.0.1:9"
READY = r"sign-in on (http://127\.0\.0\.1:\d+)/ \(2 workers\)"


def base_env() -> dict[str, str]:
    """The test's environment without any serve or sample variables of the caller's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OIDC_", "IDP_", "QBIZFED_", "QBUSINESS_"))}  # fmt: skip
    return {**env, "PYTHONUNBUFFERED": "1"}


@dataclass
class Workers:
    """A running ``qbizfed serve --workers 2`` and where it listens."""

    serve: RunningQbizfed
    url: str

    def pids(self, method: str, path: str, status: int) -> list[int]:
        """The process id of each access-log line for ``METHOD path status``, in order."""
        pattern = re.compile(
            rf"qbizfed\.web\.access \[(\d+)\] {method} {re.escape(path)} {status} "
        )
        return [int(m.group(1)) for line in self.serve.lines if (m := pattern.search(line))]

    def logged_pids(self, method: str, path: str, status: int, count: int) -> list[int]:
        """:meth:`pids`, once there are ``count`` of them (a line is written after the
        reply went out, so it may trail the response by a moment)."""
        deadline = time.monotonic() + 30
        found = self.pids(method, path, status)
        while len(found) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            found = self.pids(method, path, status)
        return found


def one_request_client(cookies: httpx.Cookies) -> httpx.Client:
    """A browser tab that opens a new connection per request (so the kernel may hand
    each to either worker), sharing the signed-in browser's cookies."""
    return httpx.Client(timeout=30, cookies=cookies, headers={"Connection": "close"})


@contextmanager
def serve_workers(local_aws: LocalAws, redis: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    admin = boto3.session.Session(region_name=REGION)
    iam = admin.client("iam", endpoint_url=local_aws.url)
    name = "workers" + uuid.uuid4().hex[:8]
    idp = DevIdp(
        DevIdpSettings(
            port=0,
            clients=(
                OidcClient(
                    client_id=CLIENT_ID,
                    client_secret=Secret(CLIENT_SECRET),
                    redirect_uris=(BROKER_BASE + "/auth/oidc/callback",),
                    require_pkce=True,
                ),
            ),
        )
    ).start()
    try:
        roles = federate_dev_idp(iam, idp, name=name, base=BROKER_BASE, client_id=CLIENT_ID)
        oidc_role, saml_provider = roles.oidc_role, roles.saml_provider
        application_id = subscribed_application(
            admin.client("qbusiness", endpoint_url=local_aws.url), saml_provider,
            name_prefix="workers",
        )  # fmt: skip
        cert = tmp_path / "idp.pem"
        cert.write_text(idp.certificate_pem)
        env = {
            **base_env(),
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_DISCOVERY_URL": idp.issuer + "/.well-known/openid-configuration",
            "OIDC_REDIRECT_URI": BROKER_BASE + "/auth/oidc/callback",
            "OIDC_ROLE_ARN": oidc_role,
            "IDP_SSO_URL": idp.saml_sso_url,
            "IDP_ISSUER": idp.saml_entity_id,
            "CUSTOM_ACS_URL": BROKER_BASE + "/saml",
            "QBIZFED_SAML_IDP_CERT_FILE": str(cert),
            "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP": "1",
            "QBUSINESS_APPLICATION_ID": application_id,
            "QBIZFED_SESSION_KEY": SessionKeys.generate().encoded(),
            "AWS_ENDPOINT_URL": local_aws.url,
            "AWS_REGION": REGION,
        }
        with running_qbizfed("serve", "--port", "0", "--workers", "2", "--session-store",
                             redis.url, env=env) as serve:  # fmt: skip
            url = serve.wait_for(READY, timeout=120).group(1)
            yield Workers(serve, url)
    finally:
        idp.stop()
