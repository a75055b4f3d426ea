"""A SAML 2.0 Response for AssumeRoleWithSAML, validated the way AWS STS validates it.

``validate_saml_response`` parses and validates in one step. Only the element the
verified XML signature actually references is read (signxml re-parses the signed
bytes), and the document must hold exactly one ``Assertion``: together these defeat
signature-wrapping attacks, where a validly signed element is moved aside and an
unsigned one put where a naive reader looks. Only SHA-256-family signatures and
digests are accepted. The signing certificate comes from the IAM SAML provider's
metadata, never from the response's own ``KeyInfo``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from qbizfed.local.moto_backend import SamlProvider
from qbizfed.local.sts.refusal import expired_token, invalid_token, validation_error
from qbizfed.local.sts.saml_metadata import IdpMetadata, MetadataError, parse_idp_metadata
from qbizfed.local.sts.saml_xml import NS, SAML, SAMLP, UnsafeXmlError, parse_untrusted
from qbizfed.local.sts.session_tags import SessionTags, build_session_tags

ATTRIBUTE_PREFIX = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTRIBUTE = ATTRIBUTE_PREFIX + "Role"
SESSION_NAME_ATTRIBUTE = ATTRIBUTE_PREFIX + "RoleSessionName"
SESSION_DURATION_ATTRIBUTE = ATTRIBUTE_PREFIX + "SessionDuration"
PRINCIPAL_TAG_PREFIX = ATTRIBUTE_PREFIX + "PrincipalTag:"
TRANSITIVE_TAGS_ATTRIBUTE = ATTRIBUTE_PREFIX + "TransitiveTagKeys"
SOURCE_IDENTITY_ATTRIBUTE = ATTRIBUTE_PREFIX + "SourceIdentity"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
UNSPECIFIED_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
SHORT_FORMATS = {
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient": "transient",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent": "persistent",
}
MIN_ASSERTION_CHARS = 4
MAX_ASSERTION_CHARS = 100000  # botocore's STS model: SAMLAssertionType
CLOCK_SKEW = timedelta(seconds=120)
SESSION_NAME = re.compile(r"[a-zA-Z_0-9+=,.@-]{2,64}")
SIGNATURE_INVALID = "Response signature invalid"

_EXPECTED = SignatureConfiguration(
    signature_methods=frozenset(
        {
            SignatureMethod.RSA_SHA256,
            SignatureMethod.RSA_SHA384,
            SignatureMethod.RSA_SHA512,
            SignatureMethod.ECDSA_SHA256,
            SignatureMethod.ECDSA_SHA384,
            SignatureMethod.ECDSA_SHA512,
        }
    ),
    digest_algorithms=frozenset(
        {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
    ),
    expect_references=1,
)


@dataclass(frozen=True)
class SamlIdentity:
    """The facts of a validated assertion that STS acts on and returns."""

    issuer: str
    subject: str
    subject_type: str
    name_qualifier: str
    audience: str
    """The ``Recipient`` of the SubjectConfirmationData (``SAML:aud``)."""
    session_name: str
    tags: SessionTags
    duration_cap_seconds: int | None
    """The shortest of ``SessionDuration`` and ``SessionNotOnOrAfter``, if either is given."""
    source_identity: str | None


def _decode(assertion: str) -> bytes:
    if not MIN_ASSERTION_CHARS <= len(assertion) <= MAX_ASSERTION_CHARS:
        raise validation_error(
            "1 validation error detected: Value at 'sAMLAssertion' failed to satisfy constraint: "
            f"Member must have length between {MIN_ASSERTION_CHARS} and {MAX_ASSERTION_CHARS}"
        )
    try:
        return base64.b64decode("".join(assertion.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_token("Invalid base64 SAMLResponse") from exc


def _time(value: str | None, what: str) -> datetime:
    if not value:
        raise invalid_token(f"Invalid SAML response: {what} is missing.")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise invalid_token(f"Invalid SAML response: {what} is not an xs:dateTime.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _verify_with(data: bytes, certificate: str, config: SignatureConfiguration) -> Any | None:
    """The signed element if ``certificate`` verifies the signature under ``config``."""
    try:
        result = XMLVerifier().verify(
            data, x509_cert=certificate, id_attribute="ID", expect_config=config
        )
    except (InvalidSignature, InvalidInput, SignXMLException, ValueError, etree.LxmlError):
        return None  # e.g. a corrupt ds:X509Certificate: refused below, never a 500
    if isinstance(result, list):  # expect_references=1 makes this unreachable
        return None
    return result.signed_xml


def _outside_validity(data: bytes, certificate: str, config: SignatureConfiguration) -> str | None:
    """Why a certificate that *does* verify the signature is refused: its validity period.

    signxml refuses an expired (or not yet valid) certificate before it looks at the
    signature; verifying again at a moment inside the validity period tells an expired
    certificate apart from a signature made with another key, so that only the former
    is reported as "certificate expired".
    """
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode("ascii"))
    except ValueError:
        return None
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        moment, reason = cert.not_valid_after_utc, (
            "the IAM SAML provider's signing certificate expired at "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    elif now < cert.not_valid_before_utc:
        moment, reason = cert.not_valid_before_utc, (
            "the IAM SAML provider's signing certificate is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    else:
        return None
    inside = replace(config, verification_time=moment)
    return reason if _verify_with(data, certificate, inside) is not None else None


def _verify(data: bytes, location: str, metadata: IdpMetadata) -> Any:
    """The element the signature at ``location`` covers, re-parsed from the signed bytes."""
    config = SignatureConfiguration(
        signature_methods=_EXPECTED.signature_methods,
        digest_algorithms=_EXPECTED.digest_algorithms,
        expect_references=1,
        location=location,
    )
    for certificate in metadata.signing_certificates:
        signed = _verify_with(data, certificate, config)
        if signed is not None:
            return signed
    for certificate in metadata.signing_certificates:
        reason = _outside_validity(data, certificate, config)
        if reason is not None:
            raise invalid_token(
                f"Invalid SAML response: {reason}; update the provider's metadata with the "
                "IdP's current certificate (iam update-saml-provider)."
            )
    raise invalid_token(SIGNATURE_INVALID)


def _trusted_assertion(data: bytes, root: Any, metadata: IdpMetadata) -> Any:
    if root.tag != f"{{{SAMLP}}}Response":
        raise invalid_token("Invalid SAML response: the document is not a samlp:Response.")
    if root.find(".//saml:EncryptedAssertion", NS) is not None:
        raise invalid_token("Invalid SAML response: encrypted assertions are not supported.")
    assertions = list(root.iter(f"{{{SAML}}}Assertion"))
    if len(assertions) != 1 or assertions[0].getparent() is not root:
        raise invalid_token("Invalid SAML response: it must contain exactly one Assertion.")
    assertion = assertions[0]
    response_signed = root.find("ds:Signature", NS) is not None
    assertion_signed = assertion.find("ds:Signature", NS) is not None
    if not (response_signed or assertion_signed):
        raise invalid_token(SIGNATURE_INVALID)
    trusted = None
    if response_signed:
        signed = _verify(data, "./", metadata)
        if signed.tag != root.tag or signed.get("ID") != root.get("ID"):
            raise invalid_token(SIGNATURE_INVALID)
        inner = list(signed.iter(f"{{{SAML}}}Assertion"))
        if len(inner) != 1:
            raise invalid_token(SIGNATURE_INVALID)
        trusted = inner[0]
    if assertion_signed:
        signed = _verify(data, f"./{{{SAML}}}Assertion/", metadata)
        if signed.tag != assertion.tag or signed.get("ID") != assertion.get("ID"):
            raise invalid_token(SIGNATURE_INVALID)
        trusted = signed
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != SUCCESS:
        raise invalid_token("Invalid SAML response: its status is not Success.")
    return trusted


def _attributes(assertion: Any) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.findall("saml:AttributeStatement/saml:Attribute", NS):
        name = attribute.get("Name")
        if not name:
            continue
        values = attribute.findall("saml:AttributeValue", NS)
        attributes.setdefault(name, []).extend((v.text or "").strip() for v in values)
    return attributes


def _check_role_pair(attributes: Mapping[str, list[str]], role_arn: str, provider_arn: str) -> None:
    for value in attributes.get(ROLE_ATTRIBUTE, []):
        parts = [part.strip() for part in value.split(",")]
        if parts == [role_arn, provider_arn]:
            return
    # Only "<role-arn>,<provider-arn>" in that order counts (docs/aws-facts.md, "Identity
    # federation"); the exact AWS error for a missing pair is unconfirmed, so refuse as an
    # invalid token.
    raise invalid_token(
        "The SAML assertion's Role attribute does not contain "
        f"'{role_arn},{provider_arn}' for this request."
    )


def _subject(assertion: Any, now: datetime) -> tuple[str, str, str]:
    """NameID, its format, and the Recipient of the one bearer SubjectConfirmation."""
    subject = assertion.find("saml:Subject", NS)
    name_id = subject.find("saml:NameID", NS) if subject is not None else None
    if name_id is None or not (name_id.text or "").strip():
        raise invalid_token("Invalid SAML response: the assertion has no Subject NameID.")
    confirmations = subject.findall("saml:SubjectConfirmation", NS)
    if len(confirmations) != 1:
        raise invalid_token(
            "Invalid SAML response: the Subject must have exactly one SubjectConfirmation."
        )
    confirmation = confirmations[0]
    data = confirmation.find("saml:SubjectConfirmationData", NS)
    if confirmation.get("Method") != BEARER or data is None:
        raise invalid_token(
            "Invalid SAML response: the SubjectConfirmation must be a bearer confirmation "
            "with SubjectConfirmationData."
        )
    recipient = data.get("Recipient")
    not_on_or_after = data.get("NotOnOrAfter")
    if not recipient or not not_on_or_after:
        raise invalid_token(
            "Invalid SAML response: SubjectConfirmationData needs both NotOnOrAfter and Recipient."
        )
    if now >= _time(not_on_or_after, "SubjectConfirmationData NotOnOrAfter") + CLOCK_SKEW:
        raise expired_token("Invalid SAML response: the assertion has expired (NotOnOrAfter).")
    return name_id.text.strip(), name_id.get("Format") or UNSPECIFIED_FORMAT, recipient


def _check_conditions(assertion: Any, now: datetime) -> None:
    conditions = assertion.find("saml:Conditions", NS)
    if conditions is None:
        return
    not_before = conditions.get("NotBefore")
    if not_before and now + CLOCK_SKEW < _time(not_before, "Conditions NotBefore"):
        raise invalid_token("Invalid SAML response: the assertion is not yet valid (NotBefore).")
    not_on_or_after = conditions.get("NotOnOrAfter")
    if not_on_or_after and now >= _time(not_on_or_after, "Conditions NotOnOrAfter") + CLOCK_SKEW:
        raise expired_token("Invalid SAML response: the assertion has expired (NotOnOrAfter).")


def _session_name(attributes: Mapping[str, list[str]]) -> str:
    values = attributes.get(SESSION_NAME_ATTRIBUTE, [])
    if len(values) != 1:
        raise invalid_token("RoleSessionName is required in AuthnResponse (exactly one value).")
    if not SESSION_NAME.fullmatch(values[0]):
        raise invalid_token("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
    return values[0]


def _duration_cap(assertion: Any, attributes: Mapping[str, list[str]], now: datetime) -> int | None:
    caps: list[int] = []
    durations = attributes.get(SESSION_DURATION_ATTRIBUTE, [])
    if durations:
        if len(durations) != 1 or not re.fullmatch(r"\d{1,6}", durations[0]):
            raise invalid_token("SessionDuration in AuthnResponse must be a number of seconds.")
        seconds = int(durations[0])
        if not 900 <= seconds <= 43200:
            raise invalid_token("SessionDuration in AuthnResponse must be between 900 and 43200.")
        caps.append(seconds)
    for statement in assertion.findall("saml:AuthnStatement", NS):
        session_end = statement.get("SessionNotOnOrAfter")
        if session_end:
            remaining = int((_time(session_end, "SessionNotOnOrAfter") - now).total_seconds())
            if remaining <= 0:
                raise expired_token("Invalid SAML response: SessionNotOnOrAfter has passed.")
            caps.append(remaining)
    return min(caps) if caps else None


def _tags(attributes: Mapping[str, list[str]]) -> SessionTags:
    pairs: list[tuple[str, str]] = []
    for name, values in attributes.items():
        if not name.startswith(PRINCIPAL_TAG_PREFIX):
            continue
        if len(values) != 1:
            raise invalid_token(f"Session tag {name} must have exactly one value.")
        pairs.append((name[len(PRINCIPAL_TAG_PREFIX) :], values[0]))
    return build_session_tags(pairs, attributes.get(TRANSITIVE_TAGS_ATTRIBUTE, []))


def _source_identity(attributes: Mapping[str, list[str]]) -> str | None:
    values = attributes.get(SOURCE_IDENTITY_ATTRIBUTE, [])
    if not values:
        return None
    if len(values) != 1 or not re.fullmatch(r"[\w+=,.@-]{2,64}", values[0], re.ASCII):
        raise invalid_token("SourceIdentity in AuthnResponse must match [\\w+=,.@-]{2,64}")
    if values[0].lower().startswith("aws:"):
        raise invalid_token("SourceIdentity in AuthnResponse cannot begin with 'aws:'.")
    return values[0]


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """AWS's NameQualifier: Base64(SHA1(issuer + account id + "/" + provider name))."""
    digest = hashlib.sha1(  # noqa: S324 - an identifier AWS defines with SHA-1, not a signature
        f"{issuer}{account_id}/{provider_name}".encode()
    ).digest()
    return base64.b64encode(digest).decode()


def validate_saml_response(
    assertion_b64: str,
    *,
    provider: SamlProvider,
    role_arn: str,
    now: datetime,
) -> SamlIdentity:
    """Decode, verify and read ``assertion_b64``; raise ``StsRefusalError`` if anything is off."""
    data = _decode(assertion_b64)
    try:
        root = parse_untrusted(data)
    except UnsafeXmlError as exc:
        raise invalid_token(
            "Invalid SAML response: it is not a safe, well-formed XML document."
        ) from exc
    try:
        metadata = parse_idp_metadata(provider.metadata_document)
    except MetadataError as exc:
        raise invalid_token(f"The SAML provider {provider.arn} has unusable metadata.") from exc
    assertion = _trusted_assertion(data, root, metadata)
    issuer_element = assertion.find("saml:Issuer", NS)
    issuer = (issuer_element.text or "").strip() if issuer_element is not None else ""
    if issuer != metadata.entity_id:
        raise invalid_token(
            "Issuer of the SAML assertion does not match the entity ID in the SAML provider's "
            "metadata."
        )
    subject, name_format, recipient = _subject(assertion, now)
    _check_conditions(assertion, now)
    attributes = _attributes(assertion)
    _check_role_pair(attributes, role_arn, provider.arn)
    session_name = _session_name(attributes)
    account_id = provider.arn.split(":")[4]
    return SamlIdentity(
        issuer=issuer,
        subject=subject,
        subject_type=SHORT_FORMATS.get(name_format, name_format),
        name_qualifier=name_qualifier(issuer, account_id, provider.name),
        audience=recipient,
        session_name=session_name,
        tags=_tags(attributes),
        duration_cap_seconds=_duration_cap(assertion, attributes, now),
        source_identity=_source_identity(attributes),
    )
