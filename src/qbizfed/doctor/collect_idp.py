"""Read the OIDC IdP the way STS and a browser do: discovery, JWKS, redirect-URI probes.

Plain HTTP GETs through an injected ``httpx.Client`` (redirects not followed). The
redirect-URI probe is an authorization request with ``prompt=none``: it cannot log
anyone in or issue a code, and tells whether the IdP accepts the redirect URI.
"""

from __future__ import annotations

import httpx

from qbizfed.doctor.facts import (
    HttpDocument,
    OidcIdpFacts,
    RedirectProbe,
    Unreadable,
    WebExperienceFacts,
)
from qbizfed.settings.stack import StackConfig

MAX_DOCUMENT_BYTES = 512 * 1024


def fetch_json(http: httpx.Client, url: str) -> HttpDocument:
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        return HttpDocument(url, error=f"cannot be reached ({type(exc).__name__})")
    if response.status_code != 200:
        return HttpDocument(url, status=response.status_code,
                            error=f"answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        return HttpDocument(url, status=200, error="answered more than 512 KiB")
    try:
        document = response.json()
    except ValueError:
        return HttpDocument(url, status=200, error="did not answer JSON")
    if not isinstance(document, dict):
        return HttpDocument(url, status=200, error="did not answer a JSON object")
    return HttpDocument(url, status=200, document=document)


def probe_redirect_uri(http: httpx.Client, authorization_endpoint: str, client_id: str,
                       redirect_uri: str) -> RedirectProbe:
    """Ask the IdP to authorize ``redirect_uri`` with ``prompt=none`` (no login, no code).

    OpenID Connect Core 3.1.2.6: with a registered redirect URI and no session, the IdP
    redirects back there with ``error=login_required``; an unregistered one must never
    be redirected to, so the IdP answers with an error page instead.
    """
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid", "prompt": "none", "state": "qbizfed-doctor-probe"}
    try:
        response = http.get(authorization_endpoint, params=params)
    except httpx.HTTPError as exc:
        return RedirectProbe(redirect_uri, None, f"no answer ({type(exc).__name__})")
    if response.is_redirect:
        location = response.headers.get("location", "")
        if location.startswith(redirect_uri):
            return RedirectProbe(redirect_uri, True, "redirected back (registered)")
        return RedirectProbe(redirect_uri, None, "redirected elsewhere")
    if 400 <= response.status_code < 500:
        return RedirectProbe(redirect_uri, False, f"refused with HTTP {response.status_code}")
    return RedirectProbe(redirect_uri, None, f"answered HTTP {response.status_code}")


def collect_oidc_idp(issuer_url: str, http: httpx.Client, *, client_id: str = "",
                     redirect_uris: tuple[str, ...] = ()) -> OidcIdpFacts:
    discovery = fetch_json(http, issuer_url.rstrip("/") + "/.well-known/openid-configuration")
    jwks_uri = (discovery.document or {}).get("jwks_uri")
    jwks = fetch_json(http, jwks_uri) if isinstance(jwks_uri, str) and jwks_uri else None
    endpoint = (discovery.document or {}).get("authorization_endpoint")
    probes: tuple[RedirectProbe, ...] = ()
    if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")) and client_id:
        probes = tuple(probe_redirect_uri(http, endpoint, client_id, uri)
                       for uri in redirect_uris)
    return OidcIdpFacts(discovery=discovery, jwks=jwks, redirect_probes=probes)


def expected_redirect_uris(config: StackConfig,
                           web_experiences: tuple[WebExperienceFacts, ...] | Unreadable
                           ) -> tuple[str, ...]:
    """Where the IdP must be allowed to send users back (``admin``'s IdP instructions)."""
    assert config.oidc is not None
    uris = []
    if isinstance(web_experiences, tuple):
        uris += [w.endpoint.rstrip("/") + "/authorization-code/callback"
                 for w in web_experiences if w.endpoint]
    if config.oidc.redirect_uri:
        uris.append(config.oidc.redirect_uri)
    return tuple(dict.fromkeys(uris))
