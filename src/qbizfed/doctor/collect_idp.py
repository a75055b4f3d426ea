"""Read the OIDC IdP the way STS and a browser do: discovery, JWKS, redirect-URI probes.

The discovery document and the JWKS come through the product's one fetcher
(:func:`qbizfed.identity.discovery.fetch_json`, with the injected client's timeout), but
kept as they are: doctor reports a document that names another issuer instead of
refusing it. The redirect-URI probe is a plain GET through the injected ``httpx.Client``
(redirects not followed): an authorization request with ``prompt=none``, which cannot log
anyone in or issue a code, and tells whether the IdP accepts the redirect URI.
"""

from __future__ import annotations

import httpx

from qbizfed.doctor.facts import HttpDocument, OidcIdpFacts, RedirectProbe
from qbizfed.identity.discovery import fetch_blocking, fetch_json, well_known_url
from qbizfed.identity.errors import IdpUnreachableError


def read_document(url: str, *, what: str, timeout: httpx.Timeout) -> HttpDocument:
    """A JSON object from the IdP, or why it could not be read."""
    try:
        document = fetch_blocking(lambda http: fetch_json(http, url, what=what), timeout=timeout)
    except IdpUnreachableError as exc:
        return HttpDocument(url, status=exc.status, error=exc.answer)
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
    discovery = read_document(well_known_url(issuer_url), what="discovery document",
                              timeout=http.timeout)
    jwks_uri = (discovery.document or {}).get("jwks_uri")
    jwks = (read_document(jwks_uri, what="JWKS", timeout=http.timeout)
            if isinstance(jwks_uri, str) and jwks_uri else None)
    endpoint = (discovery.document or {}).get("authorization_endpoint")
    probes: tuple[RedirectProbe, ...] = ()
    if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")) and client_id:
        probes = tuple(probe_redirect_uri(http, endpoint, client_id, uri)
                       for uri in redirect_uris)
    return OidcIdpFacts(discovery=discovery, jwks=jwks, redirect_probes=probes)

