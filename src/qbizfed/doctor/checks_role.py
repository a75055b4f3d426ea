"""Checks of the web experience role: its trust policy and its permission policy (pure).

Trust: a statement allowing the federation action for the right IAM provider, with
the audience condition (``<issuer>:aud`` / ``SAML:aud``), ``sts:TagSession`` (the
most common failure in the wild), the ``Email`` request tag (required on the assume
statement by default, at least allowed), and a MaxSessionDuration covering the
requested duration. Permissions: the chat actions on *this* application's ARN and
``user-subscriptions:CreateClaim`` for auto-subscription, decided by the same evaluator
and the same action/resource table the local stack's Q Business authorizes with
(``qbizfed.iam``), so doctor FAILs exactly where a call would be refused. Without a
user in hand, conditions see the role's own keys (region, principal, account) only:
a permission that depends on a user's session tags counts as not granted.
"""

from __future__ import annotations

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import ObservedRole, Part
from qbizfed.doctor import statements as st
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.doctor.fixes import (
    assume_action,
    create_claim_statement,
    permission_command,
    saml_audiences,
    tag_session_statement,
    trust_command,
)
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip, warn
from qbizfed.doctor.statements import Statement
from qbizfed.iam.policy import (
    AccessRequest,
    PermissionPolicy,
    PolicyError,
    RequestContext,
    evaluate,
)
from qbizfed.iam.qbusiness import required_permissions
from qbizfed.policies import CONVERSATION_ACTIONS, EMAIL_REQUEST_TAG
from qbizfed.settings.stack import Mode, StackConfig

CHECKS = ("role.trust-provider", "role.trust-audience", "role.tag-session", "role.email-tag",
          "role.session-duration", "role.chat-permissions", "role.create-claim")


def _trust_fix(config: StackConfig, facts: DoctorFacts, role: ObservedRole, what: str) -> Fix:
    return Fix(f"{what}: replace the trust policy of {role.name} with this one "
               "(what `qbizfed admin apply` writes)",
               command=trust_command(role.name),
               document=st.dumps(desired.web_role_trust_policy(config, facts.stack)))


def _assume_statements(config: StackConfig, role: ObservedRole, provider_arn: str
                       ) -> list[Statement]:
    return [s for s in st.allowing(role.trust_policy, assume_action(config))
            if provider_arn in st.federated_principals(s)]


def check_role(config: StackConfig, facts: DoctorFacts, *, duration_seconds: int
               ) -> list[CheckResult]:
    role = facts.stack.web_role
    unknown = facts.unknown(Part.WEB_ROLE)
    if unknown is not None:
        return [skip(n, facts.role_source, unknown.reason, unknown.needs) for n in CHECKS]
    if role is None:
        missing = fail("role.trust-provider", facts.role_source,
                       f"no role found from {facts.role_source}",
                       Fix("create the web experience role with `qbizfed admin apply`, or "
                           "name it with --role-arn"))
        return [missing, *(skip(n, facts.role_source, "no role") for n in CHECKS[1:])]
    provider_arn = desired.identity_provider_arn(config, facts.stack)
    assume = _assume_statements(config, role, provider_arn)
    results = [_trust_provider(config, facts, role, provider_arn, assume)]
    if assume:
        results.append(_audience(config, facts, role, assume))
    else:
        results.append(skip("role.trust-audience", f"trust policy of {role.name}",
                            "no statement trusts the provider"))
    results.append(_tag_session(config, facts, role, provider_arn))
    results.append(_email_tag(config, facts, role, assume))
    results.append(_duration(role, duration_seconds))
    results.append(_chat_permissions(config, facts, role))
    results.append(_create_claim(config, facts, role))
    return results


def _trust_provider(config: StackConfig, facts: DoctorFacts, role: ObservedRole,
                    provider_arn: str, assume: list[Statement]) -> CheckResult:
    looked = f"trust policy of {role.name} ({facts.role_source})"
    action = assume_action(config)
    if assume:
        return ok("role.trust-provider", looked, f"allows {action} for {provider_arn}")
    others = sorted({p for s in st.allowing(role.trust_policy, action)
                     for p in st.federated_principals(s)})
    detail = (f"no statement allows {action} for {provider_arn}"
              + (f" (it trusts {', '.join(others)} instead)" if others else ""))
    return fail("role.trust-provider", looked, detail,
                _trust_fix(config, facts, role, f"trust {provider_arn} with {action}"))


def _audience(config: StackConfig, facts: DoctorFacts, role: ObservedRole,
              assume: list[Statement]) -> CheckResult:
    looked = f"audience condition of the {assume_action(config)} statement of {role.name}"
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        key = f"{config.oidc.provider_path}:aud"
        wanted = [config.oidc.client_id]
    else:
        key = "SAML:aud"
        wanted = saml_audiences(config, facts)
    entries = [st.condition_on(s, key) for s in assume]
    present = [e for e in entries if e is not None]
    if not present:
        return fail("role.trust-audience", looked,
                    f"no {key} condition: any token of this IdP, for any client or "
                    "application, could assume the role",
                    _trust_fix(config, facts, role, f"add the {key} condition"))
    allowed = {v for e in present for v in e.values}
    missing = [w for w in wanted if not _allows_value(present, w)]
    required = _required_audiences(config, wanted)
    if missing and (set(missing) & set(required) or len(missing) == len(wanted)):
        return fail("role.trust-audience", looked,
                    f"{key} allows {sorted(allowed)} but not {missing}; STS refuses "
                    "those sign-ins with AccessDenied",
                    _trust_fix(config, facts, role, f"allow {', '.join(missing)} in {key}"))
    if missing:
        # The web experience's /saml URL or the regional sign-in URL: which one a given IdP
        # posts to depends on its ACS setting, so a missing one is a warning only.
        return warn("role.trust-audience", looked,
                    f"{key} allows {sorted(allowed)} but not {missing}: sign-ins posted "
                    "there are refused",
                    _trust_fix(config, facts, role, f"allow {', '.join(missing)} in {key}"))
    return ok("role.trust-audience", looked, f"{key} allows {', '.join(wanted)}")


def _allows_value(entries: list[st.ConditionEntry], value: str) -> bool:
    for entry in entries:
        if value in entry.values:
            return True
        if entry.operator.startswith("StringLike") and any(
                st.glob_match(v, value, case_sensitive=True) for v in entry.values):
            return True
    return False


def _required_audiences(config: StackConfig, wanted: list[str]) -> list[str]:
    """Audiences without which sign-in surely fails: the client ID, the custom ACS URL."""
    if config.mode is Mode.OIDC:
        return wanted
    assert config.saml is not None
    return [config.saml.acs_url] if config.saml.acs_url else []


def _tag_session(config: StackConfig, facts: DoctorFacts, role: ObservedRole, provider_arn: str
                 ) -> CheckResult:
    looked = f"sts:TagSession in the trust policy of {role.name}"
    tagging = [s for s in st.allowing(role.trust_policy, "sts:TagSession")
               if provider_arn in st.federated_principals(s)]
    if tagging:
        return ok("role.tag-session", looked, f"allowed for {provider_arn}")
    statement = tag_session_statement(config, facts)
    fixed = st.with_statement(role.trust_policy, statement)
    return fail(
        "role.tag-session", looked,
        "the trust policy does not allow sts:TagSession; STS refuses the Email session tag: "
        "\"is not authorized to perform: sts:TagSession\"",
        Fix("add this statement to the trust policy:\n" + st.dumps(statement)
            + f"\n(the document below is the current trust policy of {role.name} with it added)",
            command=trust_command(role.name), document=st.dumps(fixed)),
    )


def _email_tag(config: StackConfig, facts: DoctorFacts, role: ObservedRole,
               assume: list[Statement]) -> CheckResult:
    looked = f"{EMAIL_REQUEST_TAG} conditions in the trust policy of {role.name}"
    required = any(st.condition_on(s, EMAIL_REQUEST_TAG) is not None for s in assume)
    allowed = bool(st.allowing(role.trust_policy, "sts:TagSession"))
    if required:
        return ok("role.email-tag", looked, "the assume statement requires the Email tag")
    if allowed and not config.require_email_tag:
        return ok("role.email-tag", looked,
                  "the Email tag is allowed (application.require_email_tag = false)")
    detail = ("the Email tag is allowed but not required: a token or assertion without it "
              "still gets credentials, and Q Business fails later") if allowed else (
              "nothing mentions the Email tag")
    return warn("role.email-tag", looked, detail,
                _trust_fix(config, facts, role,
                           f"require {EMAIL_REQUEST_TAG} on the assume statement"))


def _duration(role: ObservedRole, duration_seconds: int) -> CheckResult:
    looked = f"MaxSessionDuration of {role.name}"
    if role.max_session_duration < duration_seconds:
        return fail("role.session-duration", looked,
                    f"{role.max_session_duration} s is less than the requested "
                    f"{duration_seconds} s; STS refuses the DurationSeconds",
                    Fix(f"raise the role's maximum to {duration_seconds} s (at most 43200), or "
                        "ask for a shorter session",
                        command=f"aws iam update-role --role-name {role.name} "
                        f"--max-session-duration {duration_seconds}"))
    return ok("role.session-duration", looked,
              f"{role.max_session_duration} s ≥ requested {duration_seconds} s")


def _permission_fix(config: StackConfig, facts: DoctorFacts, role: ObservedRole, what: str) -> Fix:
    return Fix(f"{what}: put this permission policy on {role.name} (what `qbizfed admin apply` "
               "writes)", command=permission_command(role.name, StackNames(config.name).web_policy),
               document=st.dumps(desired.web_role_permission_policy(config, facts.stack)))


def _role_context(config: StackConfig, role: ObservedRole, **extra: str) -> RequestContext:
    """What IAM knows about any session of the role, before knowing who signed in."""
    return RequestContext({
        "aws:RequestedRegion": config.region,
        "aws:PrincipalArn": role.arn,
        "aws:PrincipalAccount": role.arn.split(":")[4] if role.arn.count(":") >= 5 else "",
        "aws:PrincipalType": "AssumedRole",
        **extra,
    })  # fmt: skip


def _allowed(role: ObservedRole, needed: tuple[tuple[str, str], ...], context: RequestContext
             ) -> bool:
    """Would IAM allow every (action, resource) pair to a session of this role?"""
    try:
        policies = [PermissionPolicy.parse(doc) for _, doc in role.policies]
        return all(evaluate(AccessRequest(action, resource, context), policies).allowed
                   for action, resource in needed)
    except PolicyError:
        return False  # IAM (and the local stack) refuse what they cannot evaluate


def _chat_permissions(config: StackConfig, facts: DoctorFacts, role: ObservedRole) -> CheckResult:
    app_arn = desired.application_arn_or_pending(config, facts.stack)
    looked = f"permission policies of {role.name} on {app_arn}"
    unknown = facts.unknown(Part.APPLICATION)
    if unknown is not None:
        return skip("role.chat-permissions", looked, unknown.reason, unknown.needs)
    web = facts.stack.web_experience
    labels = {"applicationId": app_arn.rsplit("/", 1)[-1], "webExperienceId": web.id if web
              else "<web-experience-id>"}  # fmt: skip
    context = _role_context(config, role)
    missing = []
    for action in CONVERSATION_ACTIONS:
        needed = required_permissions(action.split(":", 1)[1], labels, region=config.region,
                                      account_id=app_arn.split(":")[4])  # fmt: skip
        if not _allowed(role, needed, context):
            missing.append(action)
    if missing:
        return fail("role.chat-permissions", looked,
                    f"not allowed on this application: {', '.join(missing)}",
                    _permission_fix(config, facts, role, "allow the chat actions on " + app_arn))
    return ok("role.chat-permissions", looked,
              f"{len(CONVERSATION_ACTIONS)} chat actions allowed")


def _create_claim(config: StackConfig, facts: DoctorFacts, role: ObservedRole) -> CheckResult:
    looked = f"user-subscriptions:CreateClaim in the permission policies of {role.name}"
    # The claim Q Business makes for a user's first chat, with its context keys.
    context = _role_context(config, role, **{"user-subscriptions:CreateForSelf": "true",
                                             "aws:CalledViaLast": "qbusiness.amazonaws.com"})
    if _allowed(role, (("user-subscriptions:CreateClaim", "*"),), context):
        return ok("role.create-claim", looked, "allowed (users can subscribe themselves)")
    statement = create_claim_statement(config, facts)
    fix = Fix("add this statement to the permission policy:\n" + st.dumps(statement)
              + "\n(the document below is the whole policy `qbizfed admin apply` writes)",
              command=permission_command(role.name, StackNames(config.name).web_policy),
              document=st.dumps(desired.web_role_permission_policy(config, facts.stack)))
    detail = ("not allowed: the first chat of a user cannot create the user's subscription "
              "(AccessDenied \"User does not have a subscription\")")
    if config.auto_subscribe is None:
        return warn("role.create-claim", looked, detail + "; auto-subscription is off", fix)
    return fail("role.create-claim", looked, detail, fix)
