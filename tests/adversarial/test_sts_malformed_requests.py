"""Malformed federation requests never crash the local STS: every one gets an AWS-style
query-protocol error (4xx, a code botocore knows), never a 500 or a stack trace.

Drives ``FederationSts.handle`` in process with werkzeug requests, so hypothesis can
throw many inputs at it quickly.
"""

from __future__ import annotations

import base64
import datetime as dt
from unittest.mock import patch
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from qbizfed.local.moto_backend import IamView
from qbizfed.local.sessions import IssuedSession, SessionRegistry
from qbizfed.local.sts.service import FederationSts

ROLE = "arn:aws:iam::123456789012:role/fuzz-target"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/fuzz-provider"
KNOWN_CODES = {
    "InvalidIdentityToken",
    "ValidationError",
    "AccessDenied",
    "ExpiredTokenException",
    "IDPCommunicationError",
    "MalformedPolicyDocument",
    "PackedPolicyTooLarge",
}


def _request(form: dict[str, str]) -> Request:
    builder = EnvironBuilder(
        method="POST",
        data=urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )
    return Request(builder.get_environ())


STS = FederationSts(iam=IamView(), registry=SessionRegistry())


def _assert_aws_error(form: dict[str, str]) -> None:
    response = STS.handle(_request(form))
    assert response is not None
    body = response.get_data(as_text=True)
    assert response.status_code in (400, 403), body
    assert "<ErrorResponse" in body
    code = body.split("<Code>", 1)[1].split("</Code>", 1)[0]
    assert code in KNOWN_CODES, body


text = st.text(max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=text, session_name=text, duration=st.one_of(st.none(), text))
def test_web_identity_never_crashes(token: str, session_name: str, duration: str | None) -> None:
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": session_name,
        "WebIdentityToken": token,
    }
    if duration is not None:
        form["DurationSeconds"] = duration
    _assert_aws_error(form)


jwt_like = st.lists(st.binary(max_size=80), min_size=3, max_size=3).map(
    lambda parts: ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in parts)
)


@settings(max_examples=150, deadline=None)
@given(token=jwt_like)
def test_jwt_shaped_garbage_never_crashes(token: str) -> None:
    _assert_aws_error(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "RoleArn": ROLE,
            "RoleSessionName": "fuzz",
            "WebIdentityToken": token,
        }
    )


xml_like = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(
        lambda inner: (
            '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"{inner}</samlp:Response>"
        ).encode()
    ),
)


@settings(max_examples=150, deadline=None)
@given(document=xml_like)
def test_saml_garbage_never_crashes(document: bytes) -> None:
    _assert_aws_error(
        {
            "Action": "AssumeRoleWithSAML",
            "RoleArn": ROLE,
            "PrincipalArn": PROVIDER,
            "SAMLAssertion": base64.b64encode(document).decode() or "AAAA",
        }
    )


@settings(max_examples=100, deadline=None)
@given(role=text, principal=text, assertion=text)
def test_saml_parameters_never_crash(role: str, principal: str, assertion: str) -> None:
    _assert_aws_error(
        {
            "Action": "AssumeRoleWithSAML",
            "RoleArn": role,
            "PrincipalArn": principal,
            "SAMLAssertion": assertion,
        }
    )


def test_missing_parameters_are_validation_errors() -> None:
    for action in ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
        response = STS.handle(_request({"Action": action}))
        assert response is not None
        assert response.status_code == 400
        assert "<Code>ValidationError</Code>" in response.get_data(as_text=True)
        assert "Value null at 'roleArn' failed to satisfy constraint" in _message(response)


def test_other_actions_go_to_moto() -> None:
    assert STS.handle(_request({"Action": "AssumeRole", "RoleArn": ROLE})) is None
    assert STS.handle(_request({"Action": "GetCallerIdentity"})) is None


def _signed_caller_identity_request(
    access_key: str, secret: str, token: str, *, when: dt.datetime | None = None
) -> Request:
    """A GetCallerIdentity request signed by botocore's SigV4 signer, as an SDK sends it."""
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    aws_request = AWSRequest(
        method="POST",
        url="http://localhost/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    signer = SigV4Auth(Credentials(access_key, secret, token), "sts", "us-east-1")
    if when is None:
        signer.add_auth(aws_request)
    else:
        # botocore stamps requests with its own clock; sign as of ``when`` instead.
        naive_utc = when.astimezone(dt.UTC).replace(tzinfo=None)
        with patch("botocore.auth.get_current_datetime", return_value=naive_utc):
            signer.add_auth(aws_request)
    builder = EnvironBuilder(
        method="POST",
        base_url="http://localhost/",
        data=body,
        headers=Headers(dict(aws_request.headers.items())),
    )
    return Request(builder.get_environ())


def _issue(registry: SessionRegistry) -> IssuedSession:
    return registry.issue(
        account_id="123456789012",
        role_arn=ROLE,
        role_id="AROAFUZZ",
        session_name="s1",
        duration_seconds=900,
        tags={"Email": "ada@example.com"},
    )


def _message(response: Response | None) -> str:
    assert response is not None
    body = response.get_data(as_text=True)
    return body.split("<Message>", 1)[1].split("</Message>", 1)[0] if "<Message>" in body else ""


def _code(response: Response | None) -> str:
    assert response is not None
    body = response.get_data(as_text=True)
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in body else "OK"


@pytest.mark.parametrize(
    ("forgery", "code", "says"),
    [
        ("none", "OK", ""),
        ("wrong_secret", "SignatureDoesNotMatch",
         "The request signature we calculated does not match the signature you provided."),
        ("wrong_token", "InvalidClientTokenId",
         "The security token included in the request is invalid."),
    ],
)  # fmt: skip
def test_caller_identity_signature_is_verified(forgery: str, code: str, says: str) -> None:
    registry = SessionRegistry()
    sts = FederationSts(iam=IamView(), registry=registry)
    session = _issue(registry)
    secret = "x" * 40 if forgery == "wrong_secret" else session.secret_access_key
    token = "forged" if forgery == "wrong_token" else session.session_token
    request = _signed_caller_identity_request(session.access_key_id, secret, token)
    response = sts.handle(request)
    assert _code(response) == code
    assert says in _message(response)


def test_caller_identity_with_an_expired_session_is_refused() -> None:
    registry = SessionRegistry()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    sts = FederationSts(iam=IamView(), registry=registry, clock=lambda: later)
    session = _issue(registry)
    request = _signed_caller_identity_request(
        session.access_key_id, session.secret_access_key, session.session_token, when=later
    )
    response = sts.handle(request)
    assert response is not None
    assert response.status_code == 403
    assert _code(response) == "ExpiredToken"
    assert _message(response) == "The security token included in the request is expired"
