"""Hostile request bodies and paths against the emulator's wire layer, one per attack.

Each request is correctly signed (admin key), so what answers is the wire layer: it
must refuse with a 4xx AWS error, never crash (500) and never echo secrets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from qbizfed.local.stack import LocalAws
from tests.support.chat_permissions import chat_role

APP = "a" * 36
INDEX = "b" * 36


def _nested_filter(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"equalsTo": {"name": "x", "value": {"stringValue": "y"}}}
    for _ in range(depth):
        node = {"notFilter": node}
    return node


HOSTILE: list[tuple[str, str, str, bytes, int, str]] = [
    ("invalid_utf8_body", "POST", "/applications", b'{"displayName": "\xff\xfe"}', 400,
     "ValidationException"),
    ("json_nested_beyond_recursion_limit", "POST", "/applications",
     b"[" * 100_000 + b"]" * 100_000, 400, "ValidationException"),
    ("attribute_filter_nested_500_deep", "POST", f"/applications/{APP}/relevant-content",
     json.dumps({"queryText": "q", "contentSource": {"retriever": {"retrieverId": APP}},
                 "attributeFilter": _nested_filter(500)}).encode(), 400, "ValidationException"),
    ("body_is_a_json_string", "POST", "/applications", b'"displayName"', 400,
     "ValidationException"),
    ("nan_for_an_integer", "POST", f"/applications/{APP}/relevant-content",
     b'{"queryText": "q", "contentSource": {"retriever": {"retrieverId": "' + APP.encode()
     + b'"}}, "maxResults": NaN}', 400, "ValidationException"),
    ("boolean_for_a_string", "POST", "/applications", b'{"displayName": true}', 400,
     "ValidationException"),
    ("dot_segments_in_label", "GET", "/applications/..%2F..%2Fetc%2Fpasswd", b"", 400,
     "ValidationException"),
    ("newline_in_label", "GET", "/applications/" + "a" * 35 + "%0A", b"", 400,
     "ValidationException"),
    ("unknown_path", "GET", "/admin/secrets", b"", 404, "UnknownOperationException"),
    ("blob_not_base64", "POST", f"/applications/{APP}/indices/{INDEX}/documents",
     b'{"documents": [{"id": "d", "content": {"blob": "<script>"}}]}', 400,
     "ValidationException"),
    ("eleven_documents_in_one_batch", "POST", f"/applications/{APP}/indices/{INDEX}/documents",
     json.dumps({"documents": [{"id": str(n)} for n in range(11)]}).encode(), 400,
     "ValidationException"),
]  # fmt: skip


USER_PATH_MARK = "/relevant-content"


def send_signed(local_aws: LocalAws, method: str, path: str, body: bytes) -> httpx.Response:
    """Sign as the admin, or as a federated user for identity-aware operations."""
    host = local_aws.url.removeprefix("http://")
    key, secret, token = "AKIAHOSTILETEST", "s", None
    if USER_PATH_MARK in path:
        session = local_aws.registry.issue(
            account_id="123456789012", role_arn=chat_role(local_aws),
            role_id="AROAH", session_name="hostile", duration_seconds=900,
            tags={"Email": "hostile@example.com"}, federated_by="oidc",
        )  # fmt: skip
        key, secret, token = (
            session.access_key_id,
            session.secret_access_key,
            session.session_token,
        )
    aws = AWSRequest(method=method, url=f"http://{host}{path}", data=body)
    aws.headers["Host"] = host
    aws.headers["Content-Type"] = "application/json"
    aws.context["timestamp"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aws.headers["X-Amz-Date"] = aws.context["timestamp"]
    if token:
        aws.headers["X-Amz-Security-Token"] = token
    signer = SigV4Auth(Credentials(key, secret, token), "qbusiness", "us-east-1")
    canonical = signer.canonical_request(aws)
    signer._inject_signature_to_request(
        aws, signer.signature(signer.string_to_sign(aws, canonical), aws)
    )
    with httpx.Client(timeout=30) as client:
        return client.request(
            method, f"{local_aws.url}{path}", content=body, headers=dict(aws.headers.items())
        )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_request_refused_cleanly(
    local_aws: LocalAws, method: str, path: str, body: bytes, status: int, code: str
) -> None:
    response = send_signed(local_aws, method, path, body)
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert isinstance(response.json()["message"], str)
