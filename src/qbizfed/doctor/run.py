"""Run every check in order: IdP, role, application, the stack against admin's desired
state, token/assertion, the streaming endpoint's reachability, end to end.

:func:`run_doctor` takes the config, injected clients and the user's options and
returns a :class:`~.result.DoctorReport`; it prints nothing (``report`` renders) and
changes nothing (``collect`` only reads).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx

from qbizfed.aws.provision import desired
from qbizfed.aws.provision.clients import AwsClients
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor.checks_app import check_application
from qbizfed.doctor.checks_e2e import (
    ClientFactory,
    E2eInputs,
    check_end_to_end,
    check_signed_in,
)
from qbizfed.doctor.checks_idp import check_device_flow, check_oidc_idp, check_saml_idp
from qbizfed.doctor.checks_plan import check_stack
from qbizfed.doctor.checks_role import check_role
from qbizfed.doctor.checks_stream import check_streaming_endpoint
from qbizfed.doctor.checks_token import check_id_token, check_no_credential, check_saml_response
from qbizfed.doctor.collect import Targets, collect
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.doctor.result import CheckResult, DoctorReport, skip
from qbizfed.settings.stack import Mode, StackConfig

DEFAULT_DURATION_SECONDS = 3600


@dataclass(frozen=True)
class DoctorOptions:
    """What the user asked for. ``credential`` is an ID token or a SAML response (never shown)."""

    credential: str | None = None
    role_arn: str | None = None
    application_id: str | None = None
    duration_seconds: int = DEFAULT_DURATION_SECONDS
    assume: bool = False
    """Run the end-to-end check: send ``credential`` to STS (the only place it goes)."""
    signed_in: AwsCredentials | None = None
    """Credentials of a signed-in user (``qbizfed login``) for the end-to-end check."""
    device_profiles: tuple[str, ...] = ()
    """Local ``qbizfed login`` profiles of this IdP that use the device flow."""

    def __repr__(self) -> str:
        shown = "'**********'" if self.credential else "None"
        return (f"DoctorOptions(credential={shown}, role_arn={self.role_arn!r}, "
                f"application_id={self.application_id!r}, "
                f"duration_seconds={self.duration_seconds}, assume={self.assume}, "
                f"signed_in={self.signed_in!r}, device_profiles={self.device_profiles!r})")


@dataclass(frozen=True)
class EndToEndClients:
    """An unsigned STS client for the federation call, and a factory for clients that use
    the federated credentials (``make_client("qbusiness", creds)``)."""

    federation: object
    make_client: ClientFactory


def run_checks(config: StackConfig, facts: DoctorFacts, options: DoctorOptions, *,
               now: dt.datetime) -> list[CheckResult]:
    """The pure part: every check over the facts already read."""
    results: list[CheckResult] = []
    if config.mode is Mode.OIDC:
        results += check_oidc_idp(config, facts)
        results += check_device_flow(facts, options.device_profiles)
    else:
        results += check_saml_idp(config, facts, now=now)
    results += check_role(config, facts, duration_seconds=options.duration_seconds)
    results += check_application(config, facts)
    results += check_stack(config, facts)
    kind = "token" if config.mode is Mode.OIDC else "assertion"
    if options.credential is None:
        results.append(check_no_credential(kind))
    elif config.mode is Mode.OIDC:
        results += check_id_token(config, facts, options.credential, now=now)
    else:
        role = facts.stack.web_role
        role_arn = role.arn if role is not None else options.role_arn
        results += check_saml_response(config, facts, options.credential, role_arn=role_arn,
                                       now=now)
    return results


def run_doctor(
    config: StackConfig,
    options: DoctorOptions,
    *,
    clients: AwsClients,
    http: httpx.Client,
    e2e: EndToEndClients | None = None,
    now: dt.datetime | None = None,
) -> DoctorReport:
    """Collect (read-only), check, and optionally run the end-to-end check."""
    now = now or dt.datetime.now(dt.UTC)
    facts = collect(config, clients, http=http,
                    targets=Targets(role_arn=options.role_arn,
                                    application_id=options.application_id))
    results = run_checks(config, facts, options, now=now)
    # The streaming host differs from the API's: reachable from here? (TCP only.)
    results.append(check_streaming_endpoint(clients.region, clients.qbusiness.meta.endpoint_url))
    notes = []
    if options.assume or options.signed_in is not None:
        results += _end_to_end(config, facts, options, e2e)
    else:
        notes.append("end-to-end check not run: pass --assume with --token/--saml-response "
                     "(the token then goes to STS, and only there), or --login-profile NAME "
                     "after `qbizfed login --profile NAME`")
    return DoctorReport(results=tuple(results), notes=tuple(notes))


def _end_to_end(config: StackConfig, facts: DoctorFacts, options: DoctorOptions,
                e2e: EndToEndClients | None) -> list[CheckResult]:
    looked = "end to end"
    role = facts.stack.web_role
    role_arn = role.arn if role is not None else options.role_arn
    if e2e is None:
        return [skip("e2e.assume-role", looked, "no AWS clients given for the end-to-end check")]
    app = facts.stack.application
    if options.signed_in is not None:
        inputs = E2eInputs(role_arn=role_arn or options.signed_in.role_arn or "",
                           provider_arn="", application_id=app.id if app else None,
                           auto_subscribe_enabled=bool(app and app.auto_subscribe == "ENABLED"))
        return check_signed_in(options.signed_in, inputs, make_client=e2e.make_client)
    if options.credential is None:
        return [skip("e2e.assume-role", looked, "--assume needs --token or --saml-response")]
    if role_arn is None:
        return [skip("e2e.assume-role", looked, "no role to assume (see role.*)")]
    inputs = E2eInputs(
        role_arn=role_arn,
        provider_arn=desired.identity_provider_arn(config, facts.stack),
        application_id=app.id if app else None,
        auto_subscribe_enabled=bool(app and app.auto_subscribe == "ENABLED"),
        duration_seconds=(options.duration_seconds
                          if options.duration_seconds != DEFAULT_DURATION_SECONDS else None),
    )
    return check_end_to_end(config, options.credential, inputs, federation=e2e.federation,
                            make_client=e2e.make_client)
