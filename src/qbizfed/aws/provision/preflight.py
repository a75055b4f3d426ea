"""Checks made before any AWS call: is the IdP configuration usable at all?

* OIDC: the issuer answers ``/.well-known/openid-configuration``, its ``issuer`` is
  exactly the configured URL (IAM and STS compare it byte for byte with the token's
  ``iss``) and it names a JWKS, an authorization and a token endpoint.
* SAML: the metadata parses (DTDs, entities and network access forbidden), is an IdP
  descriptor, and carries a signing certificate, whose expiry is reported; an expired
  certificate is an error, one expiring within 30 days a warning.

Each problem is a :class:`~qbizfed.errors.ConfigError` naming the setting and the fix.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

import httpx
from cryptography import x509
from lxml import etree

from qbizfed.errors import ConfigError, NetworkError
from qbizfed.settings.stack import Mode, StackConfig

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXPIRY_WARNING = dt.timedelta(days=30)
MAX_DISCOVERY_BYTES = 512 * 1024


@dataclass(frozen=True)
class SamlMetadata:
    entity_id: str
    sso_urls: tuple[str, ...]
    certificate_expiries: tuple[dt.datetime, ...]


@dataclass(frozen=True)
class PreflightReport:
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True)


def parse_saml_metadata(document: str) -> SamlMetadata:
    """Parse IdP metadata; raise ConfigError if it is not usable by IAM."""
    setting = "saml.metadata_document (SAML_METADATA_DOCUMENT)"
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        raise ConfigError(f"{setting} contains a DTD or entity declaration",
                          remedy="use the IdP's metadata as published (no DOCTYPE)")
    try:
        root = etree.fromstring(document.encode("utf-8"), parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"{setting} is not well-formed XML: {exc}",
                          remedy="download the metadata XML again from the IdP") from exc
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        found = root.find(f"{{{MD_NS}}}EntityDescriptor")
        if found is None:
            raise ConfigError(f"{setting} has no EntityDescriptor",
                              remedy="use the metadata of one IdP")
        root = found
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise ConfigError(f"{setting} is not SAML 2.0 metadata (root is {root.tag})",
                          remedy="use the IdP's SAML 2.0 metadata XML")
    entity_id = root.get("entityID") or ""
    idp = root.find(f"{{{MD_NS}}}IDPSSODescriptor")
    if not entity_id or idp is None:
        raise ConfigError(f"{setting} has no entityID or no IDPSSODescriptor",
                          remedy="use the *IdP* metadata (not the SP's)")
    sso = tuple(str(e.get("Location")) for e in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
                if e.get("Location"))
    expiries = []
    for key in idp.findall(f"{{{MD_NS}}}KeyDescriptor"):
        if key.get("use") not in (None, "signing"):
            continue
        for cert in key.iter(f"{{{DS_NS}}}X509Certificate"):
            text = "".join((cert.text or "").split())
            try:
                parsed = x509.load_der_x509_certificate(base64.b64decode(text))
            except ValueError as exc:
                raise ConfigError(f"{setting}: a signing certificate cannot be read",
                                  remedy="download the metadata again from the IdP") from exc
            expiries.append(parsed.not_valid_after_utc)
    if not expiries:
        raise ConfigError(f"{setting} has no signing certificate",
                          remedy="export metadata that includes the IdP's signing certificate")
    return SamlMetadata(entity_id=entity_id, sso_urls=sso,
                        certificate_expiries=tuple(expiries))


def check_saml(config: StackConfig, *, now: dt.datetime | None = None) -> PreflightReport:
    assert config.saml is not None
    metadata = parse_saml_metadata(config.saml.metadata_document)
    now = now or dt.datetime.now(dt.UTC)
    notes, warnings = [f"SAML IdP entityID {metadata.entity_id}"], []
    latest = max(metadata.certificate_expiries)
    for expiry in metadata.certificate_expiries:
        notes.append(f"signing certificate valid until {expiry:%Y-%m-%d %H:%M} UTC")
    if latest <= now:
        raise ConfigError(
            f"the IdP's signing certificate expired on {latest:%Y-%m-%d}",
            remedy="rotate the certificate at the IdP and download its metadata again "
            "(saml.metadata_file / SAML_METADATA_DOCUMENT)",
        )
    if latest - now < EXPIRY_WARNING:
        warnings.append(f"the IdP's signing certificate expires on {latest:%Y-%m-%d}: "
                        "rotate it and re-run apply with the new metadata")
    return PreflightReport(tuple(notes), tuple(warnings))


def check_oidc(config: StackConfig, *, http: httpx.Client | None = None) -> PreflightReport:
    assert config.oidc is not None
    issuer = config.oidc.issuer
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    client = http or httpx.Client(timeout=10.0, follow_redirects=False)
    try:
        response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise NetworkError(
            f"oidc.issuer_url (IDP_ISSUER_URL): {url} cannot be reached ({type(exc).__name__})",
            remedy="check the issuer URL, the network and the IdP's availability",
        ) from exc
    finally:
        if http is None:
            client.close()
    if response.status_code != 200:
        raise ConfigError(
            f"oidc.issuer_url (IDP_ISSUER_URL): {url} answered HTTP {response.status_code}",
            remedy="use the issuer URL exactly as the IdP publishes it (Okta: "
            "https://<org>.okta.com/oauth2/default)",
        )
    if len(response.content) > MAX_DISCOVERY_BYTES:
        raise ConfigError("the issuer's discovery document is too large",
                          remedy="check that oidc.issuer_url points at an OpenID provider")
    try:
        doc = response.json()
    except ValueError as exc:
        raise ConfigError(f"{url} did not return JSON",
                          remedy="check that oidc.issuer_url points at an OpenID provider"
                          ) from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{url} did not return a JSON object",
                          remedy="check that oidc.issuer_url points at an OpenID provider")
    if doc.get("issuer") != issuer:
        raise ConfigError(
            f"oidc.issuer_url (IDP_ISSUER_URL) is {issuer!r} but the discovery document "
            f"says issuer {doc.get('issuer')!r}",
            remedy="set the issuer URL to exactly the discovery document's issuer "
            "(STS matches it byte for byte with the token's iss, trailing slash included)",
        )
    missing = [k for k in ("jwks_uri", "authorization_endpoint", "token_endpoint")
               if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise ConfigError(
            f"the issuer's discovery document lacks {', '.join(missing)}",
            remedy="IAM federation needs an OpenID provider with a JWKS, "
            "authorization and token endpoints",
        )
    algs = doc.get("id_token_signing_alg_values_supported") or []
    warnings = []
    if isinstance(algs, list) and algs and "RS256" not in algs:
        warnings.append("the issuer does not advertise RS256 ID tokens; STS expects RS256")
    return PreflightReport((f"OIDC issuer {issuer} reachable, discovery consistent",),
                           tuple(warnings))


def preflight(config: StackConfig, *, http: httpx.Client | None = None) -> PreflightReport:
    """All checks for the config's mode; raises ConfigError/NetworkError on the first problem."""
    if config.mode is Mode.OIDC:
        return check_oidc(config, http=http)
    return check_saml(config)
