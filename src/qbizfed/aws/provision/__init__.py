"""Provisioning of an IAM-federated Q Business application: desired state -> plan -> apply.

    config = load_config(Path("qbizfed.toml"))           # qbizfed.settings.stack
    clients = AwsClients.from_session(region=config.region)
    preflight(config)                                    # offline/IdP checks, no AWS call
    observed = observe(config, clients)                  # read-only calls
    plan = make_plan(config, observed)                   # pure
    final = apply_stack(config, clients=clients, observed=observed)
    idp_instructions(config, final)                      # what the IdP admin must set
    destroy_stack(config, clients=clients)

Modules: ``names`` (naming and tags), ``clients`` (boto3 clients, retries, call log),
``observed`` (reading what exists), ``desired`` (documents wanted), ``plan`` (diff),
``apply``, ``destroy``, ``status``, ``instructions``, ``preflight``, ``waiting``,
``progress``, ``export.cloudformation``.
"""

from qbizfed.aws.provision.apply import ApplyFailedError, PlanBlockedError, apply_stack
from qbizfed.aws.provision.clients import AwsClients, CallLog, is_mutating
from qbizfed.aws.provision.destroy import DestroyResult, destroy_plan, destroy_stack
from qbizfed.aws.provision.export.cloudformation import cloudformation_template
from qbizfed.aws.provision.instructions import IdpInstructions, idp_instructions
from qbizfed.aws.provision.observed import ObservedStack, observe
from qbizfed.aws.provision.plan import Action, Change, Plan, Resource, make_plan
from qbizfed.aws.provision.preflight import PreflightReport, preflight
from qbizfed.aws.provision.progress import Progress, RecordingProgress, SilentProgress
from qbizfed.aws.provision.status import StatusRow, status_rows

__all__ = [
    "Action",
    "ApplyFailedError",
    "AwsClients",
    "CallLog",
    "Change",
    "DestroyResult",
    "IdpInstructions",
    "ObservedStack",
    "Plan",
    "PlanBlockedError",
    "PreflightReport",
    "Progress",
    "RecordingProgress",
    "Resource",
    "SilentProgress",
    "StatusRow",
    "apply_stack",
    "cloudformation_template",
    "destroy_plan",
    "destroy_stack",
    "idp_instructions",
    "is_mutating",
    "make_plan",
    "observe",
    "preflight",
    "status_rows",
]
