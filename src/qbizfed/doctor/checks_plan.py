"""The stack against admin's desired state: one check per resource of ``admin plan``.

Each check is the :class:`~qbizfed.aws.provision.plan.Change` ``admin plan`` computes
for the resource, from the same reading and the same desired state: a pending change
(create, update, blocked, delete) is a FAIL whose fix is ``qbizfed admin apply`` and
the specific change (the document or command where one call makes it); no change is
OK. So doctor FAILs a resource exactly when ``admin plan`` would change it. A resource
whose reads were refused is SKIPped with the IAM permissions to grant.
"""

from __future__ import annotations

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import Part
from qbizfed.aws.provision.plan import STEPS, Action, Change, Resource
from qbizfed.doctor import statements as st
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.doctor.fixes import permission_command, trust_command
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip
from qbizfed.settings.stack import StackConfig

CHECK_NAMES: dict[Resource, str] = {
    Resource.SERVICE_ROLE: "stack.service-role",
    Resource.PROVIDER: "stack.identity-provider",
    Resource.APPLICATION: "stack.application",
    Resource.INDEX: "stack.index",
    Resource.RETRIEVER: "stack.retriever",
    Resource.WEB_ROLE: "stack.web-role",
    Resource.SECRETS_ROLE: "stack.secrets-role",
    Resource.WEB_EXPERIENCE: "stack.web-experience",
    Resource.AUTO_SUBSCRIPTION: "stack.auto-subscription",
}

READS: dict[Resource, tuple[Part, ...]] = {
    Resource.SERVICE_ROLE: (Part.SERVICE_ROLE,),
    Resource.PROVIDER: (Part.PROVIDER,),
    Resource.APPLICATION: (Part.APPLICATION, Part.PROVIDER, Part.ACCOUNT, Part.SERVICE_ROLE),
    Resource.INDEX: (Part.APPLICATION,),
    Resource.RETRIEVER: (Part.APPLICATION,),
    Resource.WEB_ROLE: (Part.WEB_ROLE, Part.PROVIDER, Part.APPLICATION, Part.ACCOUNT),
    Resource.SECRETS_ROLE: (Part.SECRETS_ROLE, Part.CLIENT_SECRET_ENTRY, Part.SECRET_KMS_KEY,
                            Part.APPLICATION, Part.ACCOUNT),
    Resource.WEB_EXPERIENCE: (Part.APPLICATION, Part.WEB_ROLE, Part.SECRETS_ROLE,
                              Part.CLIENT_SECRET_ENTRY),
    Resource.AUTO_SUBSCRIPTION: (Part.APPLICATION,),
}
"""What each resource's diff reads: unknown, and the check cannot say."""

APPLY = "qbizfed admin apply"


def check_stack(config: StackConfig, facts: DoctorFacts) -> list[CheckResult]:
    """One result per resource of ``admin plan``, in its order."""
    results = []
    for resource, diff in STEPS:
        name = CHECK_NAMES[resource]
        unknown = [u for u in (facts.unknown(p) for p in READS[resource]) if u is not None]
        if unknown:
            needs = tuple(dict.fromkeys(n for u in unknown for n in u.needs))
            results.append(skip(name, f"the {resource.value} vs admin's desired state",
                                "; ".join(u.reason for u in unknown), needs))
            continue
        results.append(_verdict(config, facts, name, diff(config, facts.stack)))
    return results


def _verdict(config: StackConfig, facts: DoctorFacts, name: str, change: Change) -> CheckResult:
    looked = f"{change.resource.value} {change.name} vs admin's desired state"
    reasons = "; ".join(change.reasons)
    if change.action in (Action.NONE, Action.KEEP):
        return ok(name, looked, f"as `admin apply` leaves it{': ' + reasons if reasons else ''}")
    detail = f"`admin plan` shows: {change.action.value}" + (f" ({reasons})" if reasons else "")
    if change.action is Action.BLOCKED:
        return fail(name, looked, detail, Fix(
            f"`{APPLY}` refuses this change: {reasons}"))
    return fail(name, looked, detail, _fix(config, facts, change))


def _fix(config: StackConfig, facts: DoctorFacts, change: Change) -> Fix:
    """``admin apply``, with the single call that makes the change where there is one."""
    what = f"run `{APPLY}` ({change.action.value} the {change.resource.value})"
    names = StackNames(config.name)
    stack = facts.stack
    if change.resource is Resource.WEB_ROLE and stack.web_role is not None:
        if change.reasons == ("trust policy differs",):
            return Fix(what + ", or put this trust policy on the role",
                       command=trust_command(stack.web_role.name),
                       document=st.dumps(desired.web_role_trust_policy(config, stack)))
        if set(change.reasons) <= {"permission policy differs", "permission policy missing"}:
            return Fix(what + ", or put this permission policy on the role",
                       command=permission_command(stack.web_role.name, names.web_policy),
                       document=st.dumps(desired.web_role_permission_policy(config, stack)))
    if (change.resource is Resource.AUTO_SUBSCRIPTION and stack.application is not None
            and config.auto_subscribe is not None):
        wanted = config.auto_subscribe.value
        return Fix(what + f", or enable auto-subscription ({wanted})",
                   command=f"aws qbusiness update-application --application-id "
                   f"{stack.application.id} --auto-subscription-configuration "
                   f"autoSubscribe=ENABLED,defaultSubscriptionType={wanted}")
    return Fix(what, command=APPLY)
