"""A test SAML 2.0 identity provider: keys, IAM-ready metadata, signed Responses.

``make_idp()`` creates a self-signed RSA certificate and key; ``idp.metadata_xml()``
is an ``EntityDescriptor`` (well over IAM's 1000-character minimum) for
``CreateSAMLProvider``. ``build_response(idp, AssertionSpec(...))`` produces a
``samlp:Response`` whose Assertion (or the Response, or both) is signed with signxml
(RSA-SHA256, SHA-256 digests, exclusive c14n, Signature placed after Issuer as the
schema wants). Every field AWS reads is a knob on ``AssertionSpec``, so hostile
tests change one thing at a time. ``encode()`` gives the base64 STS expects.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import methods
from signxml.signer import XMLSigner

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
ATTR = "https://aws.amazon.com/SAML/Attributes/"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
AWS_SIGNIN = "https://signin.aws.amazon.com/saml"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"

SignWhat = Literal["assertion", "response", "both", "none"]


@dataclass(frozen=True)
class SamlIdp:
    """An IdP identity: entity ID, signing key (hidden from repr) and certificate."""

    entity_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cert_base64(self) -> str:
        return "".join(
            line for line in self.cert_pem.strip().splitlines() if not line.startswith("-----")
        )

    def metadata_xml(self, *, sso_url: str = "https://idp.example.test/sso") -> str:
        """IdP metadata for ``iam.create_saml_provider(SAMLMetadataDocument=...)``."""
        return (
            f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{self.entity_id}">'
            '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{self.cert_base64}"
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            f"<md:NameIDFormat>{PERSISTENT}</md:NameIDFormat>"
            f"<md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{sso_url}"/>'
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f'Location="{sso_url}"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )


def make_idp(entity_id: str = "https://idp.example.test/saml") -> SamlIdp:
    """A fresh IdP with a 2048-bit RSA key and a self-signed certificate valid for a year."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qbizfed test SAML IdP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return SamlIdp(entity_id=entity_id, private_key=key, certificate=certificate)


@dataclass(frozen=True)
class AssertionSpec:
    """Every field of the Response STS reads. Offsets are seconds relative to now."""

    role_arn: str
    provider_arn: str
    email: str | None = "ada@example.com"
    """Becomes the ``PrincipalTag:Email`` attribute (unless ``tags`` is given)."""
    session_name: str | None = "ada@example.com"
    recipient: str | None = AWS_SIGNIN
    audience: str = AWS_SIGNIN
    issuer: str | None = None
    """None: the IdP's entity ID."""
    name_id: str = "ada@example.com"
    name_id_format: str = PERSISTENT
    not_before_offset: int = -60
    not_on_or_after_offset: int = 300
    confirmation_not_on_or_after_offset: int | None = 300
    """None omits ``NotOnOrAfter`` from SubjectConfirmationData."""
    subject_confirmations: int = 1
    session_duration: str | None = None
    session_not_on_or_after_offset: int | None = None
    role_values: Sequence[str] | None = None
    """None: the single value ``"<role_arn>,<provider_arn>"``."""
    tags: Mapping[str, str] | None = None
    transitive_tag_keys: Sequence[str] = ()
    extra_attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success"


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def new_id() -> str:
    return "_" + uuid.uuid4().hex


def build_assertion(idp: SamlIdp, spec: AssertionSpec, *, now: dt.datetime | None = None) -> Any:
    """The unsigned ``saml:Assertion`` element (with a signature placeholder after Issuer)."""
    now = now or dt.datetime.now(dt.UTC)

    def at(offset: int) -> str:
        return _iso(now + dt.timedelta(seconds=offset))

    assertion = etree.Element(
        f"{{{SAML}}}Assertion",
        {"ID": new_id(), "Version": "2.0", "IssueInstant": _iso(now)},
        nsmap={"saml": SAML, "ds": DS},
    )
    _sub(assertion, SAML, "Issuer", spec.issuer if spec.issuer is not None else idp.entity_id)
    etree.SubElement(assertion, f"{{{DS}}}Signature", {"Id": "placeholder"})
    subject = _sub(assertion, SAML, "Subject")
    _sub(subject, SAML, "NameID", spec.name_id, Format=spec.name_id_format)
    for _ in range(spec.subject_confirmations):
        confirmation = _sub(
            subject, SAML, "SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
        )
        data_attrs: dict[str, str] = {}
        if spec.recipient is not None:
            data_attrs["Recipient"] = spec.recipient
        if spec.confirmation_not_on_or_after_offset is not None:
            data_attrs["NotOnOrAfter"] = at(spec.confirmation_not_on_or_after_offset)
        _sub(confirmation, SAML, "SubjectConfirmationData", **data_attrs)
    conditions = _sub(
        assertion,
        SAML,
        "Conditions",
        NotBefore=at(spec.not_before_offset),
        NotOnOrAfter=at(spec.not_on_or_after_offset),
    )
    restriction = _sub(conditions, SAML, "AudienceRestriction")
    _sub(restriction, SAML, "Audience", spec.audience)
    authn_attrs = {"AuthnInstant": _iso(now), "SessionIndex": new_id()}
    if spec.session_not_on_or_after_offset is not None:
        authn_attrs["SessionNotOnOrAfter"] = at(spec.session_not_on_or_after_offset)
    authn = _sub(assertion, SAML, "AuthnStatement", **authn_attrs)
    context = _sub(authn, SAML, "AuthnContext")
    _sub(
        context,
        SAML,
        "AuthnContextClassRef",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    )
    attributes: dict[str, list[str]] = {}
    attributes[ATTR + "Role"] = list(
        spec.role_values
        if spec.role_values is not None
        else [f"{spec.role_arn},{spec.provider_arn}"]
    )
    if spec.session_name is not None:
        attributes[ATTR + "RoleSessionName"] = [spec.session_name]
    if spec.session_duration is not None:
        attributes[ATTR + "SessionDuration"] = [spec.session_duration]
    tags = spec.tags if spec.tags is not None else ({"Email": spec.email} if spec.email else {})
    for key, value in tags.items():
        attributes[ATTR + "PrincipalTag:" + key] = [value]
    if spec.transitive_tag_keys:
        attributes[ATTR + "TransitiveTagKeys"] = list(spec.transitive_tag_keys)
    for name, values in spec.extra_attributes.items():
        attributes[name] = list(values)
    statement = _sub(assertion, SAML, "AttributeStatement")
    for name, values in attributes.items():
        attribute = _sub(statement, SAML, "Attribute", Name=name)
        for value in values:
            _sub(attribute, SAML, "AttributeValue", value)
    return assertion


def sign_element(element: Any, idp: SamlIdp) -> Any:
    """Enveloped RSA-SHA256 signature at the element's ``ds:Signature Id="placeholder"``."""
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=EXC_C14N,
    )
    return signer.sign(
        element,
        key=idp.key_pem,
        cert=idp.cert_pem,
        reference_uri=element.get("ID"),
        id_attribute="ID",
    )


def build_response(
    idp: SamlIdp,
    spec: AssertionSpec,
    *,
    sign: SignWhat = "assertion",
    signing_idp: SamlIdp | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """A serialised ``samlp:Response``. ``signing_idp`` signs with another key (wrong key)."""
    now = now or dt.datetime.now(dt.UTC)
    signer_idp = signing_idp or idp
    assertion = build_assertion(idp, spec, now=now)
    if sign in ("assertion", "both"):
        assertion = sign_element(assertion, signer_idp)
    else:
        _drop_placeholder(assertion)
    response = etree.Element(
        f"{{{SAMLP}}}Response",
        {
            "ID": new_id(),
            "Version": "2.0",
            "IssueInstant": _iso(now),
            "Destination": spec.recipient or AWS_SIGNIN,
        },
        nsmap={"samlp": SAMLP, "saml": SAML, "ds": DS},
    )
    _sub(response, SAML, "Issuer", spec.issuer if spec.issuer is not None else idp.entity_id)
    if sign in ("response", "both"):
        etree.SubElement(response, f"{{{DS}}}Signature", {"Id": "placeholder"})
    status = _sub(response, SAMLP, "Status")
    _sub(status, SAMLP, "StatusCode", Value=spec.status)
    response.append(assertion)
    if sign in ("response", "both"):
        response = sign_element(response, signer_idp)
    serialised: bytes = etree.tostring(response, xml_declaration=False, encoding="utf-8")
    return serialised


def _drop_placeholder(element: Any) -> None:
    for placeholder in element.findall(f"{{{DS}}}Signature[@Id='placeholder']"):
        element.remove(placeholder)


def encode(response: bytes) -> str:
    """The ``SAMLAssertion`` parameter: base64 of the whole Response."""
    return base64.b64encode(response).decode()


def saml_trust_policy(
    provider_arn: str, audiences: Sequence[str] = (AWS_SIGNIN,), *, tag_session: bool = True
) -> dict[str, Any]:
    """docs/aws-facts.md's SAML trust policy: ``SAML:aud`` on the assume statement + TagSession."""
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": list(audiences)}},
        }
    ]
    if tag_session:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:TagSession",
                "Condition": {"StringLike": {"aws:RequestTag/Email": "*"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class SamlRole:
    provider_arn: str
    role_arn: str
    role_name: str

    def spec(self, **knobs: Any) -> AssertionSpec:
        """An ``AssertionSpec`` for this role and provider, with ``knobs`` changed."""
        return AssertionSpec(role_arn=self.role_arn, provider_arn=self.provider_arn, **knobs)


def register_saml_role(
    iam: Any,
    idp: SamlIdp,
    name: str,
    *,
    trust_policy: Mapping[str, Any] | None = None,
    max_session_duration: int = 3600,
) -> SamlRole:
    """``CreateSAMLProvider`` with ``idp``'s metadata and a role trusting it (boto3 ``iam``)."""
    provider_arn = iam.create_saml_provider(SAMLMetadataDocument=idp.metadata_xml(), Name=name)[
        "SAMLProviderArn"
    ]
    policy = trust_policy or saml_trust_policy(provider_arn)
    role_arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(dict(policy)),
        MaxSessionDuration=max_session_duration,
    )["Role"]["Arn"]
    return SamlRole(provider_arn=provider_arn, role_arn=role_arn, role_name=name)
