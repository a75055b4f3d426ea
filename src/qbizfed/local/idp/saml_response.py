"""Building the dev IdP's signed SAML 2.0 Responses and its metadata document.

The Assertion is signed first, then the Response around it (both enveloped,
RSA-SHA256, SHA-256 digests, exclusive c14n, signature placed right after ``Issuer``
as the schema wants). Attributes are the ones AWS STS reads for AssumeRoleWithSAML:
``Role`` ("<role arn>,<provider arn>"), ``RoleSessionName`` and ``PrincipalTag:Email``,
plus ``email``, ``name`` and ``groups`` for other service providers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from qbizfed.local.idp.keys import SigningMaterial
from qbizfed.local.idp.saml_request import POST_BINDING, REDIRECT_BINDING, AuthnRequestInfo
from qbizfed.local.idp.users import DemoUser
from qbizfed.local.idp.xml import NS

AWS_SAML_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTRIBUTE = AWS_SAML_ATTRIBUTE + "Role"
ROLE_SESSION_NAME_ATTRIBUTE = AWS_SAML_ATTRIBUTE + "RoleSessionName"
EMAIL_TAG_ATTRIBUTE = AWS_SAML_ATTRIBUTE + "PrincipalTag:Email"
EMAIL_NAMEID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
BASIC_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


@dataclass(frozen=True)
class AssertionLifetimes:
    assertion_seconds: int = 300
    """``NotOnOrAfter`` of the subject confirmation and the conditions."""
    session_seconds: int = 8 * 3600
    """``SessionNotOnOrAfter``: STS caps the session duration with it."""
    clock_skew_seconds: int = 60
    """``NotBefore`` lies this far in the past to tolerate slow clocks."""


def saml_instant(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_saml_id() -> str:
    """An xs:ID value (an NCName: must not start with a digit)."""
    return "_" + uuid.uuid4().hex


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _sub(parent: etree._Element, prefix: str, name: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _q(prefix, name), attrs)


def _signature_placeholder(parent: etree._Element) -> None:
    etree.SubElement(parent, _q("ds", "Signature"), {"Id": "placeholder"}, nsmap={"ds": NS["ds"]})


def _sign(element: etree._Element, keys: SigningMaterial) -> etree._Element:
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed: etree._Element = signer.sign(
        element, key=keys.private_key, cert=[keys.certificate], id_attribute="ID"
    )
    return signed


def _attribute(
    statement: etree._Element, name: str, values: tuple[str, ...], name_format: str
) -> None:
    attribute = _sub(statement, "saml", "Attribute", Name=name, NameFormat=name_format)
    for value in values:
        element = _sub(attribute, "saml", "AttributeValue")
        element.set(_q("xsi", "type"), "xs:string")
        element.text = value


def build_assertion(
    *,
    issuer: str,
    user: DemoUser,
    request: AuthnRequestInfo,
    session_index: str,
    auth_instant: dt.datetime,
    now: dt.datetime,
    lifetimes: AssertionLifetimes,
) -> etree._Element:
    """The unsigned Assertion for ``user`` addressed to the request's SP and ACS URL."""
    expires = saml_instant(now + dt.timedelta(seconds=lifetimes.assertion_seconds))
    assertion = etree.Element(
        _q("saml", "Assertion"),
        {"ID": new_saml_id(), "Version": "2.0", "IssueInstant": saml_instant(now)},
        nsmap={"saml": NS["saml"], "xs": NS["xs"], "xsi": NS["xsi"]},
    )
    _sub(assertion, "saml", "Issuer").text = issuer
    _signature_placeholder(assertion)
    subject = _sub(assertion, "saml", "Subject")
    name_id = _sub(subject, "saml", "NameID", Format=EMAIL_NAMEID)
    name_id.text = user.email
    confirmation = _sub(subject, "saml", "SubjectConfirmation", Method=BEARER)
    data = _sub(
        confirmation, "saml", "SubjectConfirmationData", NotOnOrAfter=expires,
        Recipient=request.acs_url,
    )  # fmt: skip
    if request.request_id is not None:
        data.set("InResponseTo", request.request_id)
    conditions = _sub(
        assertion,
        "saml",
        "Conditions",
        NotBefore=saml_instant(now - dt.timedelta(seconds=lifetimes.clock_skew_seconds)),
        NotOnOrAfter=expires,
    )
    restriction = _sub(conditions, "saml", "AudienceRestriction")
    _sub(restriction, "saml", "Audience").text = request.sp.audience_or_entity_id
    authn = _sub(
        assertion,
        "saml",
        "AuthnStatement",
        AuthnInstant=saml_instant(auth_instant),
        SessionIndex=session_index,
        SessionNotOnOrAfter=saml_instant(now + dt.timedelta(seconds=lifetimes.session_seconds)),
    )
    context = _sub(authn, "saml", "AuthnContext")
    _sub(context, "saml", "AuthnContextClassRef").text = PASSWORD_PROTECTED
    statement = _sub(assertion, "saml", "AttributeStatement")
    if request.sp.role_attribute:
        _attribute(statement, ROLE_ATTRIBUTE, (request.sp.role_attribute,), URI_FORMAT)
    _attribute(statement, ROLE_SESSION_NAME_ATTRIBUTE, (user.email,), URI_FORMAT)
    _attribute(statement, EMAIL_TAG_ATTRIBUTE, (user.email,), URI_FORMAT)
    _attribute(statement, "email", (user.email,), BASIC_FORMAT)
    _attribute(statement, "name", (user.name,), BASIC_FORMAT)
    if user.groups:
        _attribute(statement, "groups", user.groups, BASIC_FORMAT)
    return assertion


def _response_root(issuer: str, request: AuthnRequestInfo, now: dt.datetime) -> etree._Element:
    response = etree.Element(
        _q("samlp", "Response"),
        {
            "ID": new_saml_id(),
            "Version": "2.0",
            "IssueInstant": saml_instant(now),
            "Destination": request.acs_url,
        },
        nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
    )
    if request.request_id is not None:
        response.set("InResponseTo", request.request_id)
    _sub(response, "saml", "Issuer").text = issuer
    _signature_placeholder(response)
    return response


def _serialise(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, xml_declaration=True, encoding="UTF-8"))


def build_signed_error_response(
    *,
    issuer: str,
    keys: SigningMaterial,
    request: AuthnRequestInfo,
    now: dt.datetime,
    second_level_status: str = NO_PASSIVE,
    message: str = "",
) -> bytes:
    """A signed Response without an Assertion: ``Responder`` / ``second_level_status``."""
    response = _response_root(issuer, request, now)
    status = _sub(response, "samlp", "Status")
    top = _sub(status, "samlp", "StatusCode", Value=RESPONDER)
    _sub(top, "samlp", "StatusCode", Value=second_level_status)
    if message:
        _sub(status, "samlp", "StatusMessage").text = message
    return _serialise(_sign(response, keys))


def build_signed_response(
    *,
    issuer: str,
    keys: SigningMaterial,
    user: DemoUser,
    request: AuthnRequestInfo,
    session_index: str,
    auth_instant: dt.datetime,
    now: dt.datetime,
    lifetimes: AssertionLifetimes | None = None,
) -> bytes:
    """A Response with a signed Assertion, itself signed; serialised UTF-8 XML."""
    lifetimes = lifetimes or AssertionLifetimes()
    assertion = _sign(
        build_assertion(
            issuer=issuer,
            user=user,
            request=request,
            session_index=session_index,
            auth_instant=auth_instant,
            now=now,
            lifetimes=lifetimes,
        ),
        keys,
    )
    response = _response_root(issuer, request, now)
    status = _sub(response, "samlp", "Status")
    _sub(status, "samlp", "StatusCode", Value=SUCCESS)
    response.append(assertion)
    return _serialise(_sign(response, keys))


def build_metadata(*, entity_id: str, sso_url: str, keys: SigningMaterial) -> bytes:
    """IdP metadata usable as-is for IAM CreateSAMLProvider (≥ 1000 characters)."""
    root = etree.Element(
        _q("md", "EntityDescriptor"),
        {"entityID": entity_id},
        nsmap={"md": NS["md"], "ds": NS["ds"]},
    )
    idp = _sub(
        root,
        "md",
        "IDPSSODescriptor",
        WantAuthnRequestsSigned="false",
        protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
    )
    key_descriptor = _sub(idp, "md", "KeyDescriptor", use="signing")
    key_info = _sub(key_descriptor, "ds", "KeyInfo")
    x509_data = _sub(key_info, "ds", "X509Data")
    _sub(x509_data, "ds", "X509Certificate").text = keys.certificate_base64
    _sub(idp, "md", "NameIDFormat").text = EMAIL_NAMEID
    for binding in (REDIRECT_BINDING, POST_BINDING):
        _sub(idp, "md", "SingleSignOnService", Binding=binding, Location=sso_url)
    organization = _sub(root, "md", "Organization")
    for tag, text in (
        ("OrganizationName", "qbizfed dev IdP"),
        ("OrganizationDisplayName", "qbizfed local development identity provider"),
        ("OrganizationURL", entity_id.rsplit("/saml/", 1)[0] + "/"),
    ):
        element = _sub(organization, "md", tag)
        element.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        element.text = text
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
