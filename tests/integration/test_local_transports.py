"""One loopback port, three transports: HTTP/1.1, HTTP/2 with prior knowledge (h2c), WebSocket.

The WebSocket side is tests/integration/test_qbusiness_streaming.py; the unmodified AWS
SDK for JavaScript over HTTP/2 is tests/peers/test_peer_js_sdk.py.
"""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from qbizfed.local.stack import LocalAws
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION
from tests.support.qbusiness_app import admin_qbusiness, ready_application


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws) -> LocalAws:
    return local_aws


@pytest.fixture(scope="module")
def app(stack: LocalAws) -> str:
    return ready_application(stack, [{"id": "d", "title": "Doc", "text": "Some text."}])


def _signed(stack: LocalAws, method: str, path: str, data: bytes = b"") -> AWSRequest:
    request = AWSRequest(method=method, url=f"{stack.url}{path}", data=data)
    SigV4Auth(Credentials(FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET), "qbusiness", REGION).add_auth(request)
    return request


def test_http2_with_prior_knowledge_on_the_same_port(stack: LocalAws, app: str) -> None:
    request = _signed(stack, "GET", f"/applications/{app}")
    with httpx.Client(http1=False, http2=True) as client:  # h2c, prior knowledge
        response = client.get(request.url, headers=dict(request.headers.items()))
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200, response.text
    assert response.json()["applicationId"] == app


def test_http1_still_served(stack: LocalAws, app: str) -> None:
    assert admin_qbusiness(stack).get_application(applicationId=app)["applicationId"] == app


def test_http2_body_without_content_length_is_read(stack: LocalAws) -> None:
    """HTTP/2 lets a client omit Content-Length; the body must still reach the service."""
    body = json.dumps({
        "displayName": "h2-no-length", "identityType": "AWS_IAM_IDP_OIDC",
        "iamIdentityProviderArn": "arn:aws:iam::123456789012:oidc-provider/idp.example.test",
        "clientIdsForOIDC": ["client"],
    }).encode()  # fmt: skip
    request = _signed(stack, "POST", "/applications", body)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    with httpx.Client(http1=False, http2=True) as client:
        response = client.post(request.url, headers=headers, content=iter([body]))
    assert response.http_version == "HTTP/2"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json()["applicationId"]
