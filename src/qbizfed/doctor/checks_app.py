"""Is what admin made usable now? Status of the application, web experience, retriever.

Whether each resource exists and is configured as the config wants is
:mod:`.checks_plan` (admin's plan); these checks add what a plan does not look at:
the application and web experience are ``ACTIVE``, and the retriever and its index
are ``ACTIVE`` (chats have something to search). A missing resource is SKIPped here:
its ``stack.*`` check FAILs.
"""

from __future__ import annotations

from qbizfed.aws.provision.observed import Part
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.doctor.result import CheckResult, Fix, Status, fail, ok, skip, warn
from qbizfed.settings.stack import StackConfig

CHECKS = ("app.status", "app.web-experience", "app.retriever")
BUSY = ("CREATING", "UPDATING", "PENDING_CREATION")


def _status(name: str, looked: str, status: str, fix: str) -> CheckResult:
    if status == "ACTIVE":
        return ok(name, looked, "ACTIVE")
    if status in BUSY:
        return warn(name, looked, f"{status}: not usable yet",
                    Fix("wait until it is ACTIVE (`qbizfed admin status`)"))
    return fail(name, looked, f"{status or 'unknown'}: not usable", Fix(fix))


def check_application(config: StackConfig, facts: DoctorFacts) -> list[CheckResult]:
    looked = f"Q Business application {config.name!r} in {config.region}"
    unknown = facts.unknown(Part.APPLICATION)
    if unknown is not None:
        return [skip(n, looked, unknown.reason, unknown.needs) for n in CHECKS]
    stack = facts.stack
    app = stack.application
    if app is None:
        return [skip(n, looked, "no application (see stack.application)") for n in CHECKS]
    results = [_status("app.status", f"status of application {app.id}", app.status,
                       "look at the application's error in the console, then `qbizfed admin "
                       "destroy` and `qbizfed admin apply`")]
    web = stack.web_experience
    if web is None:
        results.append(skip("app.web-experience", f"web experiences of application {app.id}",
                            "no web experience (see stack.web-experience)"))
    else:
        result = _status("app.web-experience", f"status of web experience {web.id}",
                         web.status, "look at the web experience's error in the console, "
                         "then delete it and run `qbizfed admin apply`")
        if result.status is Status.OK:
            result = ok(result.name, result.looked_at, f"ACTIVE at {web.endpoint}")
        results.append(result)
    results.append(_retriever(facts, app.id))
    return results


def _retriever(facts: DoctorFacts, app_id: str) -> CheckResult:
    looked = f"retriever and index of application {app_id}"
    retriever, index = facts.stack.retriever, facts.stack.index
    if retriever is None:
        return skip("app.retriever", looked, "no retriever (see stack.retriever)")
    fix = ("look at the retriever's and index's errors in the console, then delete them "
           "and run `qbizfed admin apply`")
    if index is None or retriever.index_id != index.id:
        return skip("app.retriever", looked, "no index of the stack behind the retriever "
                    "(see stack.index and stack.retriever)")
    if retriever.status != "ACTIVE":
        return _status("app.retriever", looked, retriever.status, fix)
    if index.status != "ACTIVE":
        return _status("app.retriever", looked, index.status, fix)
    return ok("app.retriever", looked, f"retriever {retriever.id} on index {index.id}, ACTIVE")
