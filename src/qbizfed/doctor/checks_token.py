"""Checks of an ID token or SAML response the user hands doctor (decoded, never verified).

OIDC: ``iss`` is an IAM OIDC provider URL exactly, ``aud`` is the client ID and on the
provider, ``exp``/``nbf``, and the ``https://aws.amazon.com/tags`` claim with a
well-formed ``Email``. SAML: the ``Role`` pair (role ARN first, then the provider ARN)
names the checked role and provider, ``RoleSessionName``, ``PrincipalTag:Email``, the
``Recipient`` STS turns into ``SAML:aud``, and ``NotOnOrAfter``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.observed import Part
from qbizfed.doctor import statements as st
from qbizfed.doctor.decode import (
    UndecodableError,
    UnverifiedAssertion,
    decode_jwt_unverified,
    decode_saml_response_unverified,
)
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.doctor.fixes import saml_audiences
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip, warn
from qbizfed.errors import QbizfedError
from qbizfed.identity.aws_tags import AWS_TAGS_CLAIM, session_tags_from_claims
from qbizfed.identity.saml_attributes import (
    parse_email,
    parse_principal_tags,
    parse_role_session_name,
    parse_roles,
)
from qbizfed.settings.stack import StackConfig

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CLOCK_SKEW = dt.timedelta(minutes=5)
UNVERIFIED = "decoded without verifying the signature, for diagnosis only"


def _remedy(err: QbizfedError) -> Fix:
    return Fix(err.remedy or "see the message")


def check_id_token(config: StackConfig, facts: DoctorFacts, token: str, *, now: dt.datetime
                   ) -> list[CheckResult]:
    assert config.oidc is not None
    looked = "the ID token given with --token"
    try:
        jwt = decode_jwt_unverified(token)
    except UndecodableError as exc:
        return [fail("token.decode", looked, f"not a JWT: {exc}",
                     Fix("pass the id_token (not the access token) of a fresh sign-in"))]
    claims = jwt.claims
    results = [ok("token.decode", looked, f"{UNVERIFIED}; alg {jwt.header.get('alg')}")]
    results.append(_issuer(config, facts, claims))
    results.append(_audience(config, facts, claims))
    results.append(_expiry(claims, now))
    results.append(_email_claim(config, claims))
    return results


def _issuer(config: StackConfig, facts: DoctorFacts, claims: dict[str, Any]) -> CheckResult:
    assert config.oidc is not None
    iss = str(claims.get("iss", ""))
    looked = "iss claim vs IAM OIDC providers"
    if iss != config.oidc.issuer:
        return fail("token.issuer", looked,
                    f"iss is {iss!r}, oidc.issuer_url is {config.oidc.issuer!r}; STS "
                    "looks the provider up by iss exactly (\"No OpenIDConnect provider found\")",
                    Fix(f"set oidc.issuer_url to {iss!r} and run `qbizfed admin apply`, or "
                        "sign in with the IdP the config names"))
    if facts.unknown(Part.PROVIDER) is None and facts.stack.provider is None:
        return fail("token.issuer", looked,
                    f"no IAM OIDC provider has URL {iss.split('://', 1)[-1]!r} "
                    "(\"No OpenIDConnect provider found\")",
                    Fix(f"create the IAM OIDC provider for {iss}",
                        command=f"aws iam create-open-id-connect-provider --url {iss} "
                        f"--client-id-list {config.oidc.client_id}"))
    return ok("token.issuer", looked, f"iss {iss}")


def _audience(config: StackConfig, facts: DoctorFacts, claims: dict[str, Any]) -> CheckResult:
    assert config.oidc is not None
    raw = claims.get("aud")
    audiences = [raw] if isinstance(raw, str) else [a for a in raw or [] if isinstance(a, str)]
    looked = "aud claim"
    if config.oidc.client_id not in audiences:
        return fail("token.audience", looked,
                    f"aud is {audiences}, not the client ID {config.oidc.client_id!r}",
                    Fix("sign in through the app integration whose client ID the config "
                        "names, or set oidc.client_id to the token's aud"))
    provider = facts.stack.provider
    if provider is not None and not set(audiences) & set(provider.client_ids):
        return fail("token.audience", f"{looked} vs {provider.arn}",
                    f"none of {audiences} is on the IAM OIDC provider "
                    "(\"Incorrect token audience\")",
                    Fix("add the client ID to the provider",
                        command="aws iam add-client-id-to-open-id-connect-provider "
                        f"--open-id-connect-provider-arn {provider.arn} "
                        f"--client-id {config.oidc.client_id}"))
    return ok("token.audience", looked, f"aud {config.oidc.client_id}")


def _expiry(claims: dict[str, Any], now: dt.datetime) -> CheckResult:
    looked = "exp / nbf / iat claims"
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        return fail("token.expiry", looked, "no numeric exp claim",
                    Fix("the IdP must issue ID tokens with exp (all OpenID providers do)"))
    expires = dt.datetime.fromtimestamp(exp, dt.UTC)
    if expires <= now:
        return fail("token.expiry", looked, f"expired {expires:%Y-%m-%d %H:%M:%S} UTC",
                    Fix("sign in again and pass the fresh token; if fresh tokens look expired, "
                        "fix this machine's clock"))
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, int | float) and \
                dt.datetime.fromtimestamp(value, dt.UTC) > now + CLOCK_SKEW:
            return warn("token.expiry", looked, f"{name} is in the future: clocks disagree",
                        Fix("synchronise the clocks of this machine and the IdP (NTP)"))
    return ok("token.expiry", looked, f"valid until {expires:%H:%M:%S} UTC")


def _email_claim(config: StackConfig, claims: dict[str, Any]) -> CheckResult:
    assert config.oidc is not None
    looked = f"{AWS_TAGS_CLAIM} claim"
    try:
        tags = session_tags_from_claims(claims, issuer=config.oidc.issuer)
    except QbizfedError as err:
        return fail("token.email-tag", looked, err.message, _remedy(err))
    if not EMAIL.match(tags.email):
        return fail("token.email-tag", looked, f"Email tag {tags.email!r} is not an address",
                    Fix("map principal_tags.Email to the user's email attribute at the IdP"))
    return ok("token.email-tag", looked, f"Email {tags.email}")


# -- SAML ---------------------------------------------------------------------------------


def check_saml_response(config: StackConfig, facts: DoctorFacts, raw: str, *, role_arn: str | None,
                        now: dt.datetime) -> list[CheckResult]:
    looked = "the SAML response given with --saml-response"
    try:
        assertion = decode_saml_response_unverified(raw)
    except UndecodableError as exc:
        return [fail("assertion.decode", looked, f"not a SAML response: {exc}",
                     Fix("pass the SAMLResponse form field as posted (base64) or its XML"))]
    if assertion.encrypted:
        return [warn("assertion.decode", looked, "the assertion is encrypted: doctor cannot "
                     "read it", Fix("turn assertion encryption off for this check, or check the "
                                    "IdP's attribute settings by hand"))]
    results = [ok("assertion.decode", looked,
                  f"{UNVERIFIED}; issuer {assertion.issuer}, "
                  + ("signed" if assertion.signed else "NOT signed"))]
    results.append(_role_attribute(config, facts, assertion, role_arn))
    results.append(_session_name(assertion))
    results.append(_principal_tag(assertion))
    results.append(_recipient(config, facts, assertion))
    results.append(_assertion_expiry(assertion, now))
    return results


def _role_attribute(config: StackConfig, facts: DoctorFacts, assertion: UnverifiedAssertion,
                    role_arn: str | None) -> CheckResult:
    looked = "https://aws.amazon.com/SAML/Attributes/Role"
    try:
        roles = parse_roles(assertion.attributes)
    except QbizfedError as err:
        return fail("assertion.role", looked, err.message, _remedy(err))
    provider = desired.identity_provider_arn(config, facts.stack)
    wanted = role_arn or "<role arn>"
    if role_arn is None or any(r.role_arn == role_arn and r.provider_arn == provider
                               for r in roles):
        return ok("assertion.role", looked, ", ".join(f"{r.role_arn},{r.provider_arn}"
                                                      for r in roles))
    offered = "; ".join(f"{r.role_arn},{r.provider_arn}" for r in roles)
    return fail("assertion.role", looked,
                f"the Role attribute offers {offered}, not {wanted},{provider}",
                Fix(f"set the IdP's Role attribute value to '{wanted},{provider}' "
                    "(role ARN first, then the SAML provider ARN)"))


def _session_name(assertion: UnverifiedAssertion) -> CheckResult:
    looked = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
    try:
        name = parse_role_session_name(assertion.attributes)
    except QbizfedError as err:
        return fail("assertion.session-name", looked, err.message, _remedy(err))
    return ok("assertion.session-name", looked, name)


def _principal_tag(assertion: UnverifiedAssertion) -> CheckResult:
    looked = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Email"
    try:
        email = parse_email(parse_principal_tags(assertion.attributes))
    except QbizfedError as err:
        return fail("assertion.email-tag", looked, err.message, _remedy(err))
    if not EMAIL.match(email):
        return fail("assertion.email-tag", looked, f"{email!r} is not an email address",
                    Fix("map PrincipalTag:Email to the user's email attribute at the IdP"))
    return ok("assertion.email-tag", looked, f"Email {email}")


def _recipient(config: StackConfig, facts: DoctorFacts, assertion: UnverifiedAssertion
               ) -> CheckResult:
    looked = "SubjectConfirmationData Recipient (STS's SAML:aud)"
    expected = trusted_saml_audiences(facts) or saml_audiences(config, facts)
    if assertion.subject_confirmations != 1 or not assertion.recipients:
        return fail("assertion.recipient", looked,
                    f"{assertion.subject_confirmations} SubjectConfirmation(s), recipients "
                    f"{list(assertion.recipients)}: STS needs exactly one with a Recipient",
                    Fix("configure the IdP application's ACS (single sign-on) URL: "
                        + ", ".join(expected)))
    recipient = assertion.recipients[0]
    if recipient not in expected:
        return fail("assertion.recipient", looked,
                    f"the response was made for {recipient!r}, which is not one of the "
                    f"application's ACS URLs {expected}",
                    Fix("set the ACS (reply) URL at the IdP to one of: " + ", ".join(expected)
                        + " — or add this URL to saml.custom_acs_url and run "
                        "`qbizfed admin apply`"))
    return ok("assertion.recipient", looked, recipient)


def trusted_saml_audiences(facts: DoctorFacts) -> list[str]:
    """The ``SAML:aud`` values the role's trust policy allows (what STS compares with)."""
    role = facts.stack.web_role
    if role is None:
        return []
    values: list[str] = []
    for statement in st.allowing(role.trust_policy, "sts:AssumeRoleWithSAML"):
        entry = st.condition_on(statement, "SAML:aud")
        if entry is not None:
            values += [v for v in entry.values if v not in values]
    return values


def _assertion_expiry(assertion: UnverifiedAssertion, now: dt.datetime) -> CheckResult:
    looked = "NotOnOrAfter of the assertion"
    moments = [m for m in (*assertion.confirmation_not_on_or_after, assertion.not_on_or_after)
               if m is not None]
    if not moments:
        return fail("assertion.expiry", looked, "no NotOnOrAfter",
                    Fix("the IdP must set NotOnOrAfter on SubjectConfirmationData"))
    first = min(moments)
    if first <= now:
        return fail("assertion.expiry", looked, f"expired {first:%Y-%m-%d %H:%M:%S} UTC",
                    Fix("sign in again and pass the fresh response right away (it lives a "
                        "few minutes); if fresh ones look expired, fix the clock"))
    if assertion.not_before is not None and assertion.not_before > now + CLOCK_SKEW:
        return warn("assertion.expiry", looked, "NotBefore is in the future: clocks disagree",
                    Fix("synchronise the clocks of this machine and the IdP (NTP)"))
    return ok("assertion.expiry", looked, f"valid until {first:%H:%M:%S} UTC")


def check_no_credential(kind: str) -> CheckResult:
    return skip(f"{kind}.decode", "no --token / --saml-response given",
                "pass a fresh ID token or SAML response to check what the IdP releases")
