"""SAML 2.0 service provider: AuthnRequest (Redirect binding), SP metadata, Response validation.

Built on python3-saml (OneLogin) with xmlsec, in strict mode, rejecting SHA-1, and with
the checks python3-saml leaves lenient made strict here (see ``_check_aws_rules``):

* exactly one ``Assertion`` anywhere in the document (signature-wrapping defence, on top
  of python3-saml's reference checks), no ``EncryptedAssertion`` (not supported);
* ``Destination`` (when present) and the bearer ``Recipient`` equal our ACS URL exactly;
  exactly one ``SubjectConfirmation``, with ``NotOnOrAfter`` and ``Recipient`` (as STS
  demands); an ``Audience`` naming our entity ID;
* ``InResponseTo`` names an AuthnRequest this deployment issued, consumed once, unless
  unsolicited responses are explicitly allowed;
* the assertion ID is used once (replay cache).

Whatever python3-saml, lxml or xmlsec raise (including the checks python3-saml runs only
when the NameID and attributes are read) becomes :class:`SamlResponseError` with a
``reason``, and the request ID and assertion ID are spent only by a response that
passed every check: a refused response never costs the user their pending login.

XML is parsed by python3-saml's hardened lxml parser: DTDs and entity declarations are
refused (``DTDForbidden`` / ``EntitiesForbidden``), no network, no entity resolution.
A quick byte scan for ``<!DOCTYPE`` runs first, so a hostile document in an ASCII-based
encoding never reaches the parser (one in UTF-16 does, and the parser refuses it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from onelogin.saml2.xmlparser import DTDForbidden, EntitiesForbidden, NotSupportedError

from qbizfed.errors import ConfigError
from qbizfed.identity import saml_schemas
from qbizfed.identity.errors import SamlAttributeError, SamlResponseError
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.identity.saml_attributes import (
    parse_email,
    parse_principal_tags,
    parse_role_session_name,
    parse_roles,
    parse_transitive_tag_keys,
)
from qbizfed.identity.saml_metadata import SamlMetadataError, parse_idp_metadata
from qbizfed.identity.saml_stores import ReplayCache, RequestIdStore

saml_schemas.install()

MAX_RESPONSE_BYTES = 256 * 1024
EMAIL_NAMEID = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
_NS = {"samlp": OneLogin_Saml2_Constants.NS_SAMLP, "saml": OneLogin_Saml2_Constants.NS_SAML}
_BEARER = OneLogin_Saml2_Constants.CM_BEARER

# python3-saml validation error code -> our short reason.
_E = OneLogin_Saml2_ValidationError
_REASONS: Mapping[int, str] = {
    _E.WRONG_NUMBER_OF_ASSERTIONS: "assertion_count",
    _E.INVALID_XML_FORMAT: "schema",
    _E.WRONG_INRESPONSETO: "in_response_to",
    _E.MISSING_CONDITIONS: "conditions",
    _E.ASSERTION_TOO_EARLY: "not_yet_valid",
    _E.ASSERTION_EXPIRED: "expired",
    _E.SESSION_EXPIRED: "expired",
    _E.RESPONSE_EXPIRED: "expired",
    _E.WRONG_DESTINATION: "destination",
    _E.EMPTY_DESTINATION: "destination",
    _E.WRONG_AUDIENCE: "audience",
    _E.WRONG_ISSUER: "issuer",
    _E.ISSUER_MULTIPLE_IN_RESPONSE: "issuer",
    _E.ISSUER_NOT_FOUND_IN_ASSERTION: "issuer",
    _E.WRONG_SUBJECTCONFIRMATION: "subject_confirmation",
    _E.NO_SIGNED_MESSAGE: "unsigned_response",
    _E.NO_SIGNED_ASSERTION: "unsigned_assertion",
    _E.NO_SIGNATURE_FOUND: "unsigned",
    _E.INVALID_SIGNATURE: "signature",
    _E.WRONG_SIGNED_ELEMENT: "signature",
    _E.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "signature",
    _E.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "signature",
    _E.INVALID_SIGNED_ELEMENT: "signature",
    _E.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "signature",
    _E.UNEXPECTED_SIGNED_ELEMENTS: "signature",
    _E.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "signature",
    _E.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "signature",
    _E.WRONG_NUMBER_OF_SIGNATURES: "signature",
    _E.DEPRECATED_SIGNATURE_METHOD: "deprecated_algorithm",
    _E.DEPRECATED_DIGEST_METHOD: "deprecated_algorithm",
    _E.STATUS_CODE_IS_NOT_SUCCESS: "status",
    _E.NO_NAMEID: "name_id",
    _E.EMPTY_NAMEID: "name_id",
    _E.DUPLICATED_ATTRIBUTE_NAME_FOUND: "attributes",
    _E.SP_NAME_QUALIFIER_NAME_MISMATCH: "name_id",
    _E.NO_ENCRYPTED_NAMEID: "name_id",
    _E.NO_ATTRIBUTESTATEMENT: "attributes",
    _E.ENCRYPTED_ATTRIBUTES: "attributes",
    _E.WRONG_NUMBER_OF_AUTHSTATEMENTS: "authn_statement",
    _E.NO_ENCRYPTED_ASSERTION: "encrypted",
    _E.KEYINFO_NOT_FOUND_IN_ENCRYPTED_DATA: "encrypted",
    _E.CHILDREN_NODE_NOT_FOUND_IN_KEYINFO: "encrypted",
    _E.UNSUPPORTED_RETRIEVAL_METHOD: "encrypted",
    _E.UNSUPPORTED_SAML_VERSION: "schema",
    _E.MISSING_ID: "schema",
    _E.MISSING_STATUS: "status",
    _E.MISSING_STATUS_CODE: "status",
    _E.AUTHN_CONTEXT_MISMATCH: "authn_context",
}


@dataclass(frozen=True)
class SamlSpSettings:
    """This service provider and the one IdP it trusts."""

    sp_entity_id: str
    acs_url: str
    idp_entity_id: str
    idp_sso_url: str
    idp_certificates: tuple[str, ...]  # PEM or bare base64 DER; several during rotation
    sp_private_key_pem: str | None = field(default=None, repr=False)
    sp_certificate_pem: str | None = None
    want_assertions_signed: bool = True
    want_messages_signed: bool = False
    allow_unsolicited: bool = False
    request_ttl_seconds: int = 600
    name_id_format: str = EMAIL_NAMEID

    @classmethod
    def from_idp_metadata(
        cls, metadata_xml: str, *, sp_entity_id: str, acs_url: str, **kwargs: Any
    ) -> SamlSpSettings:
        """Read the IdP's entity ID, Redirect SSO URL and signing certificates
        (:func:`qbizfed.identity.saml_metadata.parse_idp_metadata`, the one reader)."""
        try:
            metadata = parse_idp_metadata(metadata_xml)
        except SamlMetadataError as exc:
            raise ConfigError(
                f"the IdP metadata cannot be used: {exc.message}", remedy=exc.remedy
            ) from exc
        return cls(
            sp_entity_id=sp_entity_id,
            acs_url=acs_url,
            idp_entity_id=metadata.entity_id,
            idp_sso_url=metadata.redirect_sso_url,
            idp_certificates=tuple(
                dict.fromkeys(
                    base64.b64encode(cert.der).decode("ascii") for cert in metadata.certificates
                )
            ),
            **kwargs,
        )


@dataclass(frozen=True)
class AuthnRedirect:
    """Where to send the browser, and the request ID (already remembered in the store)."""

    url: str
    request_id: str
    relay_state: str | None = None


def _request_data(acs_url: str) -> dict[str, Any]:
    """python3-saml computes "the URL we were called at" from this; we pin it to the ACS."""
    parts = urlsplit(acs_url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
    }


def _reject(message: str, reason: str, remedy: str = "") -> SamlResponseError:
    return SamlResponseError(message, reason=reason, remedy=remedy)


def _library_refusal(exc: Exception) -> SamlResponseError:
    """Whatever python3-saml, lxml or xmlsec raised, as a refusal naming the check.

    Every failure after parsing is the IdP's (or an attacker's) input being wrong, never
    a fault of this service, so nothing here may escape as an unexpected error.
    """
    if isinstance(exc, SamlResponseError):
        return exc
    if isinstance(exc, OneLogin_Saml2_ValidationError):
        reason = _REASONS.get(exc.code, "invalid")
        return _reject(f"the SAML response was refused: {exc}"[:400], reason)
    if isinstance(exc, OneLogin_Saml2_Error):
        return _reject(f"the SAML response was refused: {exc}"[:400], "invalid")
    # xmlsec and parser errors surface as generic exceptions; their text may quote input.
    return _reject(
        f"the SAML response could not be verified ({type(exc).__name__})", "signature"
    )


class SamlServiceProvider:
    """One SP configuration plus the request-ID store and the assertion replay cache."""

    def __init__(
        self, settings: SamlSpSettings, *, requests: RequestIdStore, replay: ReplayCache
    ) -> None:
        self.settings = settings
        self._requests = requests
        self._replay = replay
        try:
            self._onelogin = OneLogin_Saml2_Settings(self._onelogin_dict())
        except OneLogin_Saml2_Error as exc:
            raise ConfigError(
                f"the SAML settings are invalid: {exc}",
                remedy="check the IdP entity ID, SSO URL and certificate (from the IdP's "
                "metadata) and the SP entity ID and ACS URL",
            ) from exc

    def _onelogin_dict(self) -> dict[str, Any]:
        s = self.settings
        signing = bool(s.sp_private_key_pem and s.sp_certificate_pem)
        sp: dict[str, Any] = {
            "entityId": s.sp_entity_id,
            "assertionConsumerService": {
                "url": s.acs_url,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
            },
            "NameIDFormat": s.name_id_format,
        }
        if signing:
            sp["x509cert"] = s.sp_certificate_pem
            sp["privateKey"] = s.sp_private_key_pem
        return {
            "strict": True,
            "debug": False,
            "sp": sp,
            "idp": {
                "entityId": s.idp_entity_id,
                "singleSignOnService": {
                    "url": s.idp_sso_url,
                    "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
                },
                "x509certMulti": {"signing": list(s.idp_certificates)},
            },
            "security": {
                "authnRequestsSigned": signing,
                "wantAssertionsSigned": s.want_assertions_signed,
                "wantMessagesSigned": s.want_messages_signed,
                "wantAssertionsEncrypted": False,
                "wantNameIdEncrypted": False,
                "wantNameId": True,
                "wantAttributeStatement": True,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "allowRepeatAttributeName": False,
                "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
                "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
                "signMetadata": False,
            },
        }

    # -- outgoing -------------------------------------------------------------------

    def authn_request(self, *, relay_state: str | None = None) -> AuthnRedirect:
        """A deflated (and, with an SP key, signed) AuthnRequest for the Redirect binding."""
        auth = OneLogin_Saml2_Auth(_request_data(self.settings.acs_url), self._onelogin)
        url = str(auth.login(return_to=relay_state if relay_state is not None else ""))
        request_id = str(auth.get_last_request_id())
        self._requests.remember_request(request_id, self.settings.request_ttl_seconds)
        return AuthnRedirect(url=url, request_id=request_id, relay_state=relay_state)

    def metadata_xml(self) -> str:
        """SP metadata to hand to the IdP administrator (entity ID, ACS, signing cert)."""
        metadata = self._onelogin.get_sp_metadata()
        errors = self._onelogin.validate_metadata(metadata)
        if errors:
            raise ConfigError(
                f"the SP metadata is invalid: {', '.join(errors)}",
                remedy="check the SP entity ID and ACS URL",
            )
        return metadata.decode() if isinstance(metadata, bytes) else str(metadata)

    # -- incoming -------------------------------------------------------------------

    def validate_response(self, saml_response: str) -> FederatedIdentity:
        """Validate a base64 ``SAMLResponse`` (HTTP-POST binding) completely, then extract.

        Raises :class:`SamlResponseError` or :class:`SamlAttributeError`; nothing of the
        response is used before every check passed.
        """
        document = self._parse(saml_response)
        # Structural refusals first (refusing on unauthenticated data is safe); every
        # acceptance below depends on python3-saml's signature checks.
        self._check_structure(document)
        try:
            response = OneLogin_Saml2_Response(self._onelogin, saml_response)
        except Exception as exc:  # the same bytes parsed once already; be defensive
            raise _reject("the SAML response could not be read", "malformed") from exc
        in_response_to = self._in_response_to(document)
        not_on_or_after = self._check_aws_rules(document)
        try:
            response.is_valid(
                _request_data(self.settings.acs_url),
                request_id=in_response_to,
                raise_exceptions=True,
            )
            # Reading the identity runs python3-saml's remaining checks (NameID present,
            # not empty, SPNameQualifier, attribute names unique...): all of them happen
            # before the assertion ID and the request ID are spent.
            identity = self._identity(response, saml_response, not_on_or_after)
            assertion_id = str(response.get_assertion_id())
        except SamlAttributeError:
            raise
        except Exception as exc:
            raise _library_refusal(exc) from exc
        if self._replay.seen(assertion_id, not_on_or_after):
            raise _reject("this SAML assertion was already used", "replay", "start the login again")
        if in_response_to is not None and not self._requests.consume_request(in_response_to):
            raise _reject(
                "the SAML response answers a login request this service did not issue "
                "(or already used, or expired)",
                "in_response_to",
                "start the login again from this application",
            )
        return identity

    # -- checks ---------------------------------------------------------------------

    @staticmethod
    def _parse(saml_response: str) -> Any:
        if len(saml_response) > MAX_RESPONSE_BYTES:
            raise _reject(f"the SAML response is larger than {MAX_RESPONSE_BYTES} bytes", "size")
        try:
            xml = base64.b64decode(saml_response, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _reject("the SAML response is not base64", "malformed") from exc
        upper = xml.upper()
        if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
            raise _reject("the SAML response declares a DTD or entities", "dtd")
        try:
            return OneLogin_Saml2_XML.to_etree(xml)
        except (DTDForbidden, EntitiesForbidden, NotSupportedError) as exc:
            raise _reject("the SAML response declares a DTD or entities", "dtd") from exc
        except Exception as exc:  # lxml.etree.XMLSyntaxError and friends
            raise _reject("the SAML response is not well-formed XML", "malformed") from exc

    @staticmethod
    def _check_structure(document: Any) -> None:
        assertions = document.xpath("//saml:Assertion", namespaces=_NS)
        encrypted = document.xpath("//saml:EncryptedAssertion", namespaces=_NS)
        if encrypted:
            raise _reject(
                "the SAML response carries an encrypted assertion, which this SP does not decrypt",
                "encrypted",
                "turn off assertion encryption for this application at the IdP",
            )
        direct = document.xpath("/samlp:Response/saml:Assertion", namespaces=_NS)
        if len(assertions) != 1 or len(direct) != 1:
            raise _reject(
                f"the SAML response must contain exactly one assertion (found {len(assertions)})",
                "assertion_count",
            )

    def _in_response_to(self, document: Any) -> str | None:
        values = {
            v
            for v in document.xpath(
                "/samlp:Response/@InResponseTo"
                "|/samlp:Response/saml:Assertion/saml:Subject/saml:SubjectConfirmation"
                "/saml:SubjectConfirmationData/@InResponseTo",
                namespaces=_NS,
            )
        }
        if len(values) > 1:
            raise _reject("the SAML response names two different requests", "in_response_to")
        if not values:
            if self.settings.allow_unsolicited:
                return None
            raise _reject(
                "the SAML response is unsolicited (IdP-initiated), which this SP refuses",
                "unsolicited",
                "start the login from this application, or allow unsolicited responses "
                "explicitly in the SP settings",
            )
        return str(values.pop())

    def _check_aws_rules(self, document: Any) -> datetime:
        acs = self.settings.acs_url
        destination = document.get("Destination")
        if destination is not None and destination != acs:
            raise _reject(
                f"the SAML response is addressed to {destination[:200]!r}, not {acs!r}",
                "destination",
                f"set the ACS URL at the IdP to {acs}",
            )
        confirmations = document.xpath(
            "/samlp:Response/saml:Assertion/saml:Subject/saml:SubjectConfirmation",
            namespaces=_NS,
        )
        if len(confirmations) != 1 or confirmations[0].get("Method") != _BEARER:
            raise _reject(
                "the assertion must have exactly one bearer SubjectConfirmation",
                "subject_confirmation",
            )
        data = confirmations[0].find("saml:SubjectConfirmationData", namespaces=_NS)
        recipient = data.get("Recipient") if data is not None else None
        nooa = data.get("NotOnOrAfter") if data is not None else None
        if recipient != acs:
            raise _reject(
                f"the assertion's Recipient is {str(recipient)[:200]!r}, not {acs!r}",
                "recipient",
                f"set the ACS (reply) URL at the IdP to {acs}",
            )
        if not nooa:
            raise _reject(
                "the assertion's SubjectConfirmationData lacks NotOnOrAfter", "subject_confirmation"
            )
        audiences = [
            (a.text or "").strip()
            for a in document.xpath(
                "/samlp:Response/saml:Assertion/saml:Conditions/saml:AudienceRestriction"
                "/saml:Audience",
                namespaces=_NS,
            )
        ]
        if self.settings.sp_entity_id not in audiences:
            raise _reject(
                f"the assertion is not meant for {self.settings.sp_entity_id!r}",
                "audience",
                f"set the audience (SP entity ID) at the IdP to {self.settings.sp_entity_id}",
            )
        try:
            return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(nooa), tz=UTC)
        except Exception as exc:  # python3-saml raises a bare Exception for a bad format
            raise _reject(
                "the assertion's SubjectConfirmationData NotOnOrAfter is not a valid time",
                "subject_confirmation",
                "the IdP must send an xs:dateTime in UTC, like 2026-01-01T00:05:00Z",
            ) from exc

    # -- extraction -----------------------------------------------------------------

    def _identity(
        self, response: OneLogin_Saml2_Response, raw: str, expires: datetime
    ) -> FederatedIdentity:
        attributes: Mapping[str, Sequence[object]] = response.get_attributes()
        tags = parse_principal_tags(attributes)
        session_expiry = response.get_session_not_on_or_after()
        if session_expiry:
            expires = min(expires, datetime.fromtimestamp(session_expiry, tz=UTC))
        issuers = response.get_issuers()
        groups = [g for g in attributes.get("groups", []) if isinstance(g, str)]
        names = [n for n in attributes.get("displayName", []) if isinstance(n, str)]
        return FederatedIdentity(
            protocol="saml",
            email=parse_email(tags),
            subject=str(response.get_nameid()),
            issuer=str(issuers[0]) if issuers else self.settings.idp_entity_id,
            credential=raw,
            display_name=names[0] if names else None,
            groups=tuple(groups),
            session_tags=tags,
            transitive_tag_keys=parse_transitive_tag_keys(attributes),
            roles=parse_roles(attributes),
            role_session_name=parse_role_session_name(attributes),
            expires_at=expires,
            audiences=tuple(str(a) for a in response.get_audiences()),
        )
