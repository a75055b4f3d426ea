"""Checks of the identity provider and of IAM's record of it (pure over facts).

OIDC: discovery reachable, its ``issuer`` equal to the configured issuer and to the
IAM OIDC provider's URL (byte for byte: "No OpenIDConnect provider found"), JWKS
reachable with keys, the client ID on the provider ("Incorrect token audience"), and,
for local profiles that sign in with ``qbizfed login --device``, the discovery
document's ``device_authorization_endpoint`` (RFC 8628).
SAML: the metadata parses, its signing certificate is valid (WARN 30 days ahead) and
is one the IAM SAML provider holds, whose own certificates are not expired either.
"""

from __future__ import annotations

import datetime as dt

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import ObservedProvider, Part
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip, warn
from qbizfed.identity.saml_metadata import IdpMetadata, SamlMetadataError, parse_idp_metadata
from qbizfed.settings.stack import StackConfig

EXPIRY_WARNING = dt.timedelta(days=30)


def check_oidc_idp(config: StackConfig, facts: DoctorFacts) -> list[CheckResult]:
    assert config.oidc is not None
    assert facts.idp is not None
    discovery = facts.idp.discovery
    results: list[CheckResult] = []
    if discovery.document is None:
        results.append(fail(
            "idp.discovery", discovery.url, f"the discovery document {discovery.error}",
            Fix("make the issuer URL exactly what the IdP publishes (Okta: "
                "https://<org>.okta.com/oauth2/default) and check that it is reachable; "
                "STS fetches this document from the internet over https"),
        ))
        results.append(_issuer(config, facts, None))
        results.append(skip("idp.jwks", discovery.url, "no discovery document"))
        results.append(skip("idp.redirect-uris", discovery.url, "no discovery document"))
    else:
        results.append(ok("idp.discovery", discovery.url, "reachable, JSON"))
        results.append(_issuer(config, facts, str(discovery.document.get("issuer", ""))))
        results.append(_jwks(facts))
        results.append(_redirect_uris(config, facts))
    results.append(_client_id(config, facts))
    return results


def _provider_create_fix(url: str, client_id: str) -> Fix:
    return Fix(
        f"create the IAM OIDC provider for exactly {url} (scheme, host, path and trailing "
        "slash as in the token's iss), or run `qbizfed admin apply`",
        command=f"aws iam create-open-id-connect-provider --url {url} "
        f"--client-id-list {client_id}",
    )


def _issuer(config: StackConfig, facts: DoctorFacts, published: str | None) -> CheckResult:
    """``published``: the discovery document's issuer (None: no discovery document)."""
    assert config.oidc is not None
    configured = config.oidc.issuer
    looked = "discovery issuer, oidc.issuer_url, IAM OIDC provider URL"
    if published is not None and published != configured:
        return fail(
            "idp.issuer", looked,
            f"the IdP publishes issuer {published!r} but oidc.issuer_url is {configured!r}; "
            "tokens carry the published one",
            Fix(f"set oidc.issuer_url (IDP_ISSUER_URL) to exactly {published!r} and run "
                "`qbizfed admin apply` so the IAM OIDC provider has that URL"),
        )
    unknown = facts.unknown(Part.PROVIDER)
    if unknown is not None:
        return skip("idp.issuer", looked, unknown.reason, unknown.needs)
    exact = facts.stack.provider
    if exact is None:
        return fail(
            "idp.issuer", looked,
            f"no IAM OIDC provider has URL {configured.split('://', 1)[-1]!r}; STS answers "
            "\"No OpenIDConnect provider found\"",
            _provider_create_fix(configured, config.oidc.client_id),
        )
    return ok("idp.issuer", looked,
              f"issuer {configured} = IAM OIDC provider {exact.arn}")


def _jwks(facts: DoctorFacts) -> CheckResult:
    assert facts.idp is not None
    jwks = facts.idp.jwks
    if jwks is None:
        return fail("idp.jwks", facts.idp.discovery.url, "the discovery document has no jwks_uri",
                    Fix("IAM federation needs an OpenID provider that publishes jwks_uri"))
    keys = (jwks.document or {}).get("keys")
    if jwks.document is None or not isinstance(keys, list) or not keys:
        why = jwks.error or "has no keys"
        return fail("idp.jwks", jwks.url, f"the JWKS {why}",
                    Fix("make jwks_uri reachable (from AWS: public https with a valid "
                        "certificate) and publish the signing keys there"))
    return ok("idp.jwks", jwks.url, f"{len(keys)} key(s) published")


def _redirect_uris(config: StackConfig, facts: DoctorFacts) -> CheckResult:
    assert config.oidc is not None
    assert facts.idp is not None
    client_id = config.oidc.client_id
    looked = f"sign-in redirect URIs of client {client_id} (authorize with prompt=none)"
    probes = facts.idp.redirect_probes
    if not probes:
        return skip("idp.redirect-uris", looked,
                    "no redirect URI to probe (no web experience, no custom app redirect URI)")
    refused = [p for p in probes if p.accepted is False]
    unclear = [p for p in probes if p.accepted is None]
    listing = "; ".join(f"{p.redirect_uri}: {p.answer}" for p in probes)
    fix = Fix(f"in the IdP's app integration for client {client_id}, add these sign-in "
              "redirect URIs exactly (scheme, host, port, path): "
              + ", ".join(p.redirect_uri for p in (refused or unclear)))
    if refused:
        return fail("idp.redirect-uris", looked, f"the IdP refuses: {listing}", fix)
    if unclear:
        return warn("idp.redirect-uris", looked, f"could not confirm: {listing}", fix)
    return ok("idp.redirect-uris", looked, listing)


def _client_id(config: StackConfig, facts: DoctorFacts) -> CheckResult:
    assert config.oidc is not None
    client_id = config.oidc.client_id
    looked = "client ID list of the IAM OIDC provider"
    unknown = facts.unknown(Part.PROVIDER)
    if unknown is not None:
        return skip("idp.client-id", looked, unknown.reason, unknown.needs)
    provider = facts.stack.provider
    if provider is None:
        return skip("idp.client-id", looked, "no IAM OIDC provider for the issuer (see idp.issuer)")
    if client_id not in provider.client_ids:
        return fail(
            "idp.client-id", f"{looked} {provider.arn}",
            f"client ID {client_id!r} is not on the provider (it lists "
            f"{', '.join(provider.client_ids) or 'nothing'}); STS answers "
            "\"Incorrect token audience\"",
            Fix(f"add client ID {client_id} to the IAM OIDC provider",
                command="aws iam add-client-id-to-open-id-connect-provider "
                f"--open-id-connect-provider-arn {provider.arn} --client-id {client_id}"),
        )
    return ok("idp.client-id", f"{looked} {provider.arn}", f"{client_id} is listed")


def check_device_flow(facts: DoctorFacts, device_profiles: tuple[str, ...]) -> list[CheckResult]:
    """For profiles set to device sign-in: does the IdP offer it? (No profiles: no check.)"""
    if not device_profiles or facts.idp is None:
        return []
    discovery = facts.idp.discovery
    who = ", ".join(device_profiles)
    looked = f"device_authorization_endpoint in {discovery.url} (device profiles: {who})"
    if discovery.document is None:
        return [skip("idp.device-flow", looked, "no discovery document (see idp.discovery)")]
    endpoint = discovery.document.get("device_authorization_endpoint")
    if isinstance(endpoint, str) and endpoint:
        return [ok("idp.device-flow", looked, f"advertised: {endpoint}")]
    return [fail(
        "idp.device-flow", looked,
        "the IdP does not advertise a device_authorization_endpoint, so `qbizfed login "
        "--device` cannot sign in",
        Fix("enable the OAuth 2.0 Device Authorization grant for this client at the IdP "
            "(Okta: the app's Grant types, Device Authorization; Entra ID: Allow public "
            "client flows), or sign in with the browser flow: rewrite the profiles without "
            "--device (qbizfed configure) and use qbizfed login --no-browser"),
    )]


# -- SAML -------------------------------------------------------------------------------


def _expiry(name: str, looked: str, metadata: IdpMetadata, now: dt.datetime, fix: Fix
            ) -> CheckResult:
    latest = max(metadata.certificates, key=lambda c: c.not_after)
    when = f"{latest.not_after:%Y-%m-%d %H:%M} UTC"
    if latest.not_after <= now:
        return fail(name, looked, f"the signing certificate ({latest.subject}) expired {when}",
                    fix)
    if latest.not_after - now < EXPIRY_WARNING:
        return warn(name, looked, f"the signing certificate ({latest.subject}) expires {when}",
                    fix)
    return ok(name, looked, f"signing certificate valid until {when}")


def _update_provider_fix(provider_arn: str) -> Fix:
    return Fix(
        "put the IdP's current metadata (with its current signing certificate) into the IAM "
        "SAML provider, or run `qbizfed admin apply` with that metadata",
        command=f"aws iam update-saml-provider --saml-provider-arn {provider_arn} "
        "--saml-metadata-document file://idp-metadata.xml",
    )


def check_saml_idp(config: StackConfig, facts: DoctorFacts, *, now: dt.datetime
                   ) -> list[CheckResult]:
    assert config.saml is not None
    results: list[CheckResult] = []
    looked = "saml.metadata_document (SAML_METADATA_DOCUMENT)"
    metadata: IdpMetadata | None
    try:
        metadata = parse_idp_metadata(config.saml.metadata_document)
    except SamlMetadataError as exc:
        metadata = None
        results.append(fail("idp.saml-metadata", looked, f"the IdP metadata is unusable: {exc}",
                            Fix("download the IdP's SAML 2.0 metadata XML again (with its "
                                "signing certificate) and point saml.metadata_file at it")))
    else:
        results.append(ok("idp.saml-metadata", looked,
                          f"entityID {metadata.entity_id}, {len(metadata.certificates)} signing "
                          "certificate(s)"))
        results.append(_expiry(
            "idp.saml-certificate", looked, metadata, now,
            Fix("rotate the signing certificate at the IdP, download its metadata again, and "
                "update the IAM SAML provider (`qbizfed admin apply`)")))
    provider_arn = desired.identity_provider_arn(config, facts.stack)
    provider = facts.stack.provider
    iam_looked = f"IAM SAML provider {provider_arn}"
    unknown = facts.unknown(Part.PROVIDER)
    if unknown is not None:
        results.append(skip("idp.iam-saml-provider", iam_looked, unknown.reason, unknown.needs))
        return results
    if provider is None:
        results.append(fail(
            "idp.iam-saml-provider", iam_looked, "the IAM SAML provider does not exist",
            Fix("create it from the IdP metadata, or run `qbizfed admin apply`",
                command="aws iam create-saml-provider --name "
                f"{StackNames(config.name).saml_provider} "
                "--saml-metadata-document file://idp-metadata.xml"),
        ))
        return results
    results.extend(_iam_provider(provider, metadata, now))
    return results


def _iam_provider(provider: ObservedProvider, metadata: IdpMetadata | None, now: dt.datetime
                  ) -> list[CheckResult]:
    looked = f"IAM SAML provider {provider.arn}"
    fix = _update_provider_fix(provider.arn)
    try:
        held = parse_idp_metadata(provider.metadata_document or "")
    except SamlMetadataError as exc:
        return [fail("idp.iam-saml-provider", looked, f"IAM holds unusable metadata: {exc}", fix)]
    results = [_expiry("idp.iam-saml-certificate", looked, held, now, fix)]
    if metadata is None:
        results.append(skip("idp.saml-certificate-match", looked, "the IdP metadata is unusable"))
        return results
    held_der = {c.der for c in held.certificates}
    current = [c for c in metadata.certificates if c.not_after > now] or list(
        metadata.certificates)
    missing = [c for c in current if c.der not in held_der]
    if missing:
        results.append(fail(
            "idp.saml-certificate-match", f"{looked} vs the IdP metadata",
            "the IdP signs with certificate "
            + ", ".join(c.fingerprint[:29] + "…" for c in missing)
            + " which the IAM SAML provider does not hold; STS rejects every assertion "
            "signed with it",
            fix,
        ))
    else:
        results.append(ok("idp.saml-certificate-match", f"{looked} vs the IdP metadata",
                          "IAM holds the IdP's signing certificate"))
    return results
