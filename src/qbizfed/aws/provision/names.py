"""How a stack names and tags what it owns: everything derives from the config's ``name``.

``apply`` finds existing resources by these names *and* the ``qbizfed:stack`` tag, never
from a local state file, so it can be re-run from any machine; ``destroy`` deletes only
what carries the tag.
"""

from __future__ import annotations

from dataclasses import dataclass

STACK_TAG = "qbizfed:stack"
SERVICE_LINKED_ROLE_SERVICE = "qbusiness.amazonaws.com"
SERVICE_LINKED_ROLE_PATH = f"/aws-service-role/{SERVICE_LINKED_ROLE_SERVICE}/"
SERVICE_LINKED_ROLE_NAME = "AWSServiceRoleForQBusiness"


def service_linked_role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role{SERVICE_LINKED_ROLE_PATH}{SERVICE_LINKED_ROLE_NAME}"


@dataclass(frozen=True)
class StackNames:
    """Names of one stack's resources."""

    stack: str

    @property
    def application(self) -> str:
        return self.stack

    @property
    def index(self) -> str:
        return f"{self.stack}-index"

    @property
    def retriever(self) -> str:
        return f"{self.stack}-retriever"

    @property
    def web_role(self) -> str:
        return f"qbizfed-{self.stack}-web"

    @property
    def web_policy(self) -> str:
        return "qbizfed-web-experience"

    @property
    def secrets_role(self) -> str:
        return f"qbizfed-{self.stack}-secrets"

    @property
    def secrets_policy(self) -> str:
        return "qbizfed-read-idp-client-secret"

    @property
    def saml_provider(self) -> str:
        return f"qbizfed-{self.stack}"

    def iam_tags(self) -> list[dict[str, str]]:
        return [{"Key": STACK_TAG, "Value": self.stack}]

    def qbusiness_tags(self) -> list[dict[str, str]]:
        return [{"key": STACK_TAG, "value": self.stack}]
