"""The whole path, offline: dev IdP -> web broker -> ``qbizfed local aws`` STS -> Q Business.

A user signs in through the broker with OIDC and with SAML (real HTTP everywhere), lands
on a page saying who they are and when their credentials expire, exports them, and the
exported credentials work with boto3 against the local Q Business as that user.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.local.stack import LocalAws
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from qbizfed.web.sessions import InMemorySessionStore
from qbizfed.web.sts_issuer import ThreadPoolStsIssuer
from tests.conftest import REGION
from tests.integration.test_serve_harness import UvicornServer
from tests.peers.flows import browse, login_for_saml
from tests.support.dev_idp_broker import dev_idp_web_settings
from tests.support.dev_idp_federation import federate_dev_idp
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.qbusiness_app import subscribed_application

CLIENT_ID = "qbizfed-web-e2e"
CLIENT_SECRET = "e2e-secret-0123456789abcdef"


@dataclass
class Stack:
    url: str
    idp: DevIdp
    aws: LocalAws
    oidc_role: str
    saml_role: str
    application_id: str
    store: InMemorySessionStore


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws) -> Iterator[Stack]:
    admin = boto3.session.Session(region_name=REGION)
    iam = admin.client("iam", endpoint_url=local_aws.url)
    name = "serve" + uuid.uuid4().hex[:8]
    server = UvicornServer()
    base = server.url
    idp = DevIdp(
        DevIdpSettings(
            port=0,
            clients=(
                OidcClient(
                    client_id=CLIENT_ID,
                    client_secret=Secret(CLIENT_SECRET),
                    redirect_uris=(base + "/auth/oidc/callback",),
                    post_logout_redirect_uris=(base + "/signed-out",),
                ),
            ),
        )
    ).start()
    roles = federate_dev_idp(iam, idp, name=name, base=base, client_id=CLIENT_ID)
    oidc_role, saml_provider, saml_role = roles.oidc_role, roles.saml_provider, roles.saml_role
    # A SAML provider stands in for the application's identity provider: these tests are
    # about the broker, and one application serves both sign-in protocols here.
    application_id = subscribed_application(
        admin.client("qbusiness", endpoint_url=local_aws.url), saml_provider, name_prefix="serve"
    )
    settings = dev_idp_web_settings(
        idp,
        base,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        oidc_role_arn=oidc_role,
        aws_region=REGION,
        aws_endpoint_url=local_aws.url,
    )
    store = InMemorySessionStore()
    issuer = ThreadPoolStsIssuer(region=REGION, endpoint_url=local_aws.url)
    server.start(create_app(settings, session_store=store, sts=issuer))
    try:
        yield Stack(base, idp, local_aws, oidc_role, saml_role, application_id, store)
    finally:
        server.stop()
        idp.stop()


def sign_in_oidc(stack: Stack, browser: httpx.Client, username: str) -> httpx.Response:
    callback = stack.url + "/auth/oidc/callback"
    params = browse(browser, stack.url + "/login/oidc", username=username, password="demo",
                    stop_at=callback)  # fmt: skip
    assert isinstance(params, dict), params
    done = browser.get(callback, params=params)
    assert done.status_code == 303, done.text[:1500]
    return browser.get(stack.url + done.headers["location"])


def sign_in_saml(stack: Stack, browser: httpx.Client, username: str) -> httpx.Response:
    post = login_for_saml(browser, stack.url + "/login/saml", username=username, password="demo")
    acs = browser.post(post.acs_url, data={
        "SAMLResponse": base64.b64encode(post.saml_response_xml).decode(),
        "RelayState": post.relay_state or "",
    })  # fmt: skip
    assert acs.status_code == 303, acs.text[:1500]
    finish = browser.get(stack.url + acs.headers["location"])
    assert finish.status_code == 303, finish.text[:1500]
    return browser.get(stack.url + finish.headers["location"])


def exported_credentials(stack: Stack, browser: httpx.Client) -> dict[str, str]:
    page = browser.get(stack.url + "/credentials")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    revealed = browser.post(stack.url + "/credentials", data={"csrf_token": csrf.group(1)})
    assert revealed.status_code == 200
    block = re.search(r'<pre id="credential-process" class="secret">(.*?)</pre>', revealed.text,
                      re.S)  # fmt: skip
    assert block is not None
    import html

    data: dict[str, str] = json.loads(html.unescape(block.group(1)))
    return data


def qbusiness_as(stack: Stack, creds: dict[str, str]) -> Any:
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    ).client("qbusiness", endpoint_url=stack.aws.url)


def list_conversations(client: Any, app: str) -> dict[str, Any]:
    for _ in range(5):
        try:
            return dict(client.list_conversations(applicationId=app))
        except ClientError as exc:  # the documented first-call subscription error
            if "subscription" not in str(exc):
                raise
            time.sleep(0.2)
    raise AssertionError("still no subscription")


def test_oidc_user_exports_credentials_that_work_against_q_business(stack: Stack) -> None:
    with httpx.Client(timeout=15) as browser:
        home = sign_in_oidc(stack, browser, "alice")
        assert 'id="email">alice@example.com<' in home.text
        assert re.search(r'id="expires"><time datetime="[0-9T:-]+Z"', home.text)
        creds = exported_credentials(stack, browser)
    session = stack.aws.registry.lookup(creds["AccessKeyId"])
    assert session is not None
    assert dict(session.tags) == {"Email": "alice@example.com"}
    assert session.role_arn == stack.oidc_role
    answer = list_conversations(qbusiness_as(stack, creds), stack.application_id)
    assert answer["conversations"] == []


def test_saml_user_gets_tagged_credentials(stack: Stack) -> None:
    with httpx.Client(timeout=15) as browser:
        home = sign_in_saml(stack, browser, "bob")
        assert 'id="email">bob@example.com<' in home.text
        creds = exported_credentials(stack, browser)
    session = stack.aws.registry.lookup(creds["AccessKeyId"])
    assert session is not None
    assert dict(session.tags).get("Email") == "bob@example.com"
    assert session.role_arn == stack.saml_role
    answer = list_conversations(qbusiness_as(stack, creds), stack.application_id)
    assert answer["conversations"] == []


def test_logs_and_default_pages_carry_no_secrets(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything the server side logs at ``serve``'s level (INFO; DEBUG for qbizfed's
    own loggers) during a sign-in and an export, scanned for secrets and tokens. The
    test's own browser runs in the main thread; its records are not the server's."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="qbizfed")
    with httpx.Client(timeout=15) as browser:
        home = sign_in_oidc(stack, browser, "carol")
        default_pages = [home.text, browser.get(stack.url + "/credentials").text]
        creds = exported_credentials(stack, browser)
        cookie = browser.cookies.get("qbizfed_session")
        assert cookie
        record = asyncio.run(stack.store.get("session:" + cookie))
    assert record is not None
    refresh_token = record["rg"]["rt"]  # the dev IdP grants offline_access
    server_records = [r for r in caplog.records if r.threadName != "MainThread"]
    logged = "\n".join(r.getMessage() for r in server_records)
    assert "carol@example.com" in logged  # the log is there, just clean
    for value in (creds["SecretAccessKey"], creds["SessionToken"], CLIENT_SECRET, refresh_token):
        assert value not in logged
        assert value not in cookie
        for page in default_pages:
            assert value not in page
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", logged), "a JWT reached the logs"
    assert "code=" not in logged
    assert "state=" not in logged
    assert "SAMLResponse" not in logged


@pytest.mark.parametrize(
    ("misconfiguration", "client_id", "tag_session", "says"),
    [
        ("trust_policy_without_tag_session", CLIENT_ID, False, "sts:TagSession"),
        ("client_id_missing_on_the_iam_oidc_provider", "unregistered-client", True,
         "add client id unregistered-client"),
    ],
)  # fmt: skip
def test_sts_refusal_page_names_the_probable_cause(
    stack: Stack, misconfiguration: str, client_id: str, tag_session: bool, says: str
) -> None:
    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=stack.aws.url)
    provider = next(
        p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        if p["Arn"].endswith(stack.idp.issuer.split("://", 1)[1])
    )  # fmt: skip
    host_path = stack.idp.issuer.split("://", 1)[1]
    policy = oidc_trust_policy(provider, host_path, client_id, tag_session=tag_session)
    role = iam.create_role(
        RoleName="bad" + uuid.uuid4().hex[:8], AssumeRolePolicyDocument=json.dumps(policy)
    )["Role"]["Arn"]
    server = UvicornServer()
    stack.idp.register_client(OidcClient(
        client_id=client_id, client_secret=Secret(CLIENT_SECRET),
        redirect_uris=(server.url + "/auth/oidc/callback",),
    ))  # fmt: skip
    settings = WebSettings(
        oidc=OidcRegistration(
            issuer=stack.idp.issuer, client_id=client_id,
            client_secret=CLIENT_SECRET,
            redirect_uri=server.url + "/auth/oidc/callback", role_arn=role,
            allow_insecure_loopback_http=True,
        ),
    )  # fmt: skip
    server.start(create_app(settings, sts=ThreadPoolStsIssuer(region=REGION,
                                                              endpoint_url=stack.aws.url)))
    try:
        with httpx.Client(timeout=15) as browser:
            callback = server.url + "/auth/oidc/callback"
            params = browse(browser, server.url + "/login/oidc", username="alice",
                            password="demo", stop_at=callback)  # fmt: skip
            assert isinstance(params, dict)
            page = browser.get(callback, params=params)
        assert page.status_code == 403, page.text[:1000]
        assert "AWS refused to issue credentials" in page.text
        assert says in page.text, page.text[-2500:]
        assert 'id="error-remedy"' in page.text
    finally:
        server.stop()
