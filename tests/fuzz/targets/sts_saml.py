"""Fuzz target: the local STS's SAML assertion validation (AssumeRoleWithSAML).

``validate_saml_response`` against one IAM SAML provider built from a test IdP's
metadata. Input as for the SP target: a mode byte, then XML (base64-encoded here) or
the raw ``SAMLAssertion`` parameter. Allowed outcome: a SAML identity or an
:class:`StsRefusalError`.
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime

from qbizfed.local.moto_backend import SamlProvider
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.saml_response import validate_saml_response
from tests.support.rp_idp import SamlIdp

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/QBizWeb"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/TestIdp"
SIGN_IN = "https://signin.aws.amazon.com/saml"
MODE_XML = b"\x00"
MODE_PARAMETER = b"\x01"


class StsSamlTarget:
    name = "sts_saml"

    def __init__(self) -> None:
        self.idp = SamlIdp()
        self.provider = SamlProvider(
            arn=PROVIDER_ARN, name="TestIdp", metadata_document=self.idp.metadata_xml()
        )

    def seeds(self) -> list[bytes]:
        spec = self.idp.spec(sp_entity_id="urn:amazon:webservices", acs_url=SIGN_IN)
        signed = self.idp.signed_response(spec)
        return [
            MODE_XML + signed,
            MODE_XML + self.idp.signed_response(spec, sign_assertion=False, sign_response=True),
            MODE_XML + self.idp.response_xml(spec).encode(),
            MODE_PARAMETER + base64.b64encode(signed),
        ]

    def check(self, data: bytes) -> None:
        mode, payload = data[:1], data[1:]
        if mode == MODE_PARAMETER:
            value = payload.decode("utf-8", errors="replace")
        else:
            value = base64.b64encode(payload).decode()
        with contextlib.suppress(StsRefusalError):
            validate_saml_response(
                value, provider=self.provider, role_arn=ROLE_ARN, now=datetime.now(UTC)
            )
