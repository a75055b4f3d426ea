"""Checks made before any AWS call: is the IdP configuration usable at all?

* OIDC: the issuer's discovery document (read by :func:`qbizfed.identity.discovery.discover`,
  as ``serve`` and ``login`` read it) names exactly the configured issuer (IAM and STS
  compare it byte for byte with the token's ``iss``), a JWKS, an authorization and a
  token endpoint, all https (plain http only for a loopback issuer with
  ``allow_insecure_loopback_http``).
* SAML: the metadata is usable IdP metadata
  (:func:`qbizfed.identity.saml_metadata.parse_idp_metadata`) with a signing
  certificate, whose expiry is reported; an expired certificate is an error, one
  expiring within 30 days a warning.

Each problem is a :class:`~qbizfed.errors.ConfigError` naming the setting and the fix, or
a :class:`~qbizfed.errors.NetworkError` when the issuer does not answer at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from qbizfed.errors import ConfigError, NetworkError
from qbizfed.identity.discovery import discover, fetch_blocking, well_known_url
from qbizfed.identity.errors import DiscoveryDocumentError, IdpUnreachableError
from qbizfed.identity.saml_metadata import SamlMetadataError, parse_idp_metadata
from qbizfed.settings.stack import Mode, StackConfig

EXPIRY_WARNING = dt.timedelta(days=30)
SAML_SETTING = "saml.metadata_document (SAML_METADATA_DOCUMENT)"
OIDC_SETTING = "oidc.issuer_url (IDP_ISSUER_URL)"


@dataclass(frozen=True)
class PreflightReport:
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def check_saml(config: StackConfig, *, now: dt.datetime | None = None) -> PreflightReport:
    assert config.saml is not None
    try:
        metadata = parse_idp_metadata(config.saml.metadata_document)
    except SamlMetadataError as exc:
        raise ConfigError(f"{SAML_SETTING}: {exc.message}", remedy=exc.remedy) from exc
    expiries = [c.not_after for c in metadata.certificates]
    now = now or dt.datetime.now(dt.UTC)
    notes, warnings = [f"SAML IdP entityID {metadata.entity_id}"], []
    latest = max(expiries)
    for expiry in expiries:
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


def check_oidc(config: StackConfig) -> PreflightReport:
    assert config.oidc is not None
    issuer = config.oidc.issuer
    allow_http = config.oidc.allow_insecure_loopback_http
    try:
        metadata = fetch_blocking(
            lambda http: discover(issuer, http=http, allow_insecure_loopback_http=allow_http))
    except IdpUnreachableError as exc:
        problem = f"{OIDC_SETTING}: {well_known_url(issuer)} {exc.answer}"
        if exc.status is None:
            raise NetworkError(problem, remedy="check the issuer URL, the network and the "
                               "IdP's availability") from exc
        raise ConfigError(problem, remedy="use the issuer URL exactly as the IdP publishes "
                          "it (Okta: https://<org>.okta.com/oauth2/default)") from exc
    except DiscoveryDocumentError as exc:
        raise ConfigError(f"{OIDC_SETTING}: {exc.message}", remedy=exc.remedy) from exc
    algs = metadata.id_token_signing_alg_values_supported
    warnings = []
    if algs and "RS256" not in algs:
        warnings.append("the issuer does not advertise RS256 ID tokens; STS expects RS256")
    return PreflightReport((f"OIDC issuer {issuer} reachable, discovery consistent",),
                           tuple(warnings))


def preflight(config: StackConfig) -> PreflightReport:
    """All checks for the config's mode; raises ConfigError/NetworkError on the first problem."""
    if config.mode is Mode.OIDC:
        return check_oidc(config)
    return check_saml(config)
