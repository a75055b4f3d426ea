"""Hostile or broken AuthnRequests sent to the dev IdP's SSO endpoint, named by attack.

An AuthnRequest the IdP cannot trust gets an error page (400) and no SAMLResponse:
an unknown SP, an unsigned or badly signed request from an SP that signs, an ACS URL
the SP never registered, XML with DTDs/entities, compression bombs, stale requests.
"""

from __future__ import annotations

import base64
import html
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote_plus

import pytest

from qbizfed.local.idp.keys import generate_signing_material
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider
from tests.peers.flows import stateless_client
from tests.peers.saml_sp import TestServiceProvider, saml_now

HTTP = stateless_client()  # one pooled client for plain requests

OPEN_SP = "https://open-sp.example.test/metadata"
OPEN_ACS = "https://open-sp.example.test/acs"
SIGNING_SP = "https://signing-sp.example.test/metadata"
SIGNING_ACS = "https://signing-sp.example.test/acs"
SP_KEYS = generate_signing_material("signing-sp")
ATTACKER_KEYS = generate_signing_material("attacker")


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    sps = (
        ServiceProvider(OPEN_SP, (OPEN_ACS,)),
        ServiceProvider(SIGNING_SP, (SIGNING_ACS,), certificate_pem=SP_KEYS.certificate_pem),
    )
    with DevIdp(DevIdpSettings(port=0, service_providers=sps)) as running:
        yield running


@dataclass(frozen=True)
class Sent:
    """How an attack reaches the SSO endpoint: a GET URL or POST fields."""

    url: str | None = None
    form: dict[str, str] | None = None


Attack = Callable[[DevIdp], Sent]

open_sp = TestServiceProvider(OPEN_SP, OPEN_ACS)
signing_sp = TestServiceProvider(SIGNING_SP, SIGNING_ACS, keys=SP_KEYS)
attacker_as_signing_sp = TestServiceProvider(SIGNING_SP, SIGNING_ACS, keys=ATTACKER_KEYS)


def _redirect(sp: TestServiceProvider, idp: DevIdp, *, sign: bool = False, **kw: str) -> Sent:
    xml = sp.authn_request(destination=idp.saml_sso_url, **kw)  # type: ignore[arg-type]
    return Sent(url=sp.redirect_url(idp.saml_sso_url, xml, sign=sign))


def _post(xml: bytes) -> Sent:
    return Sent(form=TestServiceProvider.post_fields(xml))


def _raw_redirect(idp: DevIdp, xml: bytes) -> Sent:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(xml) + compressor.flush()
    return Sent(url=f"{idp.saml_sso_url}?SAMLRequest={quote_plus(base64.b64encode(data).decode())}")


def _tampered_after_signing(idp: DevIdp) -> bytes:
    xml = signing_sp.authn_request(destination=idp.saml_sso_url, sign=True)
    return xml.replace(SIGNING_ACS.encode(), b"https://attacker.test/acs")


def _wrapped_signature(idp: DevIdp) -> bytes:
    """Signature wrapping: a validly signed request hidden inside an unsigned evil one."""
    genuine = signing_sp.authn_request(destination=idp.saml_sso_url, sign=True)
    evil = open_sp.authn_request(
        destination=idp.saml_sso_url, issuer=SIGNING_SP, acs_url="https://attacker.test/acs"
    )
    return evil.replace(b"</samlp:AuthnRequest>", b"<samlp:Extensions>" + genuine.split(b"?>")[-1]
                        + b"</samlp:Extensions></samlp:AuthnRequest>")  # fmt: skip


def _sha1_signed_redirect(idp: DevIdp) -> Sent:
    sent = _redirect(signing_sp, idp, sign=True)
    assert sent.url is not None
    return Sent(
        url=sent.url.replace("rsa-sha256", "rsa-sha1").replace("xmldsig-more%23", "xmldsig%23")
    )


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0"
 IssueInstant="NOW"><saml:Issuer>&lol3;</saml:Issuer></samlp:AuthnRequest>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0"
 IssueInstant="NOW"><saml:Issuer>https://open-sp.example.test/metadata&xxe;</saml:Issuer>
</samlp:AuthnRequest>"""

NOT_AN_AUTHN_REQUEST = b"""<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
 xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" IssueInstant="NOW">
 <saml:Issuer>https://open-sp.example.test/metadata</saml:Issuer></samlp:LogoutRequest>"""


def _now(xml: bytes) -> bytes:
    return xml.replace(b"NOW", saml_now().encode())


ATTACKS: dict[str, Attack] = {
    "unknown_sp_issuer": lambda idp: _redirect(
        TestServiceProvider("https://attacker.test/sp", OPEN_ACS), idp
    ),
    "missing_issuer_post": lambda idp: _post(
        open_sp.authn_request(destination=idp.saml_sso_url).replace(
            f"<saml:Issuer>{OPEN_SP}</saml:Issuer>".encode(), b""
        )
    ),
    "unregistered_acs_url_open_redirect": lambda idp: _redirect(
        open_sp, idp, acs_url="https://attacker.test/acs"
    ),
    "other_sps_acs_url": lambda idp: _redirect(open_sp, idp, acs_url=SIGNING_ACS),
    "wrong_destination": lambda idp: Sent(
        url=open_sp.redirect_url(
            idp.saml_sso_url, open_sp.authn_request(destination="https://other-idp.test/sso")
        )
    ),
    "stale_issue_instant_replay": lambda idp: _redirect(
        open_sp, idp, issue_instant="2020-01-01T00:00:00Z"
    ),
    "future_issue_instant": lambda idp: _redirect(open_sp, idp, issue_instant=saml_now(3600)),
    "artifact_binding_asked": lambda idp: _redirect(
        open_sp, idp, protocol_binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
    ),
    "unsigned_redirect_for_signing_sp": lambda idp: _redirect(signing_sp, idp),
    "unsigned_post_for_signing_sp": lambda idp: _post(
        signing_sp.authn_request(destination=idp.saml_sso_url)
    ),
    "redirect_signed_by_attacker_key": lambda idp: _redirect(
        attacker_as_signing_sp, idp, sign=True
    ),
    "post_signed_by_attacker_key": lambda idp: _post(
        attacker_as_signing_sp.authn_request(destination=idp.saml_sso_url, sign=True)
    ),
    "post_tampered_after_signing": lambda idp: _post(_tampered_after_signing(idp)),
    "post_signature_wrapping": lambda idp: _post(_wrapped_signature(idp)),
    "redirect_sha1_signature_downgrade": _sha1_signed_redirect,
    "billion_laughs_entities_post": lambda idp: _post(_now(BILLION_LAUGHS)),
    "billion_laughs_entities_redirect": lambda idp: _raw_redirect(idp, _now(BILLION_LAUGHS)),
    "xxe_external_entity": lambda idp: _post(_now(XXE_FILE)),
    "xxe_hidden_in_utf16": lambda idp: _post(
        _now(XXE_FILE).replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16")
    ),
    "not_an_authn_request": lambda idp: _post(_now(NOT_AN_AUTHN_REQUEST)),
    "deflate_bomb": lambda idp: _raw_redirect(idp, b"<a>" + b" " * 20_000_000 + b"</a>"),
    "garbage_not_base64": lambda idp: Sent(url=idp.saml_sso_url + "?SAMLRequest=%%%%"),
    "garbage_not_xml": lambda idp: _post(b"this is not xml"),
    "no_saml_request_at_all": lambda idp: Sent(url=idp.saml_sso_url),
    "idp_initiated_for_unknown_sp": lambda idp: Sent(
        url=idp.saml_sso_url + "?providerId=https://attacker.test/sp"
    ),
    "overlong_relay_state": lambda idp: Sent(
        url=_redirect(open_sp, idp).url + "&RelayState=" + "x" * 5000  # type: ignore[operator]
    ),
}


# Why each attack must be refused (a fragment of the error page), so a case cannot pass
# for an unrelated reason.
REASONS = {
    "unknown_sp_issuer": "unknown service provider",
    "missing_issuer_post": "unknown service provider",
    "unregistered_acs_url_open_redirect": "AssertionConsumerServiceURL is not registered",
    "other_sps_acs_url": "AssertionConsumerServiceURL is not registered",
    "wrong_destination": "Destination is not",
    "stale_issue_instant_replay": "IssueInstant is too far",
    "future_issue_instant": "IssueInstant is too far",
    "artifact_binding_asked": "HTTP-POST binding only",
    "unsigned_redirect_for_signing_sp": "must sign",
    "unsigned_post_for_signing_sp": "must sign",
    "redirect_signed_by_attacker_key": "signature does not verify",
    "post_signed_by_attacker_key": "signature does not verify",
    "post_tampered_after_signing": "signature does not verify",
    "post_signature_wrapping": "must sign",
    "redirect_sha1_signature_downgrade": "RSA-SHA256 only",
    "billion_laughs_entities_post": "DTDs and entities are not allowed",
    "billion_laughs_entities_redirect": "DTDs and entities are not allowed",
    "xxe_external_entity": "DTDs and entities are not allowed",
    "xxe_hidden_in_utf16": "DTDs",
    "not_an_authn_request": "not an AuthnRequest",
    "deflate_bomb": "inflates to more than",
    "garbage_not_base64": "not well-formed",
    "garbage_not_xml": "not well-formed",
    "no_saml_request_at_all": "no SAMLRequest",
    "idp_initiated_for_unknown_sp": "unknown service provider",
    "overlong_relay_state": "RelayState is too long",
}


def test_every_attack_has_a_reason() -> None:
    assert set(REASONS) == set(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_untrusted_authn_request_gets_no_saml_response(idp: DevIdp, attack: str) -> None:
    sent = ATTACKS[attack](idp)
    if sent.url is not None:
        response = HTTP.get(sent.url)
    else:
        response = HTTP.post(idp.saml_sso_url, data=sent.form)
    assert response.status_code == 400, response.text[:500]
    assert REASONS[attack] in html.unescape(response.text)
    assert "SAMLResponse" not in response.text
    assert "root:" not in response.text, "file contents leaked"
    assert 'name="password"' not in response.text, "no login form for an untrusted request"


def test_the_same_sp_signing_properly_is_accepted(idp: DevIdp) -> None:
    """Control case: the table above fails for the attack, not for the set-up."""
    sent = _redirect(signing_sp, idp, sign=True)
    assert sent.url is not None
    response = HTTP.get(sent.url)
    assert response.status_code == 200
    assert 'name="password"' in response.text
    posted = HTTP.post(
        idp.saml_sso_url,
        data=TestServiceProvider.post_fields(
            signing_sp.authn_request(destination=idp.saml_sso_url, sign=True)
        ),
    )
    assert posted.status_code == 200
    assert 'name="password"' in posted.text
