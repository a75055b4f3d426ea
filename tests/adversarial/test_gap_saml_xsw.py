"""The XML signature wrapping family XSW1–XSW8, named as SAML Raider names them.

Each attack starts from a response signed by the trusted IdP key for alice and
rearranges it so that a careless verifier checks the signature over one element but
reads the identity (mallory) from another. Both consumers of SAML responses are
attacked: the service provider (``SamlServiceProvider.validate_response``, used by
``serve``) and the local STS's assertion validation (``AssumeRoleWithSAML``). Every
case must be refused with the consumer's typed error, never accepted and never
crash. Control cases prove the untouched response is accepted by both.

- XSW1: an evil Response is the root; the signed Response hides inside its Signature.
- XSW2: like XSW1, with the signed Response placed before the Signature (detached).
- XSW3: an evil Assertion (new ID) is inserted before the signed one.
- XSW4: an evil Assertion (new ID) wraps the signed one as its child.
- XSW5: the signed Assertion's values are changed; an untouched, unsigned copy is
  appended at the end of the Response.
- XSW6: the signed Assertion's values are changed; an untouched copy sits inside its
  Signature.
- XSW7: an Extensions block carries the signed Assertion; an evil unsigned copy takes
  its place.
- XSW8: the signed Assertion's values are changed; a ds:Object inside its Signature
  carries the untouched copy without signature.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from lxml import etree

from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from qbizfed.local.moto_backend import SamlProvider
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.saml_response import validate_saml_response
from tests.support.rp_idp import SamlIdp

SP_ENTITY = "https://app.rp-test.example/saml/metadata"
ACS = "https://app.rp-test.example/saml/acs"
SIGN_IN = "https://signin.aws.amazon.com/saml"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/QBizWeb"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/TestIdp"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
EVIL = "mallory@evil.test"


def _evil(element: etree._Element, *, new_id: str | None = None,
          keep_signature: bool = False) -> etree._Element:  # fmt: skip
    """``element`` (deep copy) with mallory's identity, optionally without signatures."""
    clone = copy.deepcopy(element)
    if not keep_signature:
        for signature in clone.iter(DS + "Signature"):
            signature.getparent().remove(signature)
    for node in clone.iter(SAML + "NameID", SAML + "AttributeValue"):
        if node.text and "alice@example.com" in node.text:
            node.text = EVIL
    if new_id:
        clone.set("ID", new_id)
    return clone


def _unsigned(element: etree._Element) -> etree._Element:
    clone = copy.deepcopy(element)
    for signature in list(clone.iter(DS + "Signature")):
        signature.getparent().remove(signature)
    return clone


def _assertion(root: etree._Element) -> etree._Element:
    found = root.find(SAML + "Assertion")
    assert found is not None
    return found


def _own_signature(element: etree._Element) -> etree._Element:
    found = element.find(DS + "Signature")
    assert found is not None
    return found


def xsw1(response: etree._Element) -> etree._Element:
    evil = _evil(response, new_id="_evil-response", keep_signature=True)
    _own_signature(evil).append(copy.deepcopy(response))
    for inner in _assertion(evil).iter(DS + "Signature"):
        inner.getparent().remove(inner)
    return evil


def xsw2(response: etree._Element) -> etree._Element:
    evil = _evil(response, new_id="_evil-response", keep_signature=True)
    _own_signature(evil).addprevious(copy.deepcopy(response))
    for inner in _assertion(evil).iter(DS + "Signature"):
        inner.getparent().remove(inner)
    return evil


def xsw3(response: etree._Element) -> etree._Element:
    original = _assertion(response)
    original.addprevious(_evil(original, new_id="_evil-assertion"))
    return response


def xsw4(response: etree._Element) -> etree._Element:
    original = _assertion(response)
    evil = _evil(original, new_id="_evil-assertion")
    original.addprevious(evil)
    response.remove(original)
    evil.append(original)
    return response


def xsw5(response: etree._Element) -> etree._Element:
    original = _assertion(response)
    untouched = _unsigned(original)
    original.addprevious(_evil(original, keep_signature=True))
    response.remove(original)
    response.append(untouched)
    return response


def xsw6(response: etree._Element) -> etree._Element:
    original = _assertion(response)
    untouched = _unsigned(original)
    evil = _evil(original, keep_signature=True)
    original.addprevious(evil)
    response.remove(original)
    _own_signature(evil).append(untouched)
    return response


def xsw7(response: etree._Element) -> etree._Element:
    original = _assertion(response)
    original.addprevious(_evil(original))
    response.remove(original)
    extensions = etree.Element(SAMLP + "Extensions")
    extensions.append(original)
    issuer = response.find(SAML + "Issuer")
    assert issuer is not None
    issuer.addnext(extensions)
    return response


def xsw8(response: etree._Element) -> etree._Element:
    original = _assertion(response)
    untouched = _unsigned(original)
    evil = _evil(original, keep_signature=True)
    original.addprevious(evil)
    response.remove(original)
    holder = etree.SubElement(_own_signature(evil), DS + "Object")
    holder.append(untouched)
    return response


@dataclass(frozen=True)
class Wrapping:
    apply: Callable[[etree._Element], etree._Element]
    signs_response: bool


XSW: dict[str, Wrapping] = {
    "xsw1_evil_response_with_signed_response_inside_its_signature": Wrapping(xsw1, True),
    "xsw2_evil_response_with_signed_response_before_its_signature": Wrapping(xsw2, True),
    "xsw3_evil_assertion_before_the_signed_one": Wrapping(xsw3, False),
    "xsw4_evil_assertion_wrapping_the_signed_one": Wrapping(xsw4, False),
    "xsw5_signed_assertion_changed_untouched_copy_appended": Wrapping(xsw5, False),
    "xsw6_signed_assertion_changed_untouched_copy_inside_signature": Wrapping(xsw6, False),
    "xsw7_signed_assertion_moved_into_extensions": Wrapping(xsw7, False),
    "xsw8_signed_assertion_changed_copy_in_signature_object": Wrapping(xsw8, False),
}


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return SamlIdp()


def service_provider(idp: SamlIdp) -> SamlServiceProvider:
    settings = SamlSpSettings(
        sp_entity_id=SP_ENTITY, acs_url=ACS, idp_entity_id=idp.entity_id,
        idp_sso_url=idp.entity_id + "/sso", idp_certificates=(idp.key.cert_pem,),
    )  # fmt: skip
    return SamlServiceProvider(settings, requests=MemoryRequestIdStore(),
                               replay=MemoryReplayCache())  # fmt: skip


def signed(idp: SamlIdp, *, for_sts: bool, request_id: str | None,
           signs_response: bool) -> etree._Element:  # fmt: skip
    if for_sts:
        spec = idp.spec(sp_entity_id="urn:amazon:webservices", acs_url=SIGN_IN)
    else:
        spec = idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS, in_response_to=request_id)
    return etree.fromstring(idp.signed_response(spec, sign_assertion=True,
                                                sign_response=signs_response))  # fmt: skip


def to_sp(idp: SamlIdp, sp: SamlServiceProvider, root: etree._Element) -> str:
    return sp.validate_response(base64.b64encode(etree.tostring(root)).decode()).email


def to_sts(idp: SamlIdp, root: etree._Element) -> str:
    provider = SamlProvider(arn=PROVIDER_ARN, name="TestIdp", metadata_document=idp.metadata_xml())
    identity = validate_saml_response(base64.b64encode(etree.tostring(root)).decode(),
                                      provider=provider, role_arn=ROLE_ARN,
                                      now=datetime.now(UTC))  # fmt: skip
    return identity.session_name


@pytest.mark.parametrize("signs_response", [False, True], ids=["assertion_signed", "both_signed"])
def test_control_the_untouched_response_is_accepted_by_both(
    idp: SamlIdp, signs_response: bool
) -> None:
    sp = service_provider(idp)
    request_id = sp.authn_request().request_id
    root = signed(idp, for_sts=False, request_id=request_id, signs_response=signs_response)
    assert to_sp(idp, sp, root) == "alice@example.com"
    assert to_sts(idp, signed(idp, for_sts=True, request_id=None,
                              signs_response=signs_response)) == "alice@example.com"  # fmt: skip


@pytest.mark.parametrize("attack", list(XSW))
def test_signature_wrapping_is_refused_by_the_service_provider(idp: SamlIdp, attack: str) -> None:
    sp = service_provider(idp)
    request_id = sp.authn_request().request_id
    wrapping = XSW[attack]
    root = wrapping.apply(signed(idp, for_sts=False, request_id=request_id,
                                 signs_response=wrapping.signs_response))  # fmt: skip
    assert EVIL.encode() in etree.tostring(root)  # the attack really carries mallory
    with pytest.raises(SamlResponseError) as refusal:
        to_sp(idp, sp, root)
    assert refusal.value.reason == "assertion_count", str(refusal.value)
    assert EVIL not in refusal.value.diagnostics()


@pytest.mark.parametrize("attack", list(XSW))
def test_signature_wrapping_is_refused_by_the_local_sts(idp: SamlIdp, attack: str) -> None:
    wrapping = XSW[attack]
    root = wrapping.apply(signed(idp, for_sts=True, request_id=None,
                                 signs_response=wrapping.signs_response))  # fmt: skip
    assert EVIL.encode() in etree.tostring(root)
    with pytest.raises(StsRefusalError) as refusal:
        to_sts(idp, root)
    assert refusal.value.code == "InvalidIdentityToken"
    assert "it must contain exactly one Assertion" in refusal.value.message
    assert EVIL not in refusal.value.message
