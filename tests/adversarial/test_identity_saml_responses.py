"""Hostile SAML responses, one attack per case, each refused with a named reason.

Each case starts from a genuine login (an AuthnRequest this SP issued) and a response
signed by the trusted IdP key, then applies one attack: no signature, another key,
signature wrapping (XSW) by moving or copying the assertion, wrong audience,
recipient, destination, issuer, times, request IDs, replay, DTDs and entities.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lxml import etree

from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from tests.adversarial.hostile_xml import HOSTILE_PROLOGS, HostileProlog, with_prolog
from tests.support.rp_idp import NS, CertifiedKey, SamlIdp, SamlResponseSpec, b64

SP_ENTITY = "https://app.rp-test.example/saml/metadata"
ACS = "https://app.rp-test.example/saml/acs"
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Login:
    idp: SamlIdp
    sp: SamlServiceProvider
    request_id: str
    attacker_key: CertifiedKey

    def spec(self, **kwargs: object) -> SamlResponseSpec:
        kwargs.setdefault("in_response_to", self.request_id)
        return self.idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS, **kwargs)

    def signed(self, **kwargs: object) -> etree._Element:
        return etree.fromstring(self.idp.signed_response(self.spec(**kwargs)))


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return SamlIdp()


@pytest.fixture(scope="module")
def attacker_key() -> CertifiedKey:
    return CertifiedKey.generate("attacker")


@pytest.fixture
def login(idp: SamlIdp, attacker_key: CertifiedKey) -> Login:
    settings = SamlSpSettings(
        sp_entity_id=SP_ENTITY,
        acs_url=ACS,
        idp_entity_id=idp.entity_id,
        idp_sso_url=idp.entity_id + "/sso",
        idp_certificates=(idp.key.cert_pem,),
    )
    sp = SamlServiceProvider(settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache())
    return Login(idp, sp, sp.authn_request().request_id, attacker_key)


def xml(root: etree._Element) -> str:
    return b64(etree.tostring(root))


def assertion(root: etree._Element) -> etree._Element:
    found = root.find("saml:Assertion", NS)
    assert found is not None
    return found


def _evil_copy(original: etree._Element, email: str = "mallory@evil.test") -> etree._Element:
    """The signed assertion with its signature removed and the identity changed."""
    evil = copy.deepcopy(original)
    for sig in evil.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        evil.remove(sig)
    for node in evil.iter("{urn:oasis:names:tc:SAML:2.0:assertion}NameID",
                          "{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue"):  # fmt: skip
        if node.text and "@" in node.text:
            node.text = email
    return evil


# -- the attacks ----------------------------------------------------------------------


def unsigned_response(lg: Login) -> str:
    return b64(lg.idp.response_xml(lg.spec()))


def unsigned_assertion_in_signed_response(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(), sign_assertion=False, sign_response=True))


def signed_by_another_key(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(), key=lg.attacker_key))


def attribute_changed_after_signing(lg: Login) -> str:
    root = lg.signed()
    for value in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue"):
        if value.text == "alice@example.com":
            value.text = "mallory@evil.test"
    return xml(root)


def xsw_evil_assertion_before_signed_one(lg: Login) -> str:
    root = lg.signed()
    original = assertion(root)
    evil = _evil_copy(original)
    evil.set("ID", "_evil")
    original.addprevious(evil)
    return xml(root)


def xsw_evil_assertion_after_signed_one(lg: Login) -> str:
    root = lg.signed()
    original = assertion(root)
    original.addnext(_evil_copy(original))
    return xml(root)


def xsw_signed_assertion_moved_into_extensions(lg: Login) -> str:
    root = lg.signed()
    original = assertion(root)
    evil = _evil_copy(original)
    original.addprevious(evil)
    root.remove(original)
    extensions = etree.Element(f"{{{NS['samlp']}}}Extensions")
    extensions.append(original)
    root.find("saml:Issuer", NS).addnext(extensions)
    return xml(root)


def xsw_signed_assertion_hidden_in_evil_signature_object(lg: Login) -> str:
    root = lg.signed()
    original = assertion(root)
    evil = _evil_copy(original)
    sig = copy.deepcopy(original.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    assert sig is not None
    obj = etree.SubElement(sig, "{http://www.w3.org/2000/09/xmldsig#}Object")
    obj.append(copy.deepcopy(original))
    evil.find("saml:Issuer", NS).addnext(sig)
    root.replace(original, evil)
    return xml(root)


def xsw_signed_response_wraps_evil_assertion(lg: Login) -> str:
    """XSW on a signed Response: the signed original moves into the Signature."""
    spec = lg.spec()
    root = etree.fromstring(lg.idp.signed_response(spec, sign_assertion=False, sign_response=True))
    original_response = copy.deepcopy(root)
    evil = _evil_copy(assertion(root))
    root.replace(assertion(root), evil)
    root.set("ID", "_evil_response")
    sig = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    assert sig is not None
    obj = etree.SubElement(sig, "{http://www.w3.org/2000/09/xmldsig#}Object")
    for old_sig in original_response.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        original_response.remove(old_sig)
    obj.append(original_response)
    return xml(root)


def evil_assertion_alone_with_copied_signature(lg: Login) -> str:
    root = lg.signed()
    original = assertion(root)
    evil = _evil_copy(original)
    sig = copy.deepcopy(original.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    evil.find("saml:Issuer", NS).addnext(sig)
    root.replace(original, evil)
    return xml(root)


def encrypted_assertion_injected(lg: Login) -> str:
    root = lg.signed()
    etree.SubElement(root, f"{{{NS['saml']}}}EncryptedAssertion")
    return xml(root)


def hostile_prolog(prolog: HostileProlog) -> Callable[[Login], str]:
    """The genuine signed response (trusted key, right issuer) behind ``prolog``."""
    return lambda lg: b64(with_prolog(lg.idp.signed_response(lg.spec()), prolog))


def doctype_after_padding(lg: Login) -> str:
    body = lg.idp.signed_response(lg.spec()).decode()
    return b64("<!--" + "x" * 8000 + '--><!DOCTYPE r [<!ENTITY e "x">]>' + body)


def wrong_audience(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(audience="https://other-sp.example/saml")))


def audience_as_prefix_of_ours(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(audience=SP_ENTITY + ".evil.test")))


def wrong_recipient(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(recipient="https://evil.test/saml/acs")))


def recipient_extending_our_acs(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(recipient=ACS + "-evil")))


def wrong_destination(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(destination="https://evil.test/saml/acs")))


def destination_extending_our_acs(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(destination=ACS + "/../evil")))


def wrong_issuer(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(idp_entity_id="https://evil.test/idp")))


def expired(lg: Login) -> str:
    past = NOW - dt.timedelta(hours=2)
    return b64(
        lg.idp.signed_response(
            lg.spec(issued_at=past, not_on_or_after=past + dt.timedelta(minutes=5))
        )
    )


def not_yet_valid(lg: Login) -> str:
    future = NOW + dt.timedelta(hours=1)
    return b64(lg.idp.signed_response(lg.spec(issued_at=future, not_before=future)))


def in_response_to_unknown(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(in_response_to="_never_issued_by_us")))


def sha1_signature(lg: Login) -> str:
    """Signed with RSA-SHA1/SHA-1 digests (xmlsec via python3-saml; signxml refuses SHA-1)."""
    from cryptography.hazmat.primitives import serialization
    from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    root = etree.fromstring(lg.idp.response_xml(lg.spec()).encode())
    key_pem = lg.idp.key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    signed_assertion = OneLogin_Saml2_Utils.add_sign(
        etree.tostring(assertion(root)), key_pem, lg.idp.key.cert_pem,
        sign_algorithm=C.RSA_SHA1, digest_algorithm=C.SHA1,
    )  # fmt: skip
    root.replace(assertion(root), etree.fromstring(signed_assertion))
    return xml(root)


def oversized(lg: Login) -> str:
    return b64(lg.idp.signed_response(lg.spec(extra_attributes={"pad": ["x" * 300_000]})))


HOSTILE: dict[str, tuple[Callable[[Login], str], set[str]]] = {
    "unsigned_response": (unsigned_response, {"unsigned_assertion", "unsigned"}),
    "unsigned_assertion_in_signed_response": (
        unsigned_assertion_in_signed_response,
        {"unsigned_assertion"},
    ),
    "signed_by_another_key": (signed_by_another_key, {"signature"}),
    "attribute_changed_after_signing": (attribute_changed_after_signing, {"signature"}),
    "xsw_evil_assertion_before_signed_one": (
        xsw_evil_assertion_before_signed_one,
        {"assertion_count"},
    ),
    "xsw_evil_assertion_after_signed_one": (
        xsw_evil_assertion_after_signed_one,
        {"assertion_count"},
    ),
    "xsw_signed_assertion_moved_into_extensions": (
        xsw_signed_assertion_moved_into_extensions,
        {"assertion_count"},
    ),
    "xsw_signed_assertion_hidden_in_evil_signature_object": (
        xsw_signed_assertion_hidden_in_evil_signature_object,
        {"assertion_count"},
    ),
    "xsw_signed_response_wraps_evil_assertion": (
        xsw_signed_response_wraps_evil_assertion,
        {"assertion_count"},
    ),
    "evil_assertion_alone_with_copied_signature": (
        evil_assertion_alone_with_copied_signature,
        {"signature"},
    ),
    "encrypted_assertion_injected": (encrypted_assertion_injected, {"encrypted"}),
    **{prolog.name: (hostile_prolog(prolog), {"dtd"}) for prolog in HOSTILE_PROLOGS},
    "doctype_after_padding": (doctype_after_padding, {"dtd"}),
    "wrong_audience": (wrong_audience, {"audience"}),
    "audience_as_prefix_of_ours": (audience_as_prefix_of_ours, {"audience"}),
    "wrong_recipient": (wrong_recipient, {"recipient"}),
    "recipient_extending_our_acs": (recipient_extending_our_acs, {"recipient"}),
    "wrong_destination": (wrong_destination, {"destination"}),
    "destination_extending_our_acs": (destination_extending_our_acs, {"destination"}),
    "wrong_issuer": (wrong_issuer, {"issuer"}),
    "expired": (expired, {"expired"}),
    "not_yet_valid": (not_yet_valid, {"not_yet_valid"}),
    "in_response_to_unknown": (in_response_to_unknown, {"in_response_to"}),
    "oversized": (oversized, {"size"}),
    "sha1_signature": (sha1_signature, {"deprecated_algorithm"}),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_saml_response_is_refused(attack: str, login: Login) -> None:
    build, reasons = HOSTILE[attack]
    raw = build(login)
    with pytest.raises(SamlResponseError) as info:
        login.sp.validate_response(raw)
    assert info.value.reason in reasons, str(info.value)
    assert raw[:64] not in str(info.value)
    assert "root:" not in str(info.value)  # nothing from /etc/passwd leaks back


def test_control_the_genuine_response_is_accepted(login: Login) -> None:
    assert (
        login.sp.validate_response(b64(login.idp.signed_response(login.spec()))).email
        == "alice@example.com"
    )


def test_replayed_response_is_refused(login: Login) -> None:
    raw = b64(login.idp.signed_response(login.spec()))
    login.sp.validate_response(raw)
    with pytest.raises(SamlResponseError) as info:
        login.sp.validate_response(raw)
    assert info.value.reason == "replay"


def test_replay_of_an_unsolicited_response_is_refused(idp: SamlIdp) -> None:
    settings = SamlSpSettings(
        sp_entity_id=SP_ENTITY, acs_url=ACS, idp_entity_id=idp.entity_id,
        idp_sso_url=idp.entity_id + "/sso", idp_certificates=(idp.key.cert_pem,),
        allow_unsolicited=True,
    )  # fmt: skip
    sp = SamlServiceProvider(settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache())
    raw = b64(idp.signed_response(idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS)))
    sp.validate_response(raw)
    with pytest.raises(SamlResponseError, match="already used"):
        sp.validate_response(raw)


def test_second_response_to_one_request_is_refused(login: Login) -> None:
    login.sp.validate_response(b64(login.idp.signed_response(login.spec())))
    with pytest.raises(SamlResponseError) as info:
        login.sp.validate_response(b64(login.idp.signed_response(login.spec())))
    assert info.value.reason == "in_response_to"


@pytest.mark.parametrize("field", ["name_id", "email"])
def test_comment_injection_does_not_truncate_the_identity(login: Login, field: str) -> None:
    """``alice@example.com<!---->.evil.test`` must read as the whole signed value."""
    signed_value = "alice@example.com.evil.test"
    root = login.signed(**{field: signed_value})
    for node in root.iter():
        if node.text == signed_value:
            node.text = "alice@example.com"
            node.append(etree.Comment(""))
            node[-1].tail = ".evil.test"
    text = etree.tostring(root)
    assert b"alice@example.com<!---->.evil.test" in text
    identity = login.sp.validate_response(b64(text))
    assert identity.email == (signed_value if field == "email" else "alice@example.com")
    assert identity.subject == (signed_value if field == "name_id" else "alice@example.com")


def test_truncated_base64_is_refused(login: Login) -> None:
    raw = base64.b64encode(login.idp.signed_response(login.spec())[:500]).decode()
    with pytest.raises(SamlResponseError) as info:
        login.sp.validate_response(raw)
    assert info.value.reason == "malformed"
