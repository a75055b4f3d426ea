"""The pure checks over plain facts: one misconfiguration per test, with its fix."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey

from qbizfed import policies
from qbizfed.aws.provision.observed import (
    NEEDS,
    ObservedApplication,
    ObservedChild,
    ObservedProvider,
    ObservedRole,
    ObservedStack,
    ObservedWebExperience,
    Part,
    StackReading,
    Unknown,
)
from qbizfed.doctor import Status
from qbizfed.doctor.checks_app import check_application
from qbizfed.doctor.checks_idp import check_oidc_idp, check_saml_idp
from qbizfed.doctor.checks_plan import check_stack
from qbizfed.doctor.checks_role import check_role
from qbizfed.doctor.checks_token import check_id_token
from qbizfed.doctor.facts import (
    DoctorFacts,
    HttpDocument,
    OidcIdpFacts,
    RedirectProbe,
)
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.support.saml_assertions import SamlIdp

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
ACCOUNT = "123456789012"
ISSUER = "https://idp.example.com/oauth2/default"
CLIENT = "web-client"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com/oauth2/default"
APP_ID = "a1b2c3d4-0000-0000-0000-000000000000"
APP_ARN = f"arn:aws:qbusiness:us-east-1:{ACCOUNT}:application/{APP_ID}"
ROLE = "qbizfed-demo-web"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"


def oidc_config(**app: Any) -> StackConfig:
    return config_from_mapping({
        "name": "demo", "mode": "oidc", "region": "us-east-1", "account_id": ACCOUNT,
        "oidc": {"issuer_url": ISSUER, "client_id": CLIENT, "secret_id": "idp-secret"},
        "application": app,
    })


SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:idp-secret-AbCdEf"
SERVICE_ROLE_ARN = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/qbusiness.amazonaws.com/"
                    "AWSServiceRoleForQBusiness")


def facts_of(stack: ObservedStack, idp: OidcIdpFacts | None = None,
             *unknown: Unknown) -> DoctorFacts:
    return DoctorFacts(StackReading(stack, unknown), idp=idp, role_source="test")


def healthy_facts(config: StackConfig) -> DoctorFacts:
    """What `admin apply` leaves for ``config``: every stack.* check is OK over it."""
    assert config.oidc is not None
    trust = policies.oidc_trust_policy(provider_arn=PROVIDER,
                                       provider_path=config.oidc.provider_path, client_id=CLIENT)
    permission = policies.web_experience_permission_policy(application_arn=APP_ARN,
                                                           region="us-east-1")
    secrets_role = ObservedRole(
        "qbizfed-demo-secrets", f"arn:aws:iam::{ACCOUNT}:role/qbizfed-demo-secrets",
        policies.secrets_role_trust_policy(account_id=ACCOUNT, application_arn=APP_ARN),
        policies.secrets_role_permission_policy(secret_arn=SECRET_ARN, region="us-east-1"),
        owned=True)
    stack = ObservedStack(
        account_id=ACCOUNT, secret_arn=SECRET_ARN, service_role_arn=SERVICE_ROLE_ARN,
        provider=ObservedProvider(PROVIDER, owned=True, client_ids=(CLIENT,)),
        application=ObservedApplication(APP_ID, APP_ARN, "ACTIVE", "AWS_IAM_IDP_OIDC",
                                        PROVIDER, (CLIENT,), SERVICE_ROLE_ARN, "ENABLED",
                                        "Q_BUSINESS"),
        index=ObservedChild("i1", f"{APP_ARN}/index/i1", "ACTIVE"),
        retriever=ObservedChild("r1", f"{APP_ARN}/retriever/r1", "ACTIVE", index_id="i1"),
        web_role=ObservedRole(ROLE, ROLE_ARN, trust, permission, owned=True,
                              policies=(("qbizfed-web-experience", permission),)),
        secrets_role=secrets_role,
        web_experience=ObservedWebExperience(
            "w1", f"{APP_ARN}/web-experience/w1", "ACTIVE", "https://x.chat.qbusiness.on.aws/",
            ROLE_ARN, {"openIDConnectConfiguration": {"secretsArn": SECRET_ARN,
                                                      "secretsRole": secrets_role.arn}}),
    )
    idp = OidcIdpFacts(
        discovery=HttpDocument(f"{ISSUER}/.well-known/openid-configuration", 200,
                               {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"}),
        jwks=HttpDocument(f"{ISSUER}/keys", 200, {"keys": [{"kty": "RSA"}]}),
        redirect_probes=(RedirectProbe("https://x.chat.qbusiness.on.aws/authorization-code/"
                                       "callback", True, "redirected back"),))
    return facts_of(stack, idp)


def with_stack(facts: DoctorFacts, **changes: Any) -> DoctorFacts:
    return replace(facts, reading=StackReading(replace(facts.stack, **changes),
                                               facts.reading.unknown))


def all_checks(config: StackConfig, facts: DoctorFacts, duration: int = 3600) -> dict[str, Any]:
    results = [*check_oidc_idp(config, facts), *check_role(config, facts,
                                                            duration_seconds=duration),
               *check_application(config, facts), *check_stack(config, facts)]
    return {r.name: r for r in results}


def problems(config: StackConfig, facts: DoctorFacts) -> dict[str, Status]:
    return {n: r.status for n, r in all_checks(config, facts).items() if r.is_problem}


def with_trust(facts: DoctorFacts, trust: dict[str, Any]) -> DoctorFacts:
    assert facts.stack.web_role is not None
    return with_stack(facts, web_role=replace(facts.stack.web_role, trust_policy=trust))


def with_permission(facts: DoctorFacts, document: dict[str, Any]) -> DoctorFacts:
    assert facts.stack.web_role is not None
    return with_stack(facts, web_role=replace(facts.stack.web_role, permission_policy=document,
                                              policies=(("qbizfed-web-experience", document),)))


def test_healthy_oidc_facts_have_no_problems() -> None:
    config = oidc_config()
    checks = all_checks(config, healthy_facts(config))
    assert {n: r.status for n, r in checks.items() if r.status is not Status.OK} == {}


def test_app_with_another_provider_and_without_the_client_id_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.application is not None
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/other.example.com"
    facts = with_stack(facts, application=replace(facts.stack.application, provider_arn=other,
                                                  client_ids=("x",)))
    result = all_checks(config, facts)["stack.application"]
    assert result.status is Status.FAIL
    assert other in result.detail
    assert "clientIdsForOIDC" in result.detail
    assert "qbizfed admin destroy" in result.fix.summary
    assert problems(config, facts) == {"stack.application": Status.FAIL}


def test_web_experience_without_oidc_secret_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.web_experience is not None
    web = replace(facts.stack.web_experience, identity_provider_configuration={})
    result = all_checks(config, with_stack(facts, web_experience=web))["stack.web-experience"]
    assert result.status is Status.FAIL
    assert "identity provider configuration differs" in result.detail
    assert result.fix.command == "qbizfed admin apply"
    assert problems(config, with_stack(facts, web_experience=web)) == {
        "stack.web-experience": Status.FAIL}


@pytest.mark.parametrize(("status", "verdict"), [("CREATING", Status.WARN),
                                                 ("FAILED", Status.FAIL)])
def test_application_not_active(status: str, verdict: Status) -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.application is not None
    facts = with_stack(facts, application=replace(facts.stack.application, status=status))
    assert problems(config, facts) == {"app.status": verdict}


def test_retriever_on_another_index_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.retriever is not None
    facts = with_stack(facts, retriever=replace(facts.stack.retriever, index_id="gone"))
    assert problems(config, facts) == {"stack.retriever": Status.FAIL}
    assert all_checks(config, facts)["app.retriever"].status is Status.SKIP


def test_retriever_on_an_index_not_active_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.index is not None
    facts = with_stack(facts, index=replace(facts.stack.index, status="FAILED"))
    assert problems(config, facts) == {"app.retriever": Status.FAIL}


def test_auto_subscription_off_by_config_is_fine() -> None:
    config = oidc_config(auto_subscribe="off")
    facts = healthy_facts(config)
    assert facts.stack.application is not None
    facts = with_stack(facts, application=replace(facts.stack.application,
                                                  auto_subscribe="DISABLED"))
    assert problems(config, facts) == {}


def test_auto_subscription_disabled_fails_with_the_update_command() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.application is not None
    facts = with_stack(facts, application=replace(facts.stack.application,
                                                  auto_subscribe="DISABLED"))
    result = all_checks(config, facts)["stack.auto-subscription"]
    assert result.status is Status.FAIL
    assert result.fix.command == (f"aws qbusiness update-application --application-id {APP_ID} "
                                  "--auto-subscription-configuration autoSubscribe=ENABLED,"
                                  "defaultSubscriptionType=Q_BUSINESS")


def test_missing_application_fails_once_and_skips_the_rest() -> None:
    config = oidc_config()
    facts = with_stack(healthy_facts(config), application=None, index=None, retriever=None,
                       web_experience=None)
    checks = all_checks(config, facts)
    assert checks["stack.application"].status is Status.FAIL
    assert "create" in checks["stack.application"].detail
    assert checks["app.status"].status is Status.SKIP
    assert checks["app.retriever"].status is Status.SKIP


def _refused(part: Part) -> Unknown:
    return Unknown(part, "AccessDenied: the caller may not read it", NEEDS[part],
                   RuntimeError("refused"))


def test_unreadable_role_skips_with_the_permission() -> None:
    config = oidc_config()
    healthy = healthy_facts(config)
    facts = facts_of(replace(healthy.stack, web_role=None), healthy.idp, _refused(Part.WEB_ROLE))
    checks = all_checks(config, facts)
    for name in ("role.tag-session", "stack.web-role", "stack.web-experience"):
        assert checks[name].status is Status.SKIP, name
        assert "iam:GetRole" in checks[name].needs
    assert checks["stack.application"].status is Status.OK


def test_unreadable_application_skips_every_check_that_reads_it() -> None:
    config = oidc_config()
    healthy = healthy_facts(config)
    facts = facts_of(replace(healthy.stack, application=None, index=None, retriever=None,
                             web_experience=None), healthy.idp, _refused(Part.APPLICATION))
    checks = all_checks(config, facts)
    skipped = {n for n, r in checks.items() if r.status is Status.SKIP}
    assert {"app.status", "stack.application", "stack.retriever", "stack.web-role",
            "stack.auto-subscription"} <= skipped
    assert "qbusiness:GetApplication" in checks["stack.application"].needs
    assert not [n for n, r in checks.items() if r.is_problem]


def test_a_permission_policy_differing_from_admins_fails_the_web_role_with_the_document() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "user-subscriptions:CreateClaim", "Resource": "*"}]}
    result = all_checks(config, with_permission(facts, document))["stack.web-role"]
    assert result.status is Status.FAIL
    assert "permission policy differs" in result.detail
    assert json.loads(result.fix.document) == policies.web_experience_permission_policy(
        application_arn=APP_ARN, region="us-east-1")
    assert "put-role-policy" in result.fix.command


def test_explicit_deny_beats_the_allow() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    document = policies.web_experience_permission_policy(application_arn=APP_ARN,
                                                         region="us-east-1")
    document["Statement"].append({"Effect": "Deny", "Action": "qbusiness:Chat*",
                                  "Resource": "*"})
    result = all_checks(config, with_permission(facts, document))["role.chat-permissions"]
    assert result.status is Status.FAIL
    assert "qbusiness:ChatSync" in result.detail


def test_wildcard_permission_counts() -> None:
    config = oidc_config()
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "user-subscriptions:CreateClaim", "Resource": "*"}]}
    # The chat works; it is still not what admin writes, so the plan would change it.
    assert problems(config, with_permission(healthy_facts(config), document)) == {
        "stack.web-role": Status.FAIL}


def test_missing_create_claim_is_a_warning_when_auto_subscription_is_off() -> None:
    config = oidc_config(auto_subscribe="off")
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"}]}
    facts = healthy_facts(config)
    assert facts.stack.application is not None
    facts = with_stack(facts, application=replace(facts.stack.application,
                                                  auto_subscribe="DISABLED"))
    assert problems(config, with_permission(facts, document)) == {
        "role.create-claim": Status.WARN, "stack.web-role": Status.FAIL}


def test_tag_session_fix_is_policies_statement_appended_to_the_current_policy() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.stack.web_role is not None
    trust = json.loads(json.dumps(facts.stack.web_role.trust_policy))
    trust["Statement"] = trust["Statement"][:1]
    result = all_checks(config, with_trust(facts, trust))["role.tag-session"]
    assert result.status is Status.FAIL
    assert config.oidc is not None
    wanted = policies.oidc_trust_policy(provider_arn=PROVIDER,
                                        provider_path=config.oidc.provider_path,
                                        client_id=CLIENT)["Statement"][1]
    fixed = json.loads(result.fix.document)
    assert fixed["Statement"] == [trust["Statement"][0], wanted]
    assert trust["Statement"] == facts.stack.web_role.trust_policy["Statement"][:1]  # untouched


def test_trust_without_email_condition_warns_unless_config_allows_it() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert config.oidc is not None
    trust = policies.oidc_trust_policy(provider_arn=PROVIDER,
                                       provider_path=config.oidc.provider_path,
                                       client_id=CLIENT, require_email_tag=False)
    assert problems(config, with_trust(facts, trust)) == {"role.email-tag": Status.WARN,
                                                          "stack.web-role": Status.FAIL}
    relaxed = oidc_config(require_email_tag=False)
    assert problems(relaxed, with_trust(healthy_facts(relaxed), trust)) == {}


def test_short_max_session_duration_fails() -> None:
    config = oidc_config()
    checks = all_checks(config, healthy_facts(config), duration=14400)
    assert checks["role.session-duration"].status is Status.FAIL
    assert "--max-session-duration 14400" in checks["role.session-duration"].fix.command


def test_no_iam_provider_for_the_issuer_is_no_match() -> None:
    config = oidc_config()
    # admin's reader matches the provider's URL exactly: one with a trailing slash is not it.
    facts = with_stack(healthy_facts(config), provider=None)
    checks = all_checks(config, facts)
    assert checks["idp.issuer"].status is Status.FAIL
    assert "No OpenIDConnect provider found" in checks["idp.issuer"].detail
    assert checks["idp.client-id"].status is Status.SKIP
    assert checks["stack.identity-provider"].status is Status.FAIL


def test_jwks_without_keys_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.idp is not None
    facts = replace(facts, idp=replace(facts.idp, jwks=HttpDocument(
        f"{ISSUER}/keys", 200, {"keys": []})))
    assert problems(config, facts) == {"idp.jwks": Status.FAIL}


# -- tokens -----------------------------------------------------------------------------


def _token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "sub": "u", "aud": CLIENT, "iat": now, "exp": now + 300,
               "https://aws.amazon.com/tags": {"principal_tags": {"Email": ["ada@example.com"]}},
               **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode({"alg": "RS256"}, payload, _KEY)


_KEY = RSAKey.generate_key(2048)

TOKEN_CASES = {
    "issuer_of_another_idp": ({"iss": "https://evil.example.com"}, "token.issuer", Status.FAIL),
    "audience_of_another_client": ({"aud": "other"}, "token.audience", Status.FAIL),
    "audience_list_with_client": ({"aud": ["other", CLIENT]}, "token.audience", Status.OK),
    "expired": ({"exp": int(time.time()) - 60}, "token.expiry", Status.FAIL),
    "no_exp": ({"exp": None}, "token.expiry", Status.FAIL),
    "issued_in_the_future": ({"iat": int(time.time()) + 3600}, "token.expiry", Status.WARN),
    "no_tags_claim": ({"https://aws.amazon.com/tags": None}, "token.email-tag", Status.FAIL),
    "email_not_an_address": ({"https://aws.amazon.com/tags": {"principal_tags": {
        "Email": ["ada"]}}}, "token.email-tag", Status.FAIL),
    "email_as_number": ({"https://aws.amazon.com/tags": {"principal_tags": {
        "Email": [42]}}}, "token.email-tag", Status.FAIL),
}


@pytest.mark.parametrize(("claims", "check", "status"), TOKEN_CASES.values(),
                         ids=TOKEN_CASES.keys())
def test_token_claims(claims: dict[str, Any], check: str, status: Status) -> None:
    config = oidc_config()
    now = dt.datetime.now(dt.UTC)
    results = {r.name: r for r in check_id_token(config, healthy_facts(config),
                                                 _token(**claims), now=now)}
    assert results[check].status is status
    if status is not Status.OK:
        assert results[check].fix is not None


def test_token_not_on_the_provider_client_list() -> None:
    config = oidc_config()
    facts = with_stack(healthy_facts(config), provider=ObservedProvider(
        PROVIDER, owned=True, client_ids=("other",)))
    results = {r.name: r for r in check_id_token(config, facts, _token(),
                                                 now=dt.datetime.now(dt.UTC))}
    assert "Incorrect token audience" in results["token.audience"].detail


# -- SAML certificates --------------------------------------------------------------------


def _idp(not_after: dt.datetime) -> SamlIdp:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit IdP")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - dt.timedelta(days=365)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return SamlIdp("https://idp.example.test/saml", key, cert)


@pytest.mark.parametrize(("days_left", "status"), [(-1, Status.FAIL), (10, Status.WARN),
                                                   (29, Status.WARN), (31, Status.OK)])
def test_saml_certificate_expiry(days_left: int, status: Status) -> None:
    idp = _idp(NOW + dt.timedelta(days=days_left))
    metadata = idp.metadata_xml()
    config = config_from_mapping({
        "name": "demo", "mode": "saml", "region": "us-east-1", "account_id": ACCOUNT,
        "saml": {"metadata_document": metadata, "sso_url": "https://idp.example.test/sso"}})
    arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/qbizfed-demo"
    facts = facts_of(ObservedStack(ACCOUNT, None, None, provider=ObservedProvider(
        arn, owned=True, metadata_document=metadata)))
    results = {r.name: r for r in check_saml_idp(config, facts, now=NOW)}
    assert results["idp.saml-certificate"].status is status
    assert results["idp.iam-saml-certificate"].status is status
    assert results["idp.saml-certificate-match"].status is Status.OK


def test_saml_metadata_that_is_not_metadata_fails() -> None:
    filler = "<!-- " + "x" * 1000 + " -->"
    config = config_from_mapping({
        "name": "demo", "mode": "saml", "region": "us-east-1", "account_id": ACCOUNT,
        "saml": {"metadata_document": f"<html>{filler}</html>",
                 "sso_url": "https://idp.example.test/sso"}})
    results = {r.name: r for r in check_saml_idp(config, facts_of(ObservedStack(ACCOUNT, None,
                                                                                 None)),
                                                 now=NOW)}
    assert results["idp.saml-metadata"].status is Status.FAIL
    assert results["idp.iam-saml-provider"].status is Status.FAIL


@pytest.mark.parametrize(("accepted", "status"), [(False, Status.FAIL), (None, Status.WARN)])
def test_redirect_uri_the_idp_does_not_accept(accepted: bool | None, status: Status) -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert facts.idp is not None
    uri = "https://app.example.com/auth/oidc/callback"
    facts = replace(facts, idp=replace(facts.idp, redirect_probes=(
        RedirectProbe(uri, accepted, "x"),)))
    result = all_checks(config, facts)["idp.redirect-uris"]
    assert result.status is status
    assert uri in result.fix.summary


WEB = "https://abc.chat.qbusiness.us-east-1.on.aws/"
CUSTOM_ACS = "https://app.example.com/saml"
REGIONAL = "https://us-east-1.signin.aws.amazon.com/saml"
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/qbizfed-demo"


@pytest.mark.parametrize(
    ("audiences", "status"),
    [
        ([WEB + "saml", REGIONAL, CUSTOM_ACS], Status.OK),
        ([REGIONAL, CUSTOM_ACS], Status.WARN),  # the web experience's /saml URL missing
        ([WEB + "saml", REGIONAL], Status.FAIL),  # the configured custom ACS URL missing
        (["https://elsewhere.example.com/saml"], Status.FAIL),
    ],
    ids=["all", "no_web_experience_url", "no_custom_acs", "none_of_them"],
)
def test_saml_audience_condition(audiences: list[str], status: Status) -> None:
    config = config_from_mapping({
        "name": "demo", "mode": "saml", "region": "us-east-1", "account_id": ACCOUNT,
        "saml": {"metadata_document": _idp(NOW + dt.timedelta(days=90)).metadata_xml(),
                 "sso_url": "https://idp.example.test/sso", "custom_acs_url": CUSTOM_ACS}})
    trust = policies.saml_trust_policy(provider_arn=SAML_PROVIDER, audiences=audiences)
    facts = facts_of(ObservedStack(
        ACCOUNT, None, None, provider=ObservedProvider(SAML_PROVIDER, owned=True),
        web_role=ObservedRole(ROLE, ROLE_ARN, trust, None, owned=True),
        web_experience=ObservedWebExperience("w", "arn:w", "ACTIVE", WEB, ROLE_ARN, {}),
        application=ObservedApplication(APP_ID, APP_ARN, "ACTIVE", "AWS_IAM_IDP_SAML",
                                        SAML_PROVIDER, (), None, "ENABLED", "Q_BUSINESS")))
    results = {r.name: r for r in check_role(config, facts, duration_seconds=3600)}
    assert results["role.trust-audience"].status is status
