"""The AWS sample's ``oidcapp.py`` design, re-created as the benchmarks' baseline.

Same endpoints as ``qbizfed serve`` (``/login/oidc``, ``/auth/oidc/callback``), and the
sample's design choices, kept on purpose because they are what is being measured:

* ``async def`` handlers that call ``requests.post(token_endpoint)`` and
  ``boto3.client("sts").assume_role_with_web_identity`` synchronously, blocking the
  event loop for the whole IdP and STS round trips;
* no state, nonce or PKCE, and the ID token is decoded without verifying anything;
* a constant ``RoleSessionName``.

One deliberate difference: the sample prints the credentials into the page; this copy
only says who signed in (secrets are never rendered in this repository). Benchmark
code only: never deploy this.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import boto3
import requests
from fastapi import FastAPI
from starlette.responses import HTMLResponse, RedirectResponse, Response

SESSION_NAME = "oidc-session"  # the sample's constant


@dataclass(frozen=True)
class SampleSettings:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    role_arn: str
    region: str
    aws_endpoint_url: str | None = None


def _unverified_claims(id_token: str) -> dict[str, Any]:
    """What the sample does with the ID token: read it, check nothing."""
    payload = id_token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


def create_sample_app(settings: SampleSettings) -> FastAPI:
    discovery = requests.get(settings.issuer + "/.well-known/openid-configuration", timeout=10)
    metadata = discovery.json()
    app = FastAPI()

    @app.get("/login/oidc")
    async def login_oidc() -> Response:
        query = urlencode({
            "client_id": settings.client_id,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": settings.redirect_uri,
            "state": secrets.token_urlsafe(8),  # sent, never checked
        })  # fmt: skip
        return RedirectResponse(f"{metadata['authorization_endpoint']}?{query}", status_code=302)

    @app.get("/auth/oidc/callback")
    async def oidc_callback(code: str) -> Response:
        # Blocking I/O inside an async handler: the event loop stalls for every user.
        tokens = requests.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.redirect_uri,
            },
            auth=(settings.client_id, settings.client_secret),
            timeout=30,
        ).json()
        id_token = tokens["id_token"]
        email = _unverified_claims(id_token).get("email", "unknown")
        sts = boto3.client(
            "sts", region_name=settings.region, endpoint_url=settings.aws_endpoint_url
        )
        answer = sts.assume_role_with_web_identity(
            RoleArn=settings.role_arn, RoleSessionName=SESSION_NAME, WebIdentityToken=id_token
        )
        expires = answer["Credentials"]["Expiration"]
        return HTMLResponse(f"<p>Signed in as {email}; credentials expire at {expires}.</p>")

    return app
