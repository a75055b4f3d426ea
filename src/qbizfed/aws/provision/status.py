"""Status: every resource of the stack and its state, as rows (pure over ObservedStack)."""

from __future__ import annotations

from dataclasses import dataclass

from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import ObservedRole, ObservedStack
from qbizfed.settings.stack import Mode, StackConfig

MISSING = "MISSING"


@dataclass(frozen=True)
class StatusRow:
    resource: str
    name: str
    state: str
    identifier: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "name": self.name, "state": self.state,
                "id": self.identifier}


def _role_row(label: str, name: str, role: ObservedRole | None) -> StatusRow:
    if role is None:
        return StatusRow(label, name, MISSING)
    return StatusRow(label, name, "EXISTS" if role.owned else "EXISTS (not owned)", role.arn)


def status_rows(config: StackConfig, observed: ObservedStack) -> tuple[StatusRow, ...]:
    names = StackNames(config.name)
    rows = [
        StatusRow("service-linked role", "AWSServiceRoleForQBusiness",
                  "EXISTS" if observed.service_role_arn else MISSING,
                  observed.service_role_arn or ""),
    ]
    prov = observed.provider
    prov_name = (config.oidc.issuer if config.mode is Mode.OIDC and config.oidc
                 else names.saml_provider)
    rows.append(StatusRow("IAM identity provider", prov_name,
                          MISSING if prov is None else
                          ("EXISTS" if prov.owned else "EXISTS (shared)"),
                          prov.arn if prov else ""))
    app = observed.application
    rows.append(StatusRow("application", names.application, app.status if app else MISSING,
                          app.id if app else ""))
    for label, name, child in (("index", names.index, observed.index),
                               ("retriever", names.retriever, observed.retriever)):
        rows.append(StatusRow(label, name, child.status if child else MISSING,
                              child.id if child else ""))
    rows.append(_role_row("web experience role", names.web_role, observed.web_role))
    if config.mode is Mode.OIDC:
        rows.append(_role_row("secrets role", names.secrets_role, observed.secrets_role))
    web = observed.web_experience
    rows.append(StatusRow("web experience", web.endpoint or "" if web else "",
                          web.status if web else MISSING, web.id if web else ""))
    if app is not None:
        auto = app.auto_subscribe or "DISABLED"
        if app.default_subscription_type and auto == "ENABLED":
            auto += f" ({app.default_subscription_type})"
        rows.append(StatusRow("auto-subscription", names.application, auto))
    return tuple(rows)
