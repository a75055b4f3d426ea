"""A minimal SAML service provider for tests: AuthnRequests out, signed Responses in.

Requests are built as plain XML (optionally signed: enveloped with signxml for the POST
binding, over the query string with ``cryptography`` for the Redirect binding). Responses
are checked with signxml against the IdP certificate taken from the IdP's metadata,
never against the certificate the response carries.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from qbizfed.local.idp.keys import SigningMaterial

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def saml_now(offset_seconds: int = 0) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_from_metadata(metadata: bytes | str) -> str:
    """The IdP signing certificate in the metadata, as PEM."""
    data = metadata.encode() if isinstance(metadata, str) else metadata
    root = etree.fromstring(data, parser=SAFE_PARSER)
    found = root.xpath(
        "//md:IDPSSODescriptor/md:KeyDescriptor[not(@use) or @use='signing']"
        "//ds:X509Certificate/text()",
        namespaces=NS,
    )
    if not found:
        raise AssertionError("no signing certificate in the IdP metadata")
    body = "".join(str(found[0]).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


@dataclass(frozen=True)
class VerifiedAssertion:
    response: etree._Element
    assertion: etree._Element

    def attribute(self, name: str) -> list[str]:
        return [
            str(v)
            for v in self.assertion.xpath(
                "saml:AttributeStatement/saml:Attribute[@Name=$n]/saml:AttributeValue/text()",
                namespaces=NS,
                n=name,
            )
        ]

    def text(self, path: str) -> str:
        found = self.assertion.find(path, NS)
        return "" if found is None or found.text is None else found.text

    def get(self, path: str, attribute: str) -> str:
        found = self.assertion.find(path, NS)
        return "" if found is None else str(found.get(attribute, ""))


def verify_saml_response(xml: bytes, certificate_pem: str) -> VerifiedAssertion:
    """Verify the Response signature and the Assertion signature; return what they cover."""
    config = SignatureConfiguration(
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}), location="./"
    )
    outer = XMLVerifier().verify(
        xml, x509_cert=certificate_pem, id_attribute="ID", expect_config=config
    )
    assert not isinstance(outer, list)
    response = outer.signed_xml
    assert response is not None
    assert response.tag == f"{{{NS['samlp']}}}Response"
    assertions = response.findall("saml:Assertion", NS)
    assert len(assertions) == 1, "exactly one assertion expected"
    inner = XMLVerifier().verify(
        etree.tostring(assertions[0]),
        x509_cert=certificate_pem,
        id_attribute="ID",
        expect_config=config,
    )
    assert not isinstance(inner, list)
    assertion = inner.signed_xml
    assert assertion is not None
    assert assertion.tag == f"{{{NS['saml']}}}Assertion"
    return VerifiedAssertion(response=response, assertion=assertion)


@dataclass
class TestServiceProvider:
    entity_id: str
    acs_url: str
    keys: SigningMaterial | None = None

    __test__ = False  # not a pytest test class

    def authn_request(
        self,
        *,
        destination: str | None,
        request_id: str | None = None,
        acs_url: str | None = None,
        issuer: str | None = None,
        issue_instant: str | None = None,
        sign: bool = False,
        protocol_binding: str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    ) -> bytes:
        root = etree.Element(
            f"{{{NS['samlp']}}}AuthnRequest",
            nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
        )
        root.set("ID", request_id or "_" + uuid.uuid4().hex)
        root.set("Version", "2.0")
        root.set("IssueInstant", issue_instant or saml_now())
        if destination is not None:
            root.set("Destination", destination)
        root.set("AssertionConsumerServiceURL", acs_url or self.acs_url)
        root.set("ProtocolBinding", protocol_binding)
        etree.SubElement(root, f"{{{NS['saml']}}}Issuer").text = issuer or self.entity_id
        if sign:
            assert self.keys is not None
            etree.SubElement(
                root, f"{{{NS['ds']}}}Signature", {"Id": "placeholder"}, nsmap={"ds": NS["ds"]}
            )
            # Schema order: Signature right after Issuer.
            root = XMLSigner(
                signature_algorithm=SignatureMethod.RSA_SHA256,
                c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
            ).sign(root, key=self.keys.private_key, cert=[self.keys.certificate], id_attribute="ID")
        return bytes(etree.tostring(root))

    def redirect_url(
        self, sso_url: str, xml: bytes, *, relay_state: str | None = None, sign: bool = False
    ) -> str:
        """The HTTP-Redirect binding URL (DEFLATE, base64, optional query signature)."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = compressor.compress(xml) + compressor.flush()
        query = "SAMLRequest=" + quote_plus(base64.b64encode(deflated).decode())
        if relay_state is not None:
            query += "&RelayState=" + quote_plus(relay_state)
        if sign:
            assert self.keys is not None
            query += "&SigAlg=" + quote_plus(RSA_SHA256)
            signature = self.keys.private_key.sign(
                query.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            query += "&Signature=" + quote_plus(base64.b64encode(signature).decode())
        return f"{sso_url}?{query}"

    @staticmethod
    def post_fields(xml: bytes, relay_state: str | None = None) -> dict[str, str]:
        fields = {"SAMLRequest": base64.b64encode(xml).decode()}
        if relay_state is not None:
            fields["RelayState"] = relay_state
        return fields
