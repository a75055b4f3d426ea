"""Decode an ID token or a SAML response *without verifying it*, for diagnosis only.

Nothing returned here is trusted or used to grant anything: doctor reads the claims
and attributes to explain why STS or Q Business would refuse them. Verification is
the job of :mod:`qbizfed.identity` (relying party) and of STS. Tokens and assertions
are never logged or printed whole; the report shows single claims.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from qbizfed.identity.saml_metadata import safe_parser

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MAX_INPUT = 1024 * 1024


class UndecodableError(ValueError):
    """The input is not a JWT / SAML response (the message says why)."""


@dataclass(frozen=True)
class UnverifiedJwt:
    """Header and claims of a JWT, read without checking its signature."""

    header: dict[str, Any]
    claims: dict[str, Any]


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt_unverified(token: str) -> UnverifiedJwt:
    token = token.strip()
    if len(token) > MAX_INPUT:
        raise UndecodableError("it is larger than 1 MiB")
    parts = token.split(".")
    if len(parts) != 3:
        raise UndecodableError(f"a JWT has 3 dot-separated parts, this has {len(parts)}"
                               + (" (an encrypted JWE?)" if len(parts) == 5 else ""))
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error) as exc:
        raise UndecodableError("its header or payload is not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise UndecodableError("its header or payload is not a JSON object")
    return UnverifiedJwt(header=header, claims=claims)


@dataclass(frozen=True)
class UnverifiedAssertion:
    """What STS reads from a SAML response, read without checking its signature."""

    issuer: str | None
    destination: str | None
    audiences: tuple[str, ...]
    recipients: tuple[str, ...]
    subject_confirmations: int
    confirmation_not_on_or_after: tuple[dt.datetime | None, ...]
    not_before: dt.datetime | None
    not_on_or_after: dt.datetime | None
    attributes: dict[str, list[str]] = field(repr=False)
    signed: bool = False
    encrypted: bool = False


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _xml_bytes(raw: str | bytes) -> bytes:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    data = data.strip()
    if len(data) > MAX_INPUT:
        raise UndecodableError("it is larger than 1 MiB")
    if data.startswith(b"<"):
        return data
    try:
        decoded = base64.b64decode(b"".join(data.split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise UndecodableError("it is neither XML nor base64 of XML") from exc
    if not decoded.lstrip().startswith(b"<"):
        raise UndecodableError("its base64 does not decode to XML")
    return decoded


def decode_saml_response_unverified(raw: str | bytes) -> UnverifiedAssertion:
    """``raw``: the SAMLResponse as posted (base64) or as XML."""
    data = _xml_bytes(raw)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UndecodableError("it contains a DTD or entity declaration (refused)")
    try:
        root = etree.fromstring(data, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise UndecodableError(f"it is not well-formed XML ({exc})") from exc
    ns = {"samlp": SAMLP, "saml": SAML}
    if root.tag == f"{{{SAML}}}Assertion":
        assertion = root
    else:
        if root.tag != f"{{{SAMLP}}}Response":
            raise UndecodableError(f"its root is {root.tag}, not a samlp:Response")
        assertion = root.find("saml:Assertion", ns)
    if assertion is None:
        encrypted = root.find("saml:EncryptedAssertion", ns) is not None
        if encrypted:
            return UnverifiedAssertion(None, root.get("Destination"), (), (), 0, (), None, None,
                                       {}, encrypted=True)
        raise UndecodableError("the response contains no Assertion")
    confirmations = assertion.findall("saml:Subject/saml:SubjectConfirmation", ns)
    datas = [c.find("saml:SubjectConfirmationData", ns) for c in confirmations]
    conditions = assertion.find("saml:Conditions", ns)
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", ns):
        name = str(attribute.get("Name", ""))
        attributes.setdefault(name, []).extend(
            "".join(v.itertext()).strip() for v in attribute.findall("saml:AttributeValue", ns))
    issuer = assertion.find("saml:Issuer", ns)
    ds = "{http://www.w3.org/2000/09/xmldsig#}Signature"
    return UnverifiedAssertion(
        issuer=(issuer.text or "").strip() if issuer is not None else None,
        destination=root.get("Destination"),
        audiences=tuple((a.text or "").strip() for a in assertion.iterfind(
            "saml:Conditions/saml:AudienceRestriction/saml:Audience", ns)),
        recipients=tuple(str(d.get("Recipient")) for d in datas
                         if d is not None and d.get("Recipient")),
        subject_confirmations=len(confirmations),
        confirmation_not_on_or_after=tuple(
            _time(d.get("NotOnOrAfter")) if d is not None else None for d in datas),
        not_before=_time(conditions.get("NotBefore")) if conditions is not None else None,
        not_on_or_after=(_time(conditions.get("NotOnOrAfter"))
                         if conditions is not None else None),
        attributes=attributes,
        signed=assertion.find(ds) is not None or root.find(ds) is not None,
    )
