"""SigV4Verifier on werkzeug requests built from botocore-signed requests (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from qbizfed.local.sessions import IssuedSession, SessionRegistry
from qbizfed.local.sigv4 import (
    DEFAULT_ACCOUNT_ID,
    MotoCredentials,
    MotoLookup,
    SignatureError,
    SigV4Verifier,
    parse_authorization,
    parse_credential_scope,
    request_credential_scope,
)

NOW = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)
HOST = "127.0.0.1:4566"


def signed_request(
    url: str,
    *,
    key: str,
    secret: str,
    token: str | None,
    method: str = "GET",
    body: bytes = b"",
    when: datetime = NOW,
) -> Request:
    """Sign like botocore does, then hand the verifier the request as werkzeug sees it."""
    aws = AWSRequest(method=method, url=url, data=body)
    aws.headers["Host"] = HOST
    if body:
        aws.headers["Content-Type"] = "application/json"
    aws.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    aws.headers["X-Amz-Date"] = aws.context["timestamp"]
    if token:
        aws.headers["X-Amz-Security-Token"] = token
    signer = SigV4Auth(Credentials(key, secret, token), "qbusiness", "eu-west-1")
    canonical = signer.canonical_request(aws)
    signer._inject_signature_to_request(
        aws, signer.signature(signer.string_to_sign(aws, canonical), aws)
    )
    parts = urlsplit(url)
    raw = parts.path + (f"?{parts.query}" if parts.query else "")
    builder = EnvironBuilder(
        method=method,
        path=parts.path,
        query_string=parts.query,
        headers=dict(aws.headers.items()),
        data=body,
    )
    environ = builder.get_environ()
    environ["RAW_URI"] = raw
    return Request(environ)


@pytest.fixture
def registry() -> SessionRegistry:
    return SessionRegistry()


def verifier(
    registry: SessionRegistry, now: datetime = NOW, moto_lookup: MotoLookup | None = None
) -> SigV4Verifier:
    return SigV4Verifier(registry=registry, clock=lambda: now, moto_lookup=moto_lookup)


def _session(
    registry: SessionRegistry, *, federated: bool = True, email: str | None = "a@x.io"
) -> IssuedSession:
    return registry.issue(
        account_id="210987654321",
        role_arn="arn:aws:iam::210987654321:role/web",
        role_id="AROAX",
        session_name="s",
        duration_seconds=900,
        tags={"Email": email} if email else {},
        federated_by="arn:aws:iam::210987654321:oidc-provider/idp" if federated else "",
        now=NOW - timedelta(minutes=1),
    )


def test_federated_session_verified_with_path_labels_still_encoded(
    registry: SessionRegistry,
) -> None:
    s = _session(registry)
    url = f"http://{HOST}/v1/tags/arn%3Aaws%3Aqbusiness%3Aeu-west-1%3A1%3Aapplication%2Fx?b=2&a=1"
    caller = verifier(registry).verify(
        signed_request(url, key=s.access_key_id, secret=s.secret_access_key, token=s.session_token)
    )
    assert caller.session == s
    assert caller.account_id == "210987654321"
    assert caller.region == "eu-west-1"
    assert caller.email == "a@x.io"
    assert caller.is_admin is False


def test_post_body_is_part_of_the_signature(registry: SessionRegistry) -> None:
    s = _session(registry)
    request = signed_request(
        f"http://{HOST}/applications/x/conversations?sync",
        key=s.access_key_id,
        secret=s.secret_access_key,
        token=s.session_token,
        method="POST",
        body=b'{"userMessage": "hi"}',
    )
    assert verifier(registry).verify(request).session == s


def test_non_federated_registry_session_is_an_account_principal(
    registry: SessionRegistry,
) -> None:
    s = _session(registry, federated=False, email=None)
    caller = verifier(registry).verify(
        signed_request(
            f"http://{HOST}/applications",
            key=s.access_key_id,
            secret=s.secret_access_key,
            token=s.session_token,
        )
    )
    assert caller.is_admin is True
    assert caller.email is None


def test_long_term_key_is_the_admin_whatever_the_secret(registry: SessionRegistry) -> None:
    # Documented gap: a long-term key's secret is unknowable to the local stack.
    caller = verifier(registry).verify(
        signed_request(f"http://{HOST}/applications", key="AKIAEXAMPLE", secret="any", token=None)
    )
    assert caller.is_admin is True
    assert caller.session is None
    assert caller.account_id == DEFAULT_ACCOUNT_ID


def test_session_expires_by_the_injected_clock(registry: SessionRegistry) -> None:
    s = _session(registry)
    request = signed_request(
        f"http://{HOST}/applications",
        key=s.access_key_id,
        secret=s.secret_access_key,
        token=s.session_token,
        when=NOW + timedelta(hours=1),
    )
    with pytest.raises(SignatureError) as refused:
        verifier(registry, now=NOW + timedelta(hours=1)).verify(request)
    assert refused.value.code == "ExpiredTokenException"


def test_missing_authorization_refused(registry: SessionRegistry) -> None:
    request = Request(EnvironBuilder(path="/applications").get_environ())
    with pytest.raises(SignatureError) as refused:
        verifier(registry).verify(request)
    assert (refused.value.code, refused.value.status) == (
        "MissingAuthenticationTokenException",
        403,
    )


def test_incomplete_presigned_query_refused(registry: SessionRegistry) -> None:
    request = Request(
        EnvironBuilder(
            path="/applications", query_string="X-Amz-Credential=a/b/c/d/e&X-Amz-Signature=00"
        ).get_environ()
    )
    with pytest.raises(SignatureError) as refused:
        verifier(registry).verify(request)
    assert refused.value.code == "IncompleteSignatureException"


def test_moto_assumed_role_credentials_verified(registry: SessionRegistry) -> None:
    moto = MotoCredentials(
        access_key_id="ASIAMOTO0000000000001",
        secret_access_key="moto-secret",
        session_token="moto-token",
        account_id="123456789012",
        expiration=NOW + timedelta(hours=1),
    )

    def lookup(key: str) -> MotoCredentials | None:
        return moto if key == moto.access_key_id else None

    check = verifier(registry, moto_lookup=lookup)
    good = signed_request(
        f"http://{HOST}/applications",
        key=moto.access_key_id,
        secret="moto-secret",
        token="moto-token",
    )
    assert check.verify(good).is_admin is True
    bad = signed_request(
        f"http://{HOST}/applications", key=moto.access_key_id, secret="guess", token="moto-token"
    )
    with pytest.raises(SignatureError) as refused:
        check.verify(bad)
    assert refused.value.code == "InvalidSignatureException"


def test_parse_authorization_reads_every_part() -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=ASIAX/20261126/us-west-2/qbusiness/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc123"
    )
    parsed = parse_authorization(header)
    assert parsed.access_key_id == "ASIAX"
    assert parsed.region == "us-west-2"
    assert parsed.service == "qbusiness"
    assert parsed.signed_headers == ("host", "x-amz-date")
    assert parsed.signature == "abc123"


def test_refusal_messages_never_echo_the_signature(registry: SessionRegistry) -> None:
    header = (
        "AWS4-HMAC-SHA256 Credential=ASIAX/20261126/us-west-2/qbusiness/aws4_request, "
        "Signature=deadbeefcafe"
    )
    with pytest.raises(SignatureError) as refused:
        parse_authorization(header)
    assert "deadbeefcafe" not in refused.value.message


def presigned_request(url: str, *, key: str, secret: str, token: str, expires: int) -> Request:
    aws = AWSRequest(method="GET", url=url)
    aws.headers["Host"] = HOST
    aws.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4QueryAuth(Credentials(key, secret, token), "qbusiness", "us-east-1", expires)
    signer._modify_request_before_signing(aws)
    canonical = signer.canonical_request(aws)
    signature = signer.signature(signer.string_to_sign(aws, canonical), aws)
    signer._inject_signature_to_request(aws, signature)
    parts = urlsplit(aws.url)
    environ = EnvironBuilder(
        method="GET", path=parts.path, query_string=parts.query, headers=[("Host", HOST)]
    ).get_environ()
    environ["RAW_URI"] = f"{parts.path}?{parts.query}"
    return Request(environ)


@pytest.mark.parametrize(
    ("age", "accepted"),
    [(timedelta(seconds=30), True), (timedelta(seconds=61), False)],
    ids=["within_expiry", "after_expiry"],
)
def test_presigned_request_honours_its_expiry(
    registry: SessionRegistry, age: timedelta, accepted: bool
) -> None:
    s = _session(registry)
    request = presigned_request(
        f"http://{HOST}/applications/x/conversations?maxResults=3",
        key=s.access_key_id,
        secret=s.secret_access_key,
        token=s.session_token,
        expires=60,
    )
    check = verifier(registry, now=NOW + age)
    if accepted:
        assert check.verify(request).session == s
        return
    with pytest.raises(SignatureError) as refused:
        check.verify(request)
    assert refused.value.code == "InvalidSignatureException"
    assert refused.value.message.startswith("Signature expired")


def test_credentials_never_render_their_secrets(registry: SessionRegistry) -> None:
    moto = MotoCredentials("ASIAMOTO", "moto-secret-value", "moto-token-value", "1", NOW)
    caller = verifier(registry).verify(
        signed_request(f"http://{HOST}/applications", key="AKIAEXAMPLE", secret="s", token=None)
    )
    session = _session(registry)
    for text in (repr(moto), str(moto), repr(caller), repr(session)):
        for secret in ("moto-secret-value", "moto-token-value", session.secret_access_key,
                       session.session_token):  # fmt: skip
            assert secret not in text


@pytest.mark.parametrize(("credential", "parts", "well_formed"), [
    ("AKIDEXAMPLE/20261126/us-east-1/sts/aws4_request",
     ("AKIDEXAMPLE", "20261126", "us-east-1", "sts", "aws4_request"), True),
    ("AKIDEXAMPLE/20261126/us-east-1/sts/aws5_request",
     ("AKIDEXAMPLE", "20261126", "us-east-1", "sts", "aws5_request"), False),
    ("/20261126/us-east-1/sts/aws4_request", ("", "20261126", "us-east-1", "sts", "aws4_request"),
     False),
    ("AKIDEXAMPLE/20261126/us-east-1/sts", ("AKIDEXAMPLE", "", "", "", ""), False),
    ("AKIDEXAMPLE/20261126/us-east-1/sts/aws4_request/x", ("AKIDEXAMPLE", "", "", "", ""), False),
    ("", ("", "", "", "", ""), False),
])
def test_the_credential_scope_is_split_once_for_routing_lookup_and_verification(
    credential: str, parts: tuple[str, ...], well_formed: bool
) -> None:
    scope = parse_credential_scope(credential)
    assert (scope.access_key_id, scope.date, scope.region, scope.service,
            scope.terminator) == parts
    assert scope.well_formed is well_formed


def test_the_request_scope_comes_from_the_header_or_the_presigned_query() -> None:
    authorization = ("AWS4-HMAC-SHA256 Credential=ASIAX/20261126/us-east-1/qbusiness/"
                     "aws4_request, SignedHeaders=host, Signature=00")
    header = Request(EnvironBuilder(
        path="/", headers=[("Authorization", authorization)]).get_environ())
    assert request_credential_scope(header).service == "qbusiness"
    query = Request(EnvironBuilder(
        path="/", query_string="X-Amz-Credential=ASIAY%2F20261126%2Fus-east-1%2Fsts%2Faws4_request"
    ).get_environ())
    assert request_credential_scope(query).access_key_id == "ASIAY"
    assert request_credential_scope(Request(EnvironBuilder(path="/").get_environ())) == (
        parse_credential_scope(""))
