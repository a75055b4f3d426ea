"""What exists in the account for one stack, read with Get/List/Describe calls only.

The one reader of AWS state: ``admin`` (plan, apply, status, destroy) and ``doctor``
both stand on it. :func:`read_stack` finds each resource by its derived name and the
``qbizfed:stack`` tag and reads each part on its own: a part whose read is refused
(AccessDenied) or fails becomes an :class:`Unknown` naming the IAM permissions to
grant, and the other parts are still read. :func:`observe` is admin's entry: it
raises on the first unknown part (a plan over a guess would be wrong) and returns an
:class:`ObservedStack` (frozen). Planning compares it with the config; applying
threads an updated copy from step to step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from qbizfed.aws.provision.clients import AwsClients
from qbizfed.aws.provision.kms_keys import resolve_key_arn
from qbizfed.aws.provision.names import (
    SERVICE_LINKED_ROLE_PATH,
    STACK_TAG,
    StackNames,
)
from qbizfed.errors import AwsError, ConfigError
from qbizfed.settings.stack import Mode, StackConfig

NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException"})
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                          "UnrecognizedClientException", "InvalidClientTokenId"})
T = TypeVar("T")


def is_not_found(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code", "") in NOT_FOUND_CODES


@dataclass(frozen=True)
class ObservedProvider:
    arn: str
    owned: bool
    client_ids: tuple[str, ...] = ()
    metadata_document: str | None = None


@dataclass(frozen=True)
class ObservedRole:
    name: str
    arn: str
    trust_policy: dict[str, Any]
    permission_policy: dict[str, Any] | None
    """The inline policy the stack writes (``None``: missing)."""
    owned: bool
    max_session_duration: int = 3600
    policies: tuple[tuple[str, dict[str, Any]], ...] = ()
    """(name, document) of every permission policy, inline and attached: what IAM evaluates."""


@dataclass(frozen=True)
class ObservedApplication:
    id: str
    arn: str
    status: str
    identity_type: str | None
    provider_arn: str | None
    client_ids: tuple[str, ...]
    role_arn: str | None
    auto_subscribe: str | None
    default_subscription_type: str | None


@dataclass(frozen=True)
class ObservedChild:
    """An index or retriever of the application."""

    id: str
    arn: str
    status: str
    index_id: str | None = None


@dataclass(frozen=True)
class ObservedWebExperience:
    id: str
    arn: str
    status: str
    endpoint: str | None
    role_arn: str | None
    identity_provider_configuration: dict[str, Any]


@dataclass(frozen=True)
class ObservedStack:
    account_id: str
    secret_arn: str | None
    service_role_arn: str | None
    """The configured role, or the service-linked role if it exists; None: to be created."""
    provider: ObservedProvider | None = None
    application: ObservedApplication | None = None
    index: ObservedChild | None = None
    retriever: ObservedChild | None = None
    web_role: ObservedRole | None = None
    secrets_role: ObservedRole | None = None
    web_experience: ObservedWebExperience | None = None
    secret_kms_key_arn: str | None = None
    """The ARN of the key ``oidc.secret_kms_key`` names (a key id or alias resolved)."""


def wrap_client_error(err: ClientError, doing: str) -> AwsError:
    error = err.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    remedy = "check the credentials' permissions and the region, then run the command again"
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        remedy = "the caller lacks a permission: grant it (see the message) and run again"
    return AwsError(f"{doing} failed: {code}: {error.get('Message', '')}", code=code,
                    remedy=remedy)


class Part(StrEnum):
    """The parts of a stack read on their own (:data:`NEEDS`: the permissions each needs)."""

    ACCOUNT = "account"
    CLIENT_SECRET_ENTRY = "secret"  # noqa: S105 - a part name, not a secret
    SERVICE_ROLE = "service-linked role"
    PROVIDER = "IAM identity provider"
    APPLICATION = "application"
    WEB_ROLE = "web experience role"
    SECRETS_ROLE = "secrets role"
    SECRET_KMS_KEY = "secret's KMS key"  # noqa: S105 - a part name


ROLE_NEEDS = ("iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy",
              "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion")
NEEDS: dict[Part, tuple[str, ...]] = {
    Part.ACCOUNT: ("sts:GetCallerIdentity",),
    Part.CLIENT_SECRET_ENTRY: ("secretsmanager:DescribeSecret",),
    Part.SERVICE_ROLE: ("iam:ListRoles",),
    Part.PROVIDER: ("iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider",
                    "iam:ListSAMLProviders", "iam:GetSAMLProvider"),
    Part.APPLICATION: ("qbusiness:ListApplications", "qbusiness:GetApplication",
                       "qbusiness:ListTagsForResource", "qbusiness:ListIndices",
                       "qbusiness:GetIndex", "qbusiness:ListRetrievers",
                       "qbusiness:GetRetriever", "qbusiness:ListWebExperiences",
                       "qbusiness:GetWebExperience"),
    Part.WEB_ROLE: ROLE_NEEDS,
    Part.SECRETS_ROLE: ROLE_NEEDS,
    Part.SECRET_KMS_KEY: ("kms:DescribeKey",),
}


@dataclass(frozen=True)
class Unknown:
    """A part of the stack that could not be read: why, and what to grant."""

    part: Part
    reason: str
    needs: tuple[str, ...]
    error: Exception
    """What the read raised (admin re-raises it, wrapped as :class:`AwsError`)."""


@dataclass(frozen=True)
class StackReading:
    """The stack as read: unknown parts are ``None`` in ``stack`` and listed in ``unknown``."""

    stack: ObservedStack
    unknown: tuple[Unknown, ...] = ()

    def unknown_part(self, part: Part) -> Unknown | None:
        return next((u for u in self.unknown if u.part == part), None)

    def known(self) -> ObservedStack:
        """The stack, or the first refused read as an :class:`AwsError` (admin's view)."""
        if not self.unknown:
            return self.stack
        first = self.unknown[0].error
        if isinstance(first, ClientError):
            raise wrap_client_error(first, "reading the stack's resources") from first
        raise first


class _Reader:
    """Runs each part's read, turning a refused or failed read into an :class:`Unknown`."""

    def __init__(self) -> None:
        self.unknown: list[Unknown] = []

    def read(self, part: Part, read: Callable[[], T], default: T) -> T:
        try:
            return read()
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            reason = (f"{code}: the caller may not read the {part}" if code in DENIED_CODES
                      else f"{code}: {str(error.get('Message', ''))[:200]}")
            self.unknown.append(Unknown(part, reason, NEEDS[part], err))
        except NoCredentialsError as err:
            self.unknown.append(Unknown(part, "no AWS credentials (use --profile or "
                                        "AWS_PROFILE)", NEEDS[part], err))
        except BotoCoreError as err:
            self.unknown.append(Unknown(part, f"AWS could not be reached "
                                        f"({type(err).__name__})", NEEDS[part], err))
        return default


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item under ``key`` of a Q Business list operation, following ``nextToken``."""
    token: str | None = None
    while True:
        args = dict(kwargs)
        if token:
            args["nextToken"] = token
        page = getattr(client, operation)(**args)
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def _qtags(clients: AwsClients, arn: str) -> dict[str, str]:
    try:
        tags = clients.qbusiness.list_tags_for_resource(resourceARN=arn).get("tags", [])
    except ClientError as err:
        if is_not_found(err):
            return {}
        raise
    return {t["key"]: t["value"] for t in tags}


def _decode_policy(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    try:
        decoded = json.loads(unquote(str(document)))
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def account_id_of(config: StackConfig, clients: AwsClients) -> str:
    """The caller's account; a configured ``account_id`` must match it (wrong-account guard)."""
    actual = str(clients.sts.get_caller_identity()["Account"])
    if config.account_id and config.account_id != actual:
        raise ConfigError(
            f"account_id (AWS_ACCOUNT_ID) is {config.account_id} but the credentials in use "
            f"belong to account {actual}",
            remedy="use credentials for the intended account (AWS_PROFILE), or fix account_id",
        )
    return actual


def _service_role(config: StackConfig, clients: AwsClients) -> str | None:
    if config.service_role_arn:
        return config.service_role_arn
    roles = clients.iam.list_roles(PathPrefix=SERVICE_LINKED_ROLE_PATH).get("Roles", [])
    return str(roles[0]["Arn"]) if roles else None


def _secret_arn(config: StackConfig, clients: AwsClients) -> str | None:
    """The secret's full ARN; None when it does not exist (plan then blocks, destroy goes on)."""
    if config.oidc is None:
        return None
    try:
        return str(clients.secretsmanager.describe_secret(SecretId=config.oidc.secret_id)["ARN"])
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def _secret_kms_key_arn(config: StackConfig, clients: AwsClients) -> str | None:
    if config.oidc is None or not config.oidc.secret_kms_key:
        return None
    return resolve_key_arn(clients.kms, config.oidc.secret_kms_key)


def observe_role(clients: AwsClients, name: str, policy_name: str, stack: str
                 ) -> ObservedRole | None:
    try:
        role = clients.iam.get_role(RoleName=name)["Role"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
    policies = _role_policies(clients, name)
    return ObservedRole(
        name=name,
        arn=str(role["Arn"]),
        trust_policy=_decode_policy(role.get("AssumeRolePolicyDocument", {})),
        permission_policy=dict(policies).get(policy_name),
        owned=tags.get(STACK_TAG) == stack,
        max_session_duration=int(role.get("MaxSessionDuration", 3600)),
        policies=policies,
    )


def _role_policies(clients: AwsClients, name: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    found: list[tuple[str, dict[str, Any]]] = []
    for policy_name in clients.iam.list_role_policies(RoleName=name).get("PolicyNames", []):
        got = clients.iam.get_role_policy(RoleName=name, PolicyName=policy_name)
        found.append((str(policy_name), _decode_policy(got["PolicyDocument"])))
    attached = clients.iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", [])
    for entry in attached:
        meta = clients.iam.get_policy(PolicyArn=entry["PolicyArn"])["Policy"]
        version = clients.iam.get_policy_version(PolicyArn=entry["PolicyArn"],
                                                 VersionId=meta["DefaultVersionId"])
        found.append((str(entry["PolicyName"]),
                      _decode_policy(version["PolicyVersion"]["Document"])))
    return tuple(found)


def _oidc_provider(config: StackConfig, clients: AwsClients, stack: str
                   ) -> ObservedProvider | None:
    assert config.oidc is not None
    wanted = config.oidc.provider_path
    for entry in clients.iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        arn = str(entry["Arn"])
        if not arn.endswith(f":oidc-provider/{wanted}"):
            continue
        got = clients.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        tags = {t["Key"]: t["Value"] for t in got.get("Tags", [])}
        return ObservedProvider(arn=arn, owned=tags.get(STACK_TAG) == stack,
                                client_ids=tuple(got.get("ClientIDList", [])))
    return None


def _saml_provider(clients: AwsClients, names: StackNames) -> ObservedProvider | None:
    for entry in clients.iam.list_saml_providers().get("SAMLProviderList", []):
        arn = str(entry["Arn"])
        if not arn.endswith(f":saml-provider/{names.saml_provider}"):
            continue
        got = clients.iam.get_saml_provider(SAMLProviderArn=arn)
        if "Tags" in got:
            owned = {t["Key"]: t["Value"] for t in got["Tags"]}.get(STACK_TAG) == names.stack
        else:
            # Emulators that omit Tags from GetSAMLProvider: the qbizfed-<stack> name decides.
            owned = True
        return ObservedProvider(arn=arn, owned=owned,
                                metadata_document=str(got.get("SAMLMetadataDocument", "")))
    return None


def _application_of(app: dict[str, Any]) -> ObservedApplication:
    auto = app.get("autoSubscriptionConfiguration") or {}
    return ObservedApplication(
        id=str(app["applicationId"]),
        arn=str(app["applicationArn"]),
        status=str(app.get("status", "")),
        identity_type=app.get("identityType"),
        provider_arn=app.get("iamIdentityProviderArn"),
        client_ids=tuple(app.get("clientIdsForOIDC") or []),
        role_arn=app.get("roleArn"),
        auto_subscribe=auto.get("autoSubscribe"),
        default_subscription_type=auto.get("defaultSubscriptionType"),
    )


def _application(clients: AwsClients, names: StackNames, application_id: str | None = None
                 ) -> ObservedApplication | None:
    """The stack's application by name and tag, or the one ``application_id`` names."""
    if application_id is not None:
        try:
            return _application_of(clients.qbusiness.get_application(
                applicationId=application_id))
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
    for summary in paginate(clients.qbusiness, "list_applications", "applications"):
        if summary.get("displayName") != names.application:
            continue
        app = clients.qbusiness.get_application(applicationId=summary["applicationId"])
        if _qtags(clients, app["applicationArn"]).get(STACK_TAG) != names.stack:
            continue
        return _application_of(app)
    return None


def _index(clients: AwsClients, app: ObservedApplication, names: StackNames
           ) -> ObservedChild | None:
    for summary in paginate(clients.qbusiness, "list_indices", "indices", applicationId=app.id):
        if summary.get("displayName") != names.index:
            continue
        got = clients.qbusiness.get_index(applicationId=app.id, indexId=summary["indexId"])
        if _qtags(clients, got["indexArn"]).get(STACK_TAG) != names.stack:
            continue
        return ObservedChild(id=str(got["indexId"]), arn=str(got["indexArn"]),
                             status=str(got.get("status", "")))
    return None


def _retriever(clients: AwsClients, app: ObservedApplication, names: StackNames
               ) -> ObservedChild | None:
    for summary in paginate(clients.qbusiness, "list_retrievers", "retrievers",
                             applicationId=app.id):
        if summary.get("displayName") != names.retriever:
            continue
        got = clients.qbusiness.get_retriever(applicationId=app.id,
                                              retrieverId=summary["retrieverId"])
        if _qtags(clients, got["retrieverArn"]).get(STACK_TAG) != names.stack:
            continue
        native = (got.get("configuration") or {}).get("nativeIndexConfiguration") or {}
        return ObservedChild(id=str(got["retrieverId"]), arn=str(got["retrieverArn"]),
                             status=str(got.get("status", "")), index_id=native.get("indexId"))
    return None


def get_web_experience(clients: AwsClients, app_id: str, web_id: str) -> ObservedWebExperience:
    got = clients.qbusiness.get_web_experience(applicationId=app_id, webExperienceId=web_id)
    return ObservedWebExperience(
        id=str(got["webExperienceId"]),
        arn=str(got["webExperienceArn"]),
        status=str(got.get("status", "")),
        endpoint=got.get("defaultEndpoint"),
        role_arn=got.get("roleArn"),
        identity_provider_configuration=dict(got.get("identityProviderConfiguration") or {}),
    )


def _web_experience(clients: AwsClients, app: ObservedApplication, names: StackNames
                    ) -> ObservedWebExperience | None:
    for summary in paginate(clients.qbusiness, "list_web_experiences", "webExperiences",
                             applicationId=app.id):
        web = get_web_experience(clients, app.id, summary["webExperienceId"])
        if _qtags(clients, web.arn).get(STACK_TAG) == names.stack:
            return web
    return None


@dataclass(frozen=True)
class _ApplicationParts:
    application: ObservedApplication | None = None
    index: ObservedChild | None = None
    retriever: ObservedChild | None = None
    web_experience: ObservedWebExperience | None = None


def _application_parts(clients: AwsClients, names: StackNames, application_id: str | None
                       ) -> _ApplicationParts:
    app = _application(clients, names, application_id)
    if app is None:
        return _ApplicationParts()
    return _ApplicationParts(app, _index(clients, app, names), _retriever(clients, app, names),
                             _web_experience(clients, app, names))


def read_stack(config: StackConfig, clients: AwsClients, *, application_id: str | None = None,
               web_role_name: str | None = None) -> StackReading:
    """Read the stack's current state (read-only calls only), each part on its own.

    ``application_id`` and ``web_role_name`` name an application and a role to read
    instead of the stack's own (doctor's ``--application-id`` and ``--role-arn``).
    A refused read leaves its part ``None`` and listed in :attr:`StackReading.unknown`.
    """
    names = StackNames(config.name)
    reader = _Reader()
    account = reader.read(Part.ACCOUNT, lambda: account_id_of(config, clients),
                          config.account_id or "<account-id>")
    provider = reader.read(
        Part.PROVIDER, lambda: (_oidc_provider(config, clients, names.stack)
                                if config.mode is Mode.OIDC else _saml_provider(clients, names)),
        None)
    parts = reader.read(Part.APPLICATION,
                        lambda: _application_parts(clients, names, application_id),
                        _ApplicationParts())
    web_role = web_role_name or names.web_role
    stack = ObservedStack(
        account_id=account,
        secret_arn=reader.read(Part.CLIENT_SECRET_ENTRY, lambda: _secret_arn(config, clients),
                               None),
        service_role_arn=reader.read(Part.SERVICE_ROLE, lambda: _service_role(config, clients),
                                     None),
        provider=provider,
        application=parts.application,
        index=parts.index,
        retriever=parts.retriever,
        web_role=reader.read(Part.WEB_ROLE, lambda: observe_role(
            clients, web_role, names.web_policy, names.stack), None),
        secrets_role=(reader.read(Part.SECRETS_ROLE, lambda: observe_role(
            clients, names.secrets_role, names.secrets_policy, names.stack), None)
            if config.mode is Mode.OIDC else None),
        web_experience=parts.web_experience,
        secret_kms_key_arn=reader.read(Part.SECRET_KMS_KEY,
                                       lambda: _secret_kms_key_arn(config, clients), None),
    )
    return StackReading(stack, tuple(reader.unknown))


def observe(config: StackConfig, clients: AwsClients) -> ObservedStack:
    """Read the stack's current state (read-only calls only); any refused read raises."""
    return read_stack(config, clients).known()


def observe_index(config: StackConfig, clients: AwsClients) -> tuple[str, str]:
    """The application and index ids of the stack ``admin apply`` made (found by name and
    ``qbizfed:stack`` tag, as ``admin status`` finds them)."""
    names = StackNames(config.name)
    try:
        app = _application(clients, names)
        index = _index(clients, app, names) if app else None
    except ClientError as err:
        raise wrap_client_error(err, "finding the stack's application and index") from err
    if app is None or index is None:
        missing = "application" if app is None else "index"
        raise ConfigError(
            f"The stack {config.name!r} has no {missing} in {config.region}.",
            remedy="Run `qbizfed admin apply` first, or pass --application-id and --index-id.",
        )
    return app.id, index.id
