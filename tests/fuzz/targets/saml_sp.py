"""Fuzz target: the SAML service provider's response validation (``validate_response``).

Input: a mode byte, then either XML (base64-encoded here, as the HTTP-POST binding
carries it) or the raw ``SAMLResponse`` form value. Allowed outcome: an identity, or a
:class:`qbizfed.errors.QbizfedError`. Seeds are a genuine signed response, an unsigned
one and a wrapped one, so mutations start next to the interesting paths.
"""

from __future__ import annotations

import base64
import contextlib
import copy

from lxml import etree

from qbizfed.errors import QbizfedError
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from tests.support.rp_idp import NS, SamlIdp

SP_ENTITY = "https://app.fuzz.test/saml/metadata"
ACS = "https://app.fuzz.test/saml/acs"
MODE_XML = b"\x00"
MODE_FORM_VALUE = b"\x01"


class SamlSpTarget:
    name = "saml_sp"

    def __init__(self) -> None:
        self.idp = SamlIdp()
        settings = SamlSpSettings(
            sp_entity_id=SP_ENTITY,
            acs_url=ACS,
            idp_entity_id=self.idp.entity_id,
            idp_sso_url=self.idp.entity_id + "/sso",
            idp_certificates=(self.idp.key.cert_pem,),
        )
        self.sp = SamlServiceProvider(
            settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache()
        )
        self.request_id = self.sp.authn_request().request_id

    def seeds(self) -> list[bytes]:
        spec = self.idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS, in_response_to=self.request_id)
        signed = self.idp.signed_response(spec)
        wrapped = etree.fromstring(signed)
        original = wrapped.find("saml:Assertion", NS)
        assert original is not None
        evil = copy.deepcopy(original)
        evil.set("ID", "_evil")
        original.addprevious(evil)
        return [
            MODE_XML + signed,
            MODE_XML + self.idp.response_xml(spec).encode(),
            MODE_XML + etree.tostring(wrapped),
            MODE_FORM_VALUE + base64.b64encode(signed),
        ]

    def check(self, data: bytes) -> None:
        mode, payload = data[:1], data[1:]
        if mode == MODE_FORM_VALUE:
            value = payload.decode("utf-8", errors="replace")
        else:
            value = base64.b64encode(payload).decode()
        with contextlib.suppress(QbizfedError):
            self.sp.validate_response(value)
