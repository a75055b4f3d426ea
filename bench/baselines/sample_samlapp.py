"""The AWS sample's ``samlapp.py``, re-created as it is: the SAML benchmarks' baseline.

Same paths as the sample (``/login/saml``, the ACS ``/saml``) and the sample's design,
kept on purpose because it is what is being measured:

* FastAPI ``async def`` handlers; the ACS calls
  ``boto3.client("sts").assume_role_with_saml`` synchronously (a new client per
  request), blocking the event loop for the whole STS round trip of every user;
* no validation at all: the posted ``SAMLResponse`` is base64-decoded, escaped for the
  page and handed to STS as it came (no signature, audience, recipient, time window,
  ``InResponseTo`` or replay check: whatever STS accepts signs the user in);
* the AuthnRequest is hand-written XML, base64 without DEFLATE, asking for
  ``AssertionConsumerServiceIndex="0"``, with a constant ``RelayState``;
* any STS error is caught and shown in a 200 page.

Deliberate differences: the sample prints the received assertion and the credentials
(and ``export`` lines) into the page; this copy does the same decoding and escaping but
renders neither (secrets are never rendered in this repository). The dev IdP refuses
the sample's AuthnRequest (not DEFLATE-compressed, and an ACS index instead of a URL,
as strict IdPs do), so the benchmark starts the baseline's logins IdP-initiated, as
from an IdP's application tile; the ACS work measured is the sample's. Benchmark code
only: never deploy this.
"""

from __future__ import annotations

import base64
import datetime
import html
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import boto3
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

SIGNED_IN = "AssumeRoleWithSAML Response"
STS_ERROR = "Error calling AWS API"


@dataclass(frozen=True)
class SampleSamlSettings:
    idp_sso_url: str
    sp_issuer: str
    """The sample's ``IDP_ISSUER``: the Issuer it writes into its AuthnRequest."""
    acs_url: str
    role_arn: str
    provider_arn: str
    region: str
    aws_endpoint_url: str | None = None


def decode_for_the_page(saml_response: str) -> str:
    """What the sample does with a posted response before STS: decode it, escape it."""
    return html.escape(base64.b64decode(saml_response).decode("utf-8"))


def _authn_request(settings: SampleSamlSettings) -> str:
    """The sample's hand-written AuthnRequest (no library, no signature)."""
    instant = datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat()
    return (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="{secrets.token_hex(16)}" Version="2.0" IssueInstant="{instant}" '
        f'Destination="{settings.idp_sso_url}" AssertionConsumerServiceIndex="0" '
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f"<saml:Issuer>{settings.sp_issuer}</saml:Issuer></samlp:AuthnRequest>"
    )


def create_sample_saml_app(settings: SampleSamlSettings) -> FastAPI:
    app = FastAPI()

    @app.get("/login/saml")
    async def login() -> Response:
        encoded = base64.b64encode(_authn_request(settings).encode()).decode()
        query = urlencode({"SAMLRequest": encoded, "RelayState": "/some/path"})
        return RedirectResponse(f"{settings.idp_sso_url}?{query}")

    @app.post("/saml")
    async def saml_endpoint(request: Request) -> Response:
        form = await request.form()
        saml_response = form.get("SAMLResponse")
        if not isinstance(saml_response, str) or not saml_response:
            return HTMLResponse("No SAML response received", status_code=400)
        escaped = decode_for_the_page(saml_response)
        page = f"<html><body><h2>Received SAML Assertion:</h2><p>{len(escaped)} characters</p>"
        # Blocking I/O inside an async handler: the event loop stalls for every user.
        sts = boto3.client(
            "sts", region_name=settings.region, endpoint_url=settings.aws_endpoint_url
        )
        try:
            answer = sts.assume_role_with_saml(
                RoleArn=settings.role_arn,
                DurationSeconds=3600,
                PrincipalArn=settings.provider_arn,
                SAMLAssertion=saml_response,
            )
            expires = answer["Credentials"]["Expiration"]
            page += f"<h2>{SIGNED_IN}:</h2><p>credentials expire at {expires}</p>"
        except Exception as exc:  # the sample's catch-all: the error lands in a 200 page
            page += f"<h2>{STS_ERROR}:</h2><pre>{html.escape(str(exc))}</pre>"
        return HTMLResponse(page + "</body></html>", status_code=200)

    return app
