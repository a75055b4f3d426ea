"""Reading and checking SAML 2.0 AuthnRequests sent to the dev IdP's SSO endpoint.

HTTP-Redirect binding: base64 of raw DEFLATE, signature (if any) over the query string
octets as sent (SAML Bindings §3.4.4.1). HTTP-POST binding: base64 XML, enveloped
XML signature verified with signxml. The issuer must be a registered service
provider; an SP registered with a certificate must sign its requests; the ACS URL must
be one the SP registered. Anything else is a :class:`SamlRefusedError` shown to the user:
an unverified requester is never sent a response.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.exceptions import InvalidInput, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from qbizfed.local.idp.users import Directory, ServiceProvider
from qbizfed.local.idp.xml import MAX_XML_BYTES, NS, UnsafeXmlError, parse_untrusted_xml

REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


class SamlRefusedError(Exception):
    """An AuthnRequest the IdP will not answer; the message is shown to the user."""


@dataclass(frozen=True)
class AuthnRequestInfo:
    """A verified request: who asked, where the response goes, what to echo."""

    request_id: str | None
    """None for IdP-initiated logins (no ``InResponseTo``)."""
    sp: ServiceProvider
    acs_url: str
    relay_state: str | None
    force_authn: bool = False
    is_passive: bool = False
    """The SP asked for no user interaction: answer ``NoPassive`` rather than a login form."""


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    out = inflater.decompress(data, MAX_XML_BYTES + 1)
    if len(out) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise SamlRefusedError("the SAMLRequest inflates to more than the IdP accepts")
    return out


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError):
        raise SamlRefusedError("SAMLRequest is not valid base64") from None


def _raw_query_values(raw_query: str) -> dict[str, str]:
    """Query parameters exactly as encoded by the sender (first occurrence wins)."""
    values: dict[str, str] = {}
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name and name not in values:
            values[name] = value
    return values


def _verify_redirect_signature(raw_query: str, certificate_pem: str) -> None:
    raw = _raw_query_values(raw_query)
    if "Signature" not in raw or "SigAlg" not in raw:
        raise SamlRefusedError("this service provider must sign its AuthnRequests")
    if unquote_plus(raw["SigAlg"]) != RSA_SHA256:
        raise SamlRefusedError("unsupported SigAlg: the IdP accepts RSA-SHA256 only")
    signed = "&".join(
        f"{name}={raw[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg") if name in raw
    )
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
    except binascii.Error:
        raise SamlRefusedError("the AuthnRequest signature is not valid base64") from None
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SamlRefusedError("the service provider's certificate is not an RSA certificate")
    try:
        public_key.verify(signature, signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, UnicodeEncodeError):
        raise SamlRefusedError("the AuthnRequest signature does not verify") from None


def _verify_post_signature(xml: bytes, certificate_pem: str) -> etree._Element:
    """The signed AuthnRequest element; the signature must cover the whole request."""
    config = SignatureConfiguration(
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        require_x509=True,
        location="./",
    )
    try:
        result = XMLVerifier().verify(
            xml, x509_cert=certificate_pem, id_attribute="ID", expect_config=config
        )
    except InvalidInput:
        raise SamlRefusedError("this service provider must sign its AuthnRequests") from None
    except SignXMLException:
        raise SamlRefusedError("the AuthnRequest signature does not verify") from None
    if isinstance(result, list):  # more than one reference: not an AuthnRequest signature
        raise SamlRefusedError("the signature does not cover the AuthnRequest")
    signed = result.signed_xml
    if signed is None or signed.tag != f"{{{NS['samlp']}}}AuthnRequest":
        raise SamlRefusedError("the signature does not cover the AuthnRequest")
    return signed


def _parse_instant(value: str | None) -> dt.datetime:
    if not value:
        raise SamlRefusedError("the AuthnRequest has no IssueInstant")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SamlRefusedError("the AuthnRequest's IssueInstant is malformed") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def read_authn_request(
    *,
    binding: str,
    saml_request: str,
    relay_state: str | None,
    raw_query: str,
    directory: Directory,
    sso_urls: Sequence[str],
    now: dt.datetime,
) -> AuthnRequestInfo:
    """Decode, verify and check an AuthnRequest; :class:`SamlRefusedError` if anything is off."""
    data = _b64(saml_request)
    xml = _inflate(data) if binding == REDIRECT_BINDING else data
    try:
        root = parse_untrusted_xml(xml)
    except UnsafeXmlError as exc:
        raise SamlRefusedError(f"the SAMLRequest was refused: {exc}") from None
    if root.tag != f"{{{NS['samlp']}}}AuthnRequest":
        raise SamlRefusedError("the SAMLRequest is not an AuthnRequest")
    issuer = root.findtext("saml:Issuer", namespaces=NS)
    sp = directory.service_provider((issuer or "").strip())
    if sp is None:
        raise SamlRefusedError("unknown service provider: its Issuer is not registered at this IdP")
    if sp.certificate_pem:
        if binding == REDIRECT_BINDING:
            _verify_redirect_signature(raw_query, sp.certificate_pem)
        else:
            root = _verify_post_signature(xml, sp.certificate_pem)
    if root.get("Version") != "2.0":
        raise SamlRefusedError("the AuthnRequest must be SAML Version 2.0")
    request_id = root.get("ID")
    if not request_id:
        raise SamlRefusedError("the AuthnRequest has no ID")
    instant = _parse_instant(root.get("IssueInstant"))
    if abs(now - instant) > MAX_CLOCK_SKEW:
        raise SamlRefusedError("the AuthnRequest's IssueInstant is too far from now")
    destination = root.get("Destination")
    if destination is not None and destination not in sso_urls:
        raise SamlRefusedError("the AuthnRequest's Destination is not this IdP's SSO endpoint")
    binding_asked = root.get("ProtocolBinding")
    if binding_asked is not None and binding_asked != POST_BINDING:
        raise SamlRefusedError("the IdP answers with the HTTP-POST binding only")
    if root.get("AssertionConsumerServiceIndex") is not None:
        raise SamlRefusedError("AssertionConsumerServiceIndex is not supported; send the URL")
    acs_url = root.get("AssertionConsumerServiceURL") or sp.acs_urls[0]
    if acs_url not in sp.acs_urls:
        raise SamlRefusedError("AssertionConsumerServiceURL is not registered for this SP")
    return AuthnRequestInfo(
        request_id=request_id,
        sp=sp,
        acs_url=acs_url,
        relay_state=relay_state,
        force_authn=root.get("ForceAuthn") in ("true", "1"),
        is_passive=root.get("IsPassive") in ("true", "1"),
    )


def idp_initiated(
    *, directory: Directory, entity_id: str, relay_state: str | None
) -> AuthnRequestInfo:
    """An unsolicited login for a registered SP, to its first ACS URL."""
    sp = directory.service_provider(entity_id)
    if sp is None:
        raise SamlRefusedError("unknown service provider: it is not registered at this IdP")
    return AuthnRequestInfo(request_id=None, sp=sp, acs_url=sp.acs_urls[0], relay_state=relay_state)
