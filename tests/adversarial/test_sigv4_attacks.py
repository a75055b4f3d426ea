"""Hostile SigV4 requests against the running local endpoint, each named after its attack.

Requests are signed with botocore's own signer pieces (as any SDK signs them), then
tampered with on the way, and sent over real HTTP to the Q Business emulator. The
baseline (an untampered request) must pass authentication, so each refusal is
caused by the attack and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from qbizfed.local.sessions import IssuedSession
from qbizfed.local.stack import LocalAws
from tests.support.chat_permissions import chat_role

DATA = Path(__file__).parent / "data" / "sigv4"
ACCOUNT = "123456789012"
REGION = "us-east-1"
MISSING_APP = "a" * 36
EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
CONTENT_HASH_MISMATCH = (
    "The provided 'x-amz-content-sha256' header does not match what was computed."
)


@dataclass(frozen=True)
class Wire:
    """A request as it will travel: what was signed can differ from what is sent."""

    method: str = "GET"
    path: str = f"/applications/{MISSING_APP}/conversations"
    query: str = "maxResults=5"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def sign(
    wire: Wire,
    *,
    host: str,
    key: str,
    secret: str,
    token: str | None,
    when: datetime,
    extra_headers: dict[str, str] | None = None,
    sign_token: bool = True,
) -> Wire:
    """Sign ``wire`` with botocore's SigV4 pieces at time ``when``."""
    url = f"http://{host}{wire.path}" + (f"?{wire.query}" if wire.query else "")
    request = AWSRequest(method=wire.method, url=url, data=wire.body)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = amz_date
    request.headers["X-Amz-Date"] = amz_date
    request.headers["Host"] = host
    for name, value in (extra_headers or {}).items():
        request.headers[name] = value
    if token is not None and sign_token:
        request.headers["X-Amz-Security-Token"] = token
    signer = SigV4Auth(Credentials(key, secret, token), "qbusiness", REGION)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    headers = dict(request.headers.items())
    if token is not None and not sign_token:
        headers["X-Amz-Security-Token"] = token
    return replace(wire, headers=headers)


def send(local_aws: LocalAws, wire: Wire) -> httpx.Response:
    url = f"{local_aws.url}{wire.path}" + (f"?{wire.query}" if wire.query else "")
    with httpx.Client(timeout=10) as client:
        return client.request(wire.method, url, content=wire.body, headers=wire.headers)


@pytest.fixture
def user(local_aws: LocalAws) -> IssuedSession:
    return local_aws.registry.issue(
        account_id=ACCOUNT,
        role_arn=chat_role(local_aws, "qbiz-web"),
        role_id="AROAEXAMPLEROLE",
        session_name="mallory-target",
        duration_seconds=900,
        tags={"Email": "victim@example.com"},
        federated_by=f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com",
    )


def _host(local_aws: LocalAws) -> str:
    return local_aws.url.removeprefix("http://")


def signed_by(local_aws: LocalAws, session: IssuedSession, wire: Wire, **kw: Any) -> Wire:
    kw.setdefault("when", datetime.now(UTC))
    return sign(
        wire,
        host=_host(local_aws),
        key=kw.pop("key", session.access_key_id),
        secret=kw.pop("secret", session.secret_access_key),
        token=kw.pop("token", session.session_token),
        **kw,
    )


def test_untampered_session_request_passes_authentication(
    local_aws: LocalAws, user: IssuedSession
) -> None:
    response = send(local_aws, signed_by(local_aws, user, Wire()))
    # Authentication passed: the emulator looked for the (missing) application.
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


def test_untampered_post_with_body_passes_authentication(
    local_aws: LocalAws, user: IssuedSession
) -> None:
    body = json.dumps({"userMessage": "hello"}).encode()
    wire = Wire(method="POST", query="sync", body=body)
    signed = signed_by(local_aws, user, wire, extra_headers={"Content-Type": "application/json"})
    response = send(local_aws, signed)
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


Attack = Callable[[LocalAws, IssuedSession], Wire]


def _wrong_secret(local_aws: LocalAws, s: IssuedSession) -> Wire:
    return signed_by(local_aws, s, Wire(), secret="A" * 40)


def _tampered_body(local_aws: LocalAws, s: IssuedSession) -> Wire:
    wire = Wire(method="POST", query="sync", body=b'{"userMessage": "what is my salary?"}')
    signed = signed_by(local_aws, s, wire, extra_headers={"Content-Type": "application/json"})
    return replace(signed, body=b'{"userMessage": "what is the CEO salary?"}')


def _tampered_path(local_aws: LocalAws, s: IssuedSession) -> Wire:
    signed = signed_by(local_aws, s, Wire())
    return replace(signed, path=f"/applications/{'b' * 36}/conversations")


def _tampered_query(local_aws: LocalAws, s: IssuedSession) -> Wire:
    return replace(signed_by(local_aws, s, Wire()), query="maxResults=100")


def _tampered_signed_header(local_aws: LocalAws, s: IssuedSession) -> Wire:
    signed = signed_by(local_aws, s, Wire(), extra_headers={"X-Amz-User-Agent": "sdk/1"})
    headers = {**signed.headers, "X-Amz-User-Agent": "evil/2"}
    return replace(signed, headers=headers)


def _swapped_method(local_aws: LocalAws, s: IssuedSession) -> Wire:
    wire = Wire(method="GET", path=f"/applications/{MISSING_APP}/conversations/c1", query="")
    return replace(signed_by(local_aws, s, wire), method="DELETE")


def _shifted_date_header(local_aws: LocalAws, s: IssuedSession) -> Wire:
    when = datetime.now(UTC).replace(microsecond=0)
    signed = signed_by(local_aws, s, Wire(), when=when)
    later = (when + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    return replace(signed, headers={**signed.headers, "X-Amz-Date": later})


def _signature_of_another_request(local_aws: LocalAws, s: IssuedSession) -> Wire:
    other = signed_by(local_aws, s, Wire(query="maxResults=1"))
    mine = signed_by(local_aws, s, Wire())
    return replace(mine, headers={**mine.headers, "Authorization": other.headers["Authorization"]})


def _content_hash_lie(local_aws: LocalAws, s: IssuedSession) -> Wire:
    wire = Wire(method="POST", query="sync", body=b'{"userMessage": "a"}')
    signed = signed_by(
        local_aws,
        s,
        wire,
        extra_headers={
            "Content-Type": "application/json",
            "X-Amz-Content-SHA256": EMPTY_BODY_SHA256,
        },
    )
    return signed


SIGNATURE_ATTACKS: list[tuple[str, Attack, int, str]] = [
    ("wrong_secret", _wrong_secret, 403, "InvalidSignatureException"),
    ("tampered_body", _tampered_body, 403, "InvalidSignatureException"),
    ("tampered_path", _tampered_path, 403, "InvalidSignatureException"),
    ("tampered_query", _tampered_query, 403, "InvalidSignatureException"),
    ("tampered_signed_header", _tampered_signed_header, 403, "InvalidSignatureException"),
    ("swapped_method", _swapped_method, 403, "InvalidSignatureException"),
    ("shifted_date_header", _shifted_date_header, 403, "InvalidSignatureException"),
    ("signature_of_another_request", _signature_of_another_request, 403,
     "InvalidSignatureException"),
    ("content_hash_lie", _content_hash_lie, 400, "InvalidSignatureException"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("attack", "status", "code"),
    [(a, s, c) for _, a, s, c in SIGNATURE_ATTACKS],
    ids=[name for name, *_ in SIGNATURE_ATTACKS],
)
def test_signature_attack_refused(
    local_aws: LocalAws, user: IssuedSession, attack: Attack, status: int, code: str
) -> None:
    response = send(local_aws, attack(local_aws, user))
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == code
    message = response.json()["message"]
    assert message == (SIGNATURE_MISMATCH if status == 403 else CONTENT_HASH_MISMATCH)
    assert user.secret_access_key not in response.text
    assert user.session_token not in response.text


def test_expired_session_refused(local_aws: LocalAws) -> None:
    stale = local_aws.registry.issue(
        account_id=ACCOUNT,
        role_arn=chat_role(local_aws, "qbiz-web"),
        role_id="AROAEXAMPLEROLE",
        session_name="stale",
        duration_seconds=900,
        tags={"Email": "stale@example.com"},
        federated_by="x",
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    response = send(local_aws, signed_by(local_aws, stale, Wire()))
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "ExpiredTokenException"
    assert response.json()["message"] == "The security token included in the request is expired"


TOKEN_ATTACKS: list[tuple[str, dict[str, Any]]] = [
    ("unknown_session_token", {"token": "FwoGZXIvYXdzE" + "Z" * 180}),
    ("forged_temporary_key", {"key": "ASIAFORGEDFORGED0000"}),
    ("security_token_outside_signature", {"sign_token": False}),
    ("session_key_without_token", {"token": None}),
]


@pytest.mark.parametrize(
    "tamper", [t for _, t in TOKEN_ATTACKS], ids=[name for name, _ in TOKEN_ATTACKS]
)
def test_token_attack_refused(
    local_aws: LocalAws, user: IssuedSession, tamper: dict[str, Any]
) -> None:
    response = send(local_aws, signed_by(local_aws, user, Wire(), **tamper))
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    assert response.json()["message"] == "The security token included in the request is invalid."


def test_token_of_another_session_refused(local_aws: LocalAws, user: IssuedSession) -> None:
    other = local_aws.registry.issue(
        account_id=ACCOUNT,
        role_arn=chat_role(local_aws, "qbiz-web"),
        role_id="AROAEXAMPLEROLE",
        session_name="other",
        duration_seconds=900,
        tags={"Email": "other@example.com"},
        federated_by="x",
    )
    response = send(local_aws, signed_by(local_aws, user, Wire(), token=other.session_token))
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    assert response.json()["message"] == "The security token included in the request is invalid."


SKEWS = [
    ("replayed_20_minutes_later", timedelta(minutes=-20), "Signature expired: "),
    ("signed_20_minutes_in_future", timedelta(minutes=20), "Signature not yet current: "),
]


@pytest.mark.parametrize(
    ("skew", "prefix"), [(s, p) for _, s, p in SKEWS], ids=[n for n, *_ in SKEWS]
)
def test_skewed_date_refused(
    local_aws: LocalAws, user: IssuedSession, skew: timedelta, prefix: str
) -> None:
    wire = signed_by(local_aws, user, Wire(), when=datetime.now(UTC) + skew)
    response = send(local_aws, wire)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert response.json()["message"].startswith(prefix)


def test_date_within_fourteen_minutes_accepted(local_aws: LocalAws, user: IssuedSession) -> None:
    wire = signed_by(local_aws, user, Wire(), when=datetime.now(UTC) - timedelta(minutes=14))
    assert send(local_aws, wire).headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


MALFORMED = json.loads((DATA / "malformed_authorization.json").read_text())


@pytest.mark.parametrize("case", MALFORMED, ids=[c["attack"] for c in MALFORMED])
def test_malformed_authorization_refused(
    local_aws: LocalAws, user: IssuedSession, case: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    authorization = case["authorization"].format(
        key=user.access_key_id, date=now.strftime("%Y%m%d")
    )
    headers = {
        "Authorization": authorization,
        "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
        "X-Amz-Security-Token": user.session_token,
    }
    wire = Wire(headers=headers)
    response = send(local_aws, wire)
    # A non-SigV4 header does not say which service it is for: the edge refuses it.
    assert response.status_code == case["status"]
    assert response.headers["x-amzn-ErrorType"] == case["code"]
    assert case["message"] in response.json()["message"]
    assert user.session_token not in response.text


def _presigned(local_aws: LocalAws, s: IssuedSession, expires: int = 60) -> str:
    client = boto3.session.Session(
        aws_access_key_id=s.access_key_id,
        aws_secret_access_key=s.secret_access_key,
        aws_session_token=s.session_token,
        region_name=REGION,
    ).client("qbusiness", endpoint_url=local_aws.url)
    return str(
        client.generate_presigned_url(
            "list_conversations",
            Params={"applicationId": MISSING_APP, "maxResults": 5},
            ExpiresIn=expires,
        )
    )


def test_presigned_url_passes_authentication(local_aws: LocalAws, user: IssuedSession) -> None:
    response = httpx.get(_presigned(local_aws, user), timeout=10)
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


PRESIGNED_ATTACKS: list[tuple[str, Callable[[str], str], str]] = [
    ("presigned_query_tampered", lambda u: u.replace("maxResults=5", "maxResults=50"),
     "InvalidSignatureException"),
    ("presigned_path_tampered", lambda u: u.replace(MISSING_APP, "c" * 36),
     "InvalidSignatureException"),
    ("presigned_expiry_extended", lambda u: u.replace("X-Amz-Expires=60", "X-Amz-Expires=600"),
     "InvalidSignatureException"),
    ("presigned_token_swapped",
     lambda u: u.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x"),
     "UnrecognizedClientException"),
    ("presigned_signature_removed",
     lambda u: "&".join(p for p in u.split("&") if not p.startswith("X-Amz-Signature=")),
     "IncompleteSignatureException"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "code"),
    [(t, c) for _, t, c in PRESIGNED_ATTACKS],
    ids=[name for name, *_ in PRESIGNED_ATTACKS],
)
def test_presigned_attack_refused(
    local_aws: LocalAws, user: IssuedSession, tamper: Callable[[str], str], code: str
) -> None:
    url = _presigned(local_aws, user)
    tampered = tamper(url)
    assert tampered != url
    response = httpx.get(tampered, timeout=10)
    assert response.headers["x-amzn-ErrorType"] == code
