"""Resource status is computed from the clock (no threads): the emulator driven in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from qbizfed.local.qbusiness.service import QBusinessEmulator
from qbizfed.local.sessions import SessionRegistry

HOST = "127.0.0.1:4566"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/idp.example.com"


class Harness:
    """An emulator with a hand-moved clock, called with admin-signed werkzeug requests."""

    def __init__(self, delay: float) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        self.emulator = QBusinessEmulator(
            registry=SessionRegistry(),
            active_delay_seconds=delay,
            corpus_dir=None,
            clock=lambda: self.now,
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        aws = AWSRequest(method=method, url=f"http://{HOST}{path}", data=data)
        aws.headers["Host"] = HOST
        aws.context["timestamp"] = self.now.strftime("%Y%m%dT%H%M%SZ")
        aws.headers["X-Amz-Date"] = aws.context["timestamp"]
        signer = SigV4Auth(Credentials("AKIAADMIN", "unknowable"), "qbusiness", "us-east-1")
        canonical = signer.canonical_request(aws)
        signer._inject_signature_to_request(
            aws, signer.signature(signer.string_to_sign(aws, canonical), aws)
        )
        environ = EnvironBuilder(
            method=method, path=path, headers=dict(aws.headers.items()), data=data
        ).get_environ()
        environ["RAW_URI"] = path
        response = self.emulator.handle(Request(environ))
        assert response is not None
        payload = json.loads(response.get_data() or b"{}")
        assert response.status_code == 200, payload
        return payload

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def harness() -> Harness:
    return Harness(delay=30)


def test_application_turns_active_exactly_after_the_delay(harness: Harness) -> None:
    app = harness.call(
        "POST",
        "/applications",
        {
            "displayName": "x",
            "identityType": "AWS_IAM_IDP_OIDC",
            "iamIdentityProviderArn": OIDC_ARN,
        },
    )["applicationId"]
    assert harness.call("GET", f"/applications/{app}")["status"] == "CREATING"
    harness.advance(29.9)
    assert harness.call("GET", f"/applications/{app}")["status"] == "CREATING"
    harness.advance(0.1)
    assert harness.call("GET", f"/applications/{app}")["status"] == "ACTIVE"


def test_index_update_is_updating_for_the_delay(harness: Harness) -> None:
    app = harness.call("POST", "/applications", {"displayName": "x"})["applicationId"]
    index = harness.call("POST", f"/applications/{app}/indices", {"displayName": "i"})["indexId"]
    harness.advance(30)
    harness.call("PUT", f"/applications/{app}/indices/{index}", {"displayName": "j"})
    got = harness.call("GET", f"/applications/{app}/indices/{index}")
    assert (got["status"], got["displayName"]) == ("UPDATING", "j")
    assert got["updatedAt"] > got["createdAt"]
    harness.advance(30)
    assert harness.call("GET", f"/applications/{app}/indices/{index}")["status"] == "ACTIVE"


def test_zero_delay_is_active_at_once() -> None:
    harness = Harness(delay=0)
    app = harness.call("POST", "/applications", {"displayName": "x"})["applicationId"]
    assert harness.call("GET", f"/applications/{app}")["status"] == "ACTIVE"


def test_reset_forgets_everything(harness: Harness) -> None:
    harness.call("POST", "/applications", {"displayName": "x"})
    assert harness.call("GET", "/applications")["applications"]
    harness.emulator.reset()
    assert harness.call("GET", "/applications").get("applications", []) == []
