"""Checks of the Q Business application and what hangs off it (pure over facts).

The application exists and is ACTIVE; its identity type and IAM provider are the ones
the role trusts (and, for OIDC, it lists the client ID); auto-subscription is on
when the config wants it ("User does not have a subscription" otherwise); the web
experience uses the checked role and the IdP configuration of the config; a
retriever with an ACTIVE index is present.
"""

from __future__ import annotations

from qbizfed.doctor.facts import ApplicationFacts, RoleFacts, StackFacts, Unreadable
from qbizfed.doctor.fixes import expected_provider_arn
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip, warn
from qbizfed.settings.stack import Mode, StackConfig

CHECKS = ("app.exists", "app.status", "app.identity", "app.auto-subscription",
          "app.web-experience", "app.retriever")
RECREATE = ("identityType, the IAM identity provider and clientIdsForOIDC cannot change in "
            "place: `qbizfed admin destroy` then `qbizfed admin apply` (this recreates the "
            "application)")


def check_application(config: StackConfig, facts: StackFacts) -> list[CheckResult]:
    app = facts.application
    looked = f"Q Business application {config.name!r} in {config.region}"
    if isinstance(app, Unreadable):
        return [skip(n, looked, app.reason, app.needs) for n in CHECKS]
    if app is None:
        missing = fail("app.exists", looked, "no application with that name (or id)",
                       Fix("create it with `qbizfed admin apply`, or name it with "
                           "--application-id"))
        return [missing, *(skip(n, looked, "no application") for n in CHECKS[1:])]
    looked = f"application {app.id}"
    results = [ok("app.exists", looked, app.arn), _status(app),
               _identity(config, facts, app), _auto_subscription(config, app),
               _web_experience(config, facts, app), _retriever(facts, app)]
    return results


def _status(app: ApplicationFacts) -> CheckResult:
    looked = f"status of application {app.id}"
    if app.status == "ACTIVE":
        return ok("app.status", looked, "ACTIVE")
    if app.status in ("CREATING", "UPDATING"):
        return warn("app.status", looked, f"{app.status}: not usable yet",
                    Fix("wait until it is ACTIVE (`qbizfed admin status`)"))
    return fail("app.status", looked, f"{app.status or 'unknown'}: not usable",
                Fix("look at the application's error in the console, then `qbizfed admin "
                    "destroy` and `qbizfed admin apply`"))


def _identity(config: StackConfig, facts: StackFacts, app: ApplicationFacts) -> CheckResult:
    looked = f"identityType and iamIdentityProviderArn of application {app.id}"
    wanted_type = "AWS_IAM_IDP_OIDC" if config.mode is Mode.OIDC else "AWS_IAM_IDP_SAML"
    provider = expected_provider_arn(config, facts)
    problems = []
    if app.identity_type != wanted_type:
        problems.append(f"identityType is {app.identity_type}, the config needs {wanted_type}")
    if app.provider_arn != provider:
        problems.append(f"it names provider {app.provider_arn}, the role and IAM use {provider}")
    if config.mode is Mode.OIDC and config.oidc is not None and \
            config.oidc.client_id not in app.client_ids:
        problems.append(f"clientIdsForOIDC {list(app.client_ids)} lacks {config.oidc.client_id}")
    if problems:
        return fail("app.identity", looked, "; ".join(problems), Fix(RECREATE))
    return ok("app.identity", looked, f"{wanted_type} with {provider}")


def _auto_subscription(config: StackConfig, app: ApplicationFacts) -> CheckResult:
    looked = f"autoSubscriptionConfiguration of application {app.id}"
    enabled = app.auto_subscribe == "ENABLED"
    if config.auto_subscribe is None:
        if enabled:
            return ok("app.auto-subscription", looked, "ENABLED")
        return ok("app.auto-subscription", looked,
                  "DISABLED as configured: subscribe each user yourself (CreateSubscription)")
    wanted = config.auto_subscribe.value
    fix = Fix(f"enable auto-subscription ({wanted}), or run `qbizfed admin apply`",
              command=f"aws qbusiness update-application --application-id {app.id} "
              f"--auto-subscription-configuration autoSubscribe=ENABLED,"
              f"defaultSubscriptionType={wanted}")
    if not enabled:
        return fail("app.auto-subscription", looked,
                    f"auto-subscription is {app.auto_subscribe or 'DISABLED'}: users without a "
                    "subscription get AccessDenied \"User does not have a subscription\"", fix)
    if app.default_subscription_type != wanted:
        return warn("app.auto-subscription", looked,
                    f"new users get {app.default_subscription_type}, the config says {wanted}",
                    fix)
    return ok("app.auto-subscription", looked, f"ENABLED, {wanted}")


def _web_experience(config: StackConfig, facts: StackFacts, app: ApplicationFacts
                    ) -> CheckResult:
    looked = f"web experiences of application {app.id}"
    webs = facts.web_experiences
    if isinstance(webs, Unreadable):
        return skip("app.web-experience", looked, webs.reason, webs.needs)
    if not webs:
        return fail("app.web-experience", looked, "the application has no web experience",
                    Fix("create it with `qbizfed admin apply`"))
    web = webs[0]
    looked = f"web experience {web.id}"
    problems = []
    if web.status != "ACTIVE":
        problems.append(f"status {web.status}")
    role_arn = facts.role.arn if isinstance(facts.role, RoleFacts) else None
    if role_arn and web.role_arn != role_arn:
        problems.append(f"roleArn is {web.role_arn}, the checked role is {role_arn}")
    idp = web.identity_provider_configuration
    if config.mode is Mode.OIDC:
        oidc = idp.get("openIDConnectConfiguration") or {}
        if not oidc:
            problems.append("no openIDConnectConfiguration")
        elif not oidc.get("secretsArn") or not oidc.get("secretsRole"):
            problems.append("openIDConnectConfiguration lacks secretsArn or secretsRole")
    else:
        assert config.saml is not None
        saml = idp.get("samlConfiguration") or {}
        url = saml.get("authenticationUrl")
        if url != config.saml.idp_sso_url:
            problems.append(f"samlConfiguration.authenticationUrl is {url!r}, the config says "
                            f"{config.saml.idp_sso_url!r}")
    if problems:
        command = (f"aws qbusiness update-web-experience --application-id {app.id} "
                   f"--web-experience-id {web.id}")
        if role_arn:
            command += f" --role-arn {role_arn}"
        if config.mode is Mode.SAML and config.saml is not None:
            command += (" --identity-provider-configuration "
                        f"samlConfiguration={{authenticationUrl={config.saml.idp_sso_url}}}")
        return fail("app.web-experience", looked, "; ".join(problems),
                    Fix("point the web experience at the role and the IdP of the config, or "
                        "run `qbizfed admin apply`", command=command))
    return ok("app.web-experience", looked, f"ACTIVE at {web.endpoint}")


def _retriever(facts: StackFacts, app: ApplicationFacts) -> CheckResult:
    looked = f"retrievers of application {app.id}"
    found = facts.retrievers
    if isinstance(found, Unreadable):
        return skip("app.retriever", looked, found.reason, found.needs)
    usable = [r for r in found if r.status == "ACTIVE"
              and (r.type != "NATIVE_INDEX" or r.index_status == "ACTIVE")]
    if usable:
        return ok("app.retriever", looked,
                  f"{usable[0].type} retriever {usable[0].id}"
                  + (f" on index {usable[0].index_id}" if usable[0].index_id else ""))
    detail = "no retriever" if not found else "; ".join(
        f"retriever {r.id} {r.status}, index {r.index_id} "
        f"{r.index_status or 'not found'}" for r in found)
    return fail("app.retriever", looked, detail + ": chats have nothing to search",
                Fix("create an ENTERPRISE index and a NATIVE_INDEX retriever on it "
                    "(`qbizfed admin apply`)"))
