"""SAML Response validation in process (no server): what STS reads from a verified
assertion, and the checks that do not need a trust policy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pytest

from qbizfed.local.moto_backend import SamlProvider
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.saml_response import (
    SamlIdentity,
    name_qualifier,
    validate_saml_response,
)
from tests.support.saml_assertions import (
    AssertionSpec,
    SamlIdp,
    build_response,
    encode,
    make_idp,
)

ROLE = "arn:aws:iam::123456789012:role/saml-unit"
PROVIDER_ARN = "arn:aws:iam::123456789012:saml-provider/unit-idp"


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return make_idp()


@pytest.fixture(scope="module")
def provider(idp: SamlIdp) -> SamlProvider:
    return SamlProvider(arn=PROVIDER_ARN, name="unit-idp", metadata_document=idp.metadata_xml())


def _spec(**knobs: Any) -> AssertionSpec:
    return AssertionSpec(role_arn=ROLE, provider_arn=PROVIDER_ARN, **knobs)


def _validate(idp: SamlIdp, provider: SamlProvider, spec: AssertionSpec, **kw: Any) -> SamlIdentity:
    now = dt.datetime.now(dt.UTC)
    return validate_saml_response(
        encode(build_response(idp, spec, **kw)),
        provider=provider,
        role_arn=ROLE,
        now=now,
    )


def test_identity_fields(idp: SamlIdp, provider: SamlProvider) -> None:
    identity = _validate(
        idp,
        provider,
        _spec(
            name_id="transient-123",
            name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            tags={"Email": "ada@example.com", "Dept": "eng"},
            transitive_tag_keys=["Dept"],
            extra_attributes={"https://aws.amazon.com/SAML/Attributes/SourceIdentity": ["ada"]},
        ),
    )
    assert identity.subject == "transient-123"
    assert identity.subject_type == "transient"
    assert identity.issuer == idp.entity_id
    assert dict(identity.tags.tags) == {"Email": "ada@example.com", "Dept": "eng"}
    assert identity.tags.transitive_keys == ("Dept",)
    assert identity.source_identity == "ada"
    assert identity.duration_cap_seconds is None


def test_other_name_id_formats_are_returned_in_full(idp: SamlIdp, provider: SamlProvider) -> None:
    email_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    identity = _validate(idp, provider, _spec(name_id_format=email_format))
    assert identity.subject_type == email_format


def test_name_qualifier_is_awss_definition() -> None:
    # IAM user guide: BASE64(SHA1("https://example.com/saml" + "123456789012" + "/MySAMLIdP"))
    expected = base64.b64encode(
        hashlib.sha1(
            b"https://example.com/saml123456789012/MySAMLIdP", usedforsecurity=False
        ).digest()
    ).decode()
    assert name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP") == expected


def test_rotated_idp_certificate_second_in_metadata(idp: SamlIdp) -> None:
    new_idp = make_idp(idp.entity_id)
    old_cert = f"<ds:X509Certificate>{idp.cert_base64}</ds:X509Certificate>"
    both_certs = idp.metadata_xml().replace(
        "</md:KeyDescriptor>",
        '</md:KeyDescriptor><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
        f"<ds:X509Certificate>{new_idp.cert_base64}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
        1,
    )
    assert old_cert in both_certs
    provider = SamlProvider(arn=PROVIDER_ARN, name="unit-idp", metadata_document=both_certs)
    assert _validate(new_idp, provider, _spec()).issuer == idp.entity_id
    assert _validate(idp, provider, _spec()).issuer == idp.entity_id


def test_encryption_only_key_is_not_a_signing_key(idp: SamlIdp) -> None:
    encryption_only = idp.metadata_xml().replace('use="signing"', 'use="encryption"')
    provider = SamlProvider(arn=PROVIDER_ARN, name="unit-idp", metadata_document=encryption_only)
    with pytest.raises(StsRefusalError) as info:
        _validate(idp, provider, _spec())
    assert info.value.code == "InvalidIdentityToken"


@pytest.mark.parametrize(
    ("duration", "session_end", "expected"),
    [("1000", None, 1000), (None, 1500, 1500), ("2000", 1500, 1500), ("1000", 1500, 1000)],
    ids=["session_duration", "session_not_on_or_after", "end_is_shorter", "duration_shorter"],
)
def test_duration_cap(
    idp: SamlIdp,
    provider: SamlProvider,
    duration: str | None,
    session_end: int | None,
    expected: int,
) -> None:
    identity = _validate(
        idp,
        provider,
        _spec(session_duration=duration, session_not_on_or_after_offset=session_end),
    )
    cap = identity.duration_cap_seconds
    assert cap is not None
    assert expected - 2 <= cap <= expected


@pytest.mark.parametrize("duration", ["899", "43201", "abc", "-5"])
def test_session_duration_out_of_range(idp: SamlIdp, provider: SamlProvider, duration: str) -> None:
    with pytest.raises(StsRefusalError) as info:
        _validate(idp, provider, _spec(session_duration=duration))
    assert info.value.code == "InvalidIdentityToken"


def test_small_clock_skew_is_tolerated(idp: SamlIdp, provider: SamlProvider) -> None:
    identity = _validate(idp, provider, _spec(not_before_offset=60))
    assert identity.subject == "ada@example.com"


def test_unusable_metadata_is_refused(idp: SamlIdp) -> None:
    provider = SamlProvider(arn=PROVIDER_ARN, name="x", metadata_document="<not-metadata/>")
    with pytest.raises(StsRefusalError) as info:
        _validate(idp, provider, _spec())
    assert info.value.code == "InvalidIdentityToken"
