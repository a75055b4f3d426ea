"""moto, in process: its WSGI app and a read-only view of its IAM state.

The federation STS needs what AWS STS reads from IAM (OIDC and SAML providers,
roles and their trust policies). moto keeps that state in module-level backends;
this module is the only place that reaches into them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PARTITION = "aws"


def moto_wsgi_app() -> WsgiApp:
    """moto's own dispatcher, serving every service moto knows by its credential scope."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return app


def reset_moto() -> None:
    """Forget every resource moto holds (all accounts, all services)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


@dataclass(frozen=True)
class OidcProvider:
    arn: str
    url: str
    """As stored by IAM: the issuer without its ``https://`` scheme."""
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]


@dataclass(frozen=True)
class SamlProvider:
    arn: str
    name: str
    metadata_document: str


@dataclass(frozen=True)
class RoleView:
    arn: str
    role_id: str
    name: str
    account_id: str
    trust_policy: str
    max_session_duration: int


def _iam(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id][PARTITION]


def _strip_scheme(url: str) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


class IamView:
    """Read-only access to moto's IAM: what STS consults before issuing credentials."""

    def oidc_providers(self, account_id: str) -> list[OidcProvider]:
        backend = _iam(account_id)
        providers = []
        for arn in backend.list_open_id_connect_providers():
            raw = backend.get_open_id_connect_provider(arn)
            providers.append(
                OidcProvider(
                    arn=arn,
                    url=_strip_scheme(str(raw.url)),
                    client_ids=tuple(raw.client_id_list or ()),
                    thumbprints=tuple(raw.thumbprint_list or ()),
                )
            )
        return providers

    def saml_provider(self, arn: str) -> SamlProvider | None:
        account_id = arn.split(":")[4] if arn.count(":") >= 5 else ""
        if not account_id:
            return None
        try:
            raw = _iam(account_id).get_saml_provider(arn)
        except Exception:  # moto raises its own NotFound types
            return None
        return SamlProvider(
            arn=arn, name=str(raw.name), metadata_document=str(raw.saml_metadata_document)
        )

    def role(self, arn: str) -> RoleView | None:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            return None
        account_id = parts[4]
        try:
            raw = _iam(account_id).get_role_by_arn(arn)
        except Exception:  # moto raises its own NotFound types
            return None
        return RoleView(
            arn=str(raw.arn),
            role_id=str(raw.id),
            name=str(raw.name),
            account_id=account_id,
            trust_policy=str(raw.assume_role_policy_document),
            max_session_duration=int(raw.max_session_duration or 3600),
        )


def _default_document(policy: Any) -> str:
    for version in policy.versions:
        if version.is_default_version:
            return str(version.document)
    return ""


class IamPolicies:
    """Read-only access to the permission policies moto's IAM holds (what IAM evaluates).

    Read on every request, so a policy change applies to the next call as in IAM; the
    role object itself is remembered by ARN (moto finds roles by a linear scan) and
    checked to still be the one IAM holds.
    """

    def __init__(self) -> None:
        self._roles: dict[str, Any] = {}

    def _role(self, arn: str) -> Any | None:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            return None
        backend = _iam(parts[4])
        known = self._roles.get(arn)
        if known is not None and backend.roles.get(known.id) is known:
            return known
        try:
            role = backend.get_role_by_arn(arn)
        except Exception:  # moto raises its own NotFound types
            self._roles.pop(arn, None)
            return None
        self._roles[arn] = role
        return role

    def role_policies(self, arn: str) -> tuple[str, ...] | None:
        """The role's identity-based policies as stored: inline ones (``PutRolePolicy``),
        then the default version of each attached managed policy; None if no such role."""
        role = self._role(arn)
        if role is None:
            return None
        inline = tuple(str(doc) for doc in role.policies.values())
        managed = tuple(_default_document(p) for p in role.managed_policies.values())
        return inline + managed

    def managed_policy(self, arn: str, *, account_id: str) -> str | None:
        """The default version of a managed policy (the account's own or AWS managed, as
        seen from ``account_id``), or None."""
        try:
            return _default_document(_iam(account_id).get_policy(arn))
        except Exception:  # moto raises its own NotFound types
            return None


def _oidc_provider(arn: str) -> Any | None:
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("oidc-provider/"):
        return None
    try:
        return _iam(parts[4]).get_open_id_connect_provider(arn)
    except Exception:  # moto raises its own NotFound types
        return None


def edit_oidc_client_ids(arn: str, *, add: str | None = None, remove: str | None = None) -> bool:
    """Add or remove one client id of an IAM OIDC provider (moto lacks both actions).

    Returns False when the provider does not exist. Both are idempotent, as in IAM.
    """
    provider = _oidc_provider(arn)
    if provider is None:
        return False
    ids: list[str] = list(provider.client_id_list or [])
    if add is not None and add not in ids:
        ids.append(add)
    if remove is not None and remove in ids:
        ids.remove(remove)
    provider.client_id_list = ids
    return True
