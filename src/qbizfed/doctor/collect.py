"""Read what doctor checks: admin's reader of the stack, and the IdP over HTTP.

Clients are injected (:class:`~qbizfed.aws.provision.AwsClients`; an ``httpx.Client``
for the IdP). AWS is read by :func:`~qbizfed.aws.provision.observed.read_stack`, the
reader ``admin plan`` uses: a refused read becomes an ``Unknown`` part naming the
permission it needed, and the other reads go on. Nothing here creates, updates,
deletes, tags or puts anything: ``tests/integration/test_doctor_readonly.py`` counts
every call through botocore's event hooks to prove it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from qbizfed.aws.provision.clients import AwsClients
from qbizfed.aws.provision.instructions import PENDING, idp_instructions
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import ObservedStack, read_stack
from qbizfed.doctor.collect_idp import collect_oidc_idp
from qbizfed.doctor.facts import DoctorFacts
from qbizfed.settings.stack import Mode, StackConfig


@dataclass(frozen=True)
class Targets:
    """What to look at beyond the config: explicit overrides from the command line."""

    role_arn: str | None = None
    application_id: str | None = None


def redirect_uris(config: StackConfig, stack: ObservedStack) -> tuple[str, ...]:
    """Where the IdP must send users back: the redirect URIs of admin's IdP instructions
    that exist already (no web experience yet: only the custom app's)."""
    return tuple(uri for uri in idp_instructions(config, stack).redirect_uris
                 if not uri.startswith(PENDING))


def collect(config: StackConfig, clients: AwsClients, *, http: httpx.Client,
            targets: Targets = Targets()) -> DoctorFacts:
    """Read everything the checks need, read-only."""
    role_name = targets.role_arn.rsplit("/", 1)[-1] if targets.role_arn else None
    reading = read_stack(config, clients, application_id=targets.application_id,
                         web_role_name=role_name)
    source = ("--role-arn" if targets.role_arn
              else f"the stack's role name ({StackNames(config.name).web_role})")
    idp = None
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        idp = collect_oidc_idp(config.oidc.issuer, http, client_id=config.oidc.client_id,
                               redirect_uris=redirect_uris(config, reading.stack))
    return DoctorFacts(reading=reading, idp=idp, role_source=source)
