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
from qbizfed.doctor import Status
from qbizfed.doctor.checks_app import check_application
from qbizfed.doctor.checks_idp import check_oidc_idp, check_saml_idp
from qbizfed.doctor.checks_role import check_role
from qbizfed.doctor.checks_token import check_id_token
from qbizfed.doctor.facts import (
    ApplicationFacts,
    HttpDocument,
    OidcIdpFacts,
    OidcProviderFacts,
    RedirectProbe,
    RetrieverFacts,
    RoleFacts,
    SamlProviderFacts,
    StackFacts,
    Unreadable,
    WebExperienceFacts,
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


def healthy_facts(config: StackConfig) -> StackFacts:
    assert config.oidc is not None
    trust = policies.oidc_trust_policy(provider_arn=PROVIDER,
                                       provider_path=config.oidc.provider_path, client_id=CLIENT)
    permission = policies.web_experience_permission_policy(application_arn=APP_ARN,
                                                           region="us-east-1")
    return StackFacts(
        account_id=ACCOUNT,
        idp=OidcIdpFacts(
            discovery=HttpDocument(f"{ISSUER}/.well-known/openid-configuration", 200,
                                   {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"}),
            jwks=HttpDocument(f"{ISSUER}/keys", 200, {"keys": [{"kty": "RSA"}]}),
            redirect_probes=(RedirectProbe("https://x.chat.qbusiness.on.aws/authorization-code/"
                                           "callback", True, "redirected back"),)),
        oidc_providers=(OidcProviderFacts(PROVIDER, "idp.example.com/oauth2/default",
                                          (CLIENT,)),),
        role=RoleFacts(ROLE, ROLE_ARN, trust, 3600, (("qbizfed-web-experience", permission),)),
        role_source="test",
        application=ApplicationFacts(APP_ID, APP_ARN, "ACTIVE", "AWS_IAM_IDP_OIDC", PROVIDER,
                                     (CLIENT,), "ENABLED", "Q_BUSINESS"),
        web_experiences=(WebExperienceFacts(
            "w1", f"{APP_ARN}/web-experience/w1", "ACTIVE", "https://x.chat.qbusiness.on.aws/",
            ROLE_ARN,
            {"openIDConnectConfiguration": {"secretsArn": "arn:s", "secretsRole": "r"}}),),
        retrievers=(RetrieverFacts("r1", "NATIVE_INDEX", "ACTIVE", "i1", "ACTIVE"),),
    )


def all_checks(config: StackConfig, facts: StackFacts, duration: int = 3600) -> dict[str, Any]:
    results = [*check_oidc_idp(config, facts), *check_role(config, facts,
                                                            duration_seconds=duration),
               *check_application(config, facts)]
    return {r.name: r for r in results}


def problems(config: StackConfig, facts: StackFacts) -> dict[str, Status]:
    return {n: r.status for n, r in all_checks(config, facts).items() if r.is_problem}


def with_trust(facts: StackFacts, trust: dict[str, Any]) -> StackFacts:
    assert isinstance(facts.role, RoleFacts)
    return replace(facts, role=replace(facts.role, trust_policy=trust))


def with_permission(facts: StackFacts, document: dict[str, Any]) -> StackFacts:
    assert isinstance(facts.role, RoleFacts)
    return replace(facts, role=replace(facts.role,
                                       permission_policies=(("p", document),)))


def test_healthy_oidc_facts_have_no_problems() -> None:
    config = oidc_config()
    checks = all_checks(config, healthy_facts(config))
    assert {n: r.status for n, r in checks.items() if r.status is not Status.OK} == {}


def test_app_with_another_provider_and_without_the_client_id_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert isinstance(facts.application, ApplicationFacts)
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/other.example.com"
    facts = replace(facts, application=replace(facts.application, provider_arn=other,
                                               client_ids=("x",)))
    result = all_checks(config, facts)["app.identity"]
    assert result.status is Status.FAIL
    assert other in result.detail
    assert "clientIdsForOIDC" in result.detail
    assert "qbizfed admin destroy" in result.fix.summary


def test_web_experience_without_oidc_secret_fails() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert isinstance(facts.web_experiences, tuple)
    web = replace(facts.web_experiences[0], identity_provider_configuration={})
    assert problems(config, replace(facts, web_experiences=(web,))) == {
        "app.web-experience": Status.FAIL}


@pytest.mark.parametrize(("status", "verdict"), [("CREATING", Status.WARN),
                                                 ("FAILED", Status.FAIL)])
def test_application_not_active(status: str, verdict: Status) -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert isinstance(facts.application, ApplicationFacts)
    facts = replace(facts, application=replace(facts.application, status=status))
    assert problems(config, facts) == {"app.status": verdict}


def test_retriever_on_a_missing_index_fails() -> None:
    config = oidc_config()
    facts = replace(healthy_facts(config),
                    retrievers=(RetrieverFacts("r1", "NATIVE_INDEX", "ACTIVE", "i1", None),))
    assert problems(config, facts) == {"app.retriever": Status.FAIL}


def test_auto_subscription_off_by_config_is_fine() -> None:
    config = oidc_config(auto_subscribe="off")
    facts = healthy_facts(config)
    assert isinstance(facts.application, ApplicationFacts)
    facts = replace(facts, application=replace(facts.application, auto_subscribe="DISABLED"))
    assert problems(config, facts) == {}


def test_missing_application_fails_once_and_skips_the_rest() -> None:
    config = oidc_config()
    checks = all_checks(config, replace(healthy_facts(config), application=None))
    assert checks["app.exists"].status is Status.FAIL
    assert checks["app.retriever"].status is Status.SKIP


def test_unreadable_role_skips_with_the_permission() -> None:
    config = oidc_config()
    facts = replace(healthy_facts(config), role=Unreadable("AccessDenied", ("iam:GetRole",)))
    checks = all_checks(config, facts)
    assert checks["role.tag-session"].status is Status.SKIP
    assert checks["role.tag-session"].needs == ("iam:GetRole",)


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
    assert problems(config, with_permission(healthy_facts(config), document)) == {}


def test_missing_create_claim_is_a_warning_when_auto_subscription_is_off() -> None:
    config = oidc_config(auto_subscribe="off")
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "qbusiness:*", "Resource": "*"}]}
    assert problems(config, with_permission(healthy_facts(config), document)) == {
        "role.create-claim": Status.WARN}


def test_tag_session_fix_is_policies_statement_appended_to_the_current_policy() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert isinstance(facts.role, RoleFacts)
    trust = json.loads(json.dumps(facts.role.trust_policy))
    trust["Statement"] = trust["Statement"][:1]
    result = all_checks(config, with_trust(facts, trust))["role.tag-session"]
    assert result.status is Status.FAIL
    assert config.oidc is not None
    wanted = policies.oidc_trust_policy(provider_arn=PROVIDER,
                                        provider_path=config.oidc.provider_path,
                                        client_id=CLIENT)["Statement"][1]
    fixed = json.loads(result.fix.document)
    assert fixed["Statement"] == [trust["Statement"][0], wanted]
    assert trust["Statement"] == facts.role.trust_policy["Statement"][:1]  # input untouched


def test_trust_without_email_condition_warns_unless_config_allows_it() -> None:
    config = oidc_config()
    facts = healthy_facts(config)
    assert config.oidc is not None
    trust = policies.oidc_trust_policy(provider_arn=PROVIDER,
                                       provider_path=config.oidc.provider_path,
                                       client_id=CLIENT, require_email_tag=False)
    assert problems(config, with_trust(facts, trust)) == {"role.email-tag": Status.WARN}
    relaxed = oidc_config(require_email_tag=False)
    assert problems(relaxed, with_trust(healthy_facts(relaxed), trust)) == {}


def test_short_max_session_duration_fails() -> None:
    config = oidc_config()
    checks = all_checks(config, healthy_facts(config), duration=14400)
    assert checks["role.session-duration"].status is Status.FAIL
    assert "--max-session-duration 14400" in checks["role.session-duration"].fix.command


def test_issuer_with_trailing_slash_on_the_iam_provider_is_no_match() -> None:
    config = oidc_config()
    facts = replace(healthy_facts(config), oidc_providers=(
        OidcProviderFacts(PROVIDER + "/", "idp.example.com/oauth2/default/", (CLIENT,)),))
    checks = all_checks(config, facts)
    assert checks["idp.issuer"].status is Status.FAIL
    assert "No OpenIDConnect provider found" in checks["idp.issuer"].detail
    assert checks["idp.client-id"].status is Status.SKIP


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
    facts = replace(healthy_facts(config), oidc_providers=(
        OidcProviderFacts(PROVIDER, "idp.example.com/oauth2/default", ("other",)),))
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
    facts = StackFacts(account_id=ACCOUNT, saml_provider=SamlProviderFacts(arn, metadata))
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
    results = {r.name: r for r in check_saml_idp(config, StackFacts(account_id=ACCOUNT),
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
    facts = StackFacts(
        account_id=ACCOUNT, role=RoleFacts(ROLE, ROLE_ARN, trust, 3600), role_source="test",
        web_experiences=(WebExperienceFacts("w", "arn:w", "ACTIVE", WEB, ROLE_ARN, {}),),
        application=ApplicationFacts(APP_ID, APP_ARN, "ACTIVE", "AWS_IAM_IDP_SAML",
                                     SAML_PROVIDER, (), "ENABLED", "Q_BUSINESS"))
    results = {r.name: r for r in check_role(config, facts, duration_seconds=3600)}
    assert results["role.trust-audience"].status is status
