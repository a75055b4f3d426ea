"""Decoding tokens and SAML responses for diagnosis: hostile inputs are refused as data."""

from __future__ import annotations

import base64
import json

import pytest

from qbizfed.doctor.decode import (
    UndecodableError,
    decode_jwt_unverified,
    decode_saml_response_unverified,
)
from tests.support.saml_assertions import AssertionSpec, build_response, encode, make_idp


def _b64(data: object) -> str:
    raw = json.dumps(data).encode() if not isinstance(data, bytes) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


HOSTILE_JWTS = {
    "two_parts": "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0",
    "jwe_five_parts": "a.b.c.d.e",
    "header_not_base64": "%%%.eyJpc3MiOiJ4In0.sig",
    "payload_is_an_array": f"{_b64({'alg': 'RS256'})}.{_b64([1, 2])}.sig",
    "payload_not_json": f"{_b64({'alg': 'RS256'})}.{_b64(b'not json')}.sig",
    "oversized": "a" * (1024 * 1024 + 1) + ".b.c",
}


@pytest.mark.parametrize("token", HOSTILE_JWTS.values(), ids=HOSTILE_JWTS.keys())
def test_hostile_jwts_are_refused(token: str) -> None:
    with pytest.raises(UndecodableError):
        decode_jwt_unverified(token)


def test_alg_none_token_is_decoded_but_never_trusted() -> None:
    """Decoding is for diagnosis: an unsigned token decodes, and nothing marks it valid."""
    token = f"{_b64({'alg': 'none'})}.{_b64({'iss': 'https://idp', 'aud': 'c'})}."
    decoded = decode_jwt_unverified(token)
    assert decoded.header == {"alg": "none"}
    assert decoded.claims["iss"] == "https://idp"


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol2;</samlp:Response>'
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>'
)
HOSTILE_SAML = {
    "billion_laughs": BILLION_LAUGHS,
    "xxe_local_file": XXE,
    "xxe_base64": base64.b64encode(XXE.encode()).decode(),
    "not_xml": "hello",
    "base64_of_text": base64.b64encode(b"hello world").decode(),
    "truncated": '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">',
    "wrong_root": "<html><body/></html>",
    "response_without_assertion":
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>',
}


@pytest.mark.parametrize("raw", HOSTILE_SAML.values(), ids=HOSTILE_SAML.keys())
def test_hostile_saml_responses_are_refused(raw: str) -> None:
    with pytest.raises(UndecodableError):
        decode_saml_response_unverified(raw)


def test_encrypted_assertion_is_reported_as_unreadable() -> None:
    raw = ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="https://acs">'
           "<saml:EncryptedAssertion/></samlp:Response>")
    decoded = decode_saml_response_unverified(raw)
    assert decoded.encrypted
    assert decoded.attributes == {}


def test_signed_response_is_read_with_its_attributes_and_times() -> None:
    role = "arn:aws:iam::123456789012:role/web"
    provider = "arn:aws:iam::123456789012:saml-provider/idp"
    spec = AssertionSpec(role_arn=role, provider_arn=provider, recipient="https://acs/saml")
    decoded = decode_saml_response_unverified(encode(build_response(make_idp(), spec)))
    assert decoded.signed
    assert decoded.recipients == ("https://acs/saml",)
    assert decoded.subject_confirmations == 1
    assert decoded.attributes["https://aws.amazon.com/SAML/Attributes/Role"] == [
        f"{role},{provider}"]
    assert decoded.not_on_or_after is not None
