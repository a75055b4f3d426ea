"""Read the facts doctor checks: Get/List calls only, each guarded on its own.

Clients are injected (:class:`~qbizfed.aws.provision.AwsClients`; an ``httpx.Client``
for the IdP). A refused read becomes an :class:`~.facts.Unreadable` naming the
permission it needed, and the other reads go on. Nothing here creates, updates,
deletes, tags or puts anything: ``tests/integration/test_doctor_readonly.py`` counts
every call through botocore's event hooks to prove it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from qbizfed.aws.provision.clients import AwsClients
from qbizfed.aws.provision.names import StackNames
from qbizfed.aws.provision.observed import paginate
from qbizfed.doctor.collect_idp import collect_oidc_idp, expected_redirect_uris
from qbizfed.doctor.facts import (
    ApplicationFacts,
    OidcIdpFacts,
    OidcProviderFacts,
    RetrieverFacts,
    RoleFacts,
    SamlProviderFacts,
    StackFacts,
    Unreadable,
    WebExperienceFacts,
)
from qbizfed.settings.stack import Mode, StackConfig

T = TypeVar("T")
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                    "UnrecognizedClientException", "InvalidClientTokenId"})
NOT_FOUND = frozenset({"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"})


@dataclass(frozen=True)
class Targets:
    """What to look at beyond the config: explicit overrides from the command line."""

    role_arn: str | None = None
    application_id: str | None = None


class _NotFoundError(Exception):
    pass


def _guard(needs: tuple[str, ...], read: Callable[[], T]) -> T | Unreadable | None:
    """Run ``read``; not found -> None, refused -> Unreadable(needs), other errors -> Unreadable."""
    try:
        return read()
    except _NotFoundError:
        return None
    except ClientError as err:
        error = err.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        if code in NOT_FOUND:
            return None
        if code in DENIED:
            return Unreadable(f"{code}: doctor may not read this", needs)
        return Unreadable(f"{code}: {str(error.get('Message', ''))[:200]}", needs)
    except NoCredentialsError:
        return Unreadable("no AWS credentials (use --profile or AWS_PROFILE)", needs)
    except BotoCoreError as err:
        return Unreadable(f"AWS could not be reached ({type(err).__name__})", needs)


def decode_policy(document: Any) -> dict[str, Any]:
    """IAM returns policies URL-encoded (boto3 decodes most of them already)."""
    if isinstance(document, dict):
        return document
    try:
        decoded = json.loads(unquote(str(document)))
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


# -- IAM ---------------------------------------------------------------------------------


def strip_scheme(url: str) -> str:
    return url.split("://", 1)[1] if "://" in url else url


def _oidc_providers(clients: AwsClients, issuer_url: str) -> tuple[OidcProviderFacts, ...]:
    host = urlsplit(issuer_url).netloc
    found = []
    listed = clients.iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
    for entry in listed:
        arn = str(entry["Arn"])
        if not arn.split(":oidc-provider/", 1)[-1].startswith(host):
            continue
        got = clients.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        found.append(OidcProviderFacts(arn=arn, url=strip_scheme(str(got.get("Url", ""))),
                                       client_ids=tuple(got.get("ClientIDList", []))))
    return tuple(found)


def _saml_provider(clients: AwsClients, arn: str) -> SamlProviderFacts:
    got = clients.iam.get_saml_provider(SAMLProviderArn=arn)
    return SamlProviderFacts(arn=arn, metadata_document=str(got.get("SAMLMetadataDocument", "")))


def _role(clients: AwsClients, name: str) -> RoleFacts:
    role = clients.iam.get_role(RoleName=name)["Role"]
    policies: list[tuple[str, dict[str, Any]]] = []
    for policy_name in clients.iam.list_role_policies(RoleName=name).get("PolicyNames", []):
        got = clients.iam.get_role_policy(RoleName=name, PolicyName=policy_name)
        policies.append((str(policy_name), decode_policy(got["PolicyDocument"])))
    attached = clients.iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", [])
    for entry in attached:
        meta = clients.iam.get_policy(PolicyArn=entry["PolicyArn"])["Policy"]
        version = clients.iam.get_policy_version(PolicyArn=entry["PolicyArn"],
                                                 VersionId=meta["DefaultVersionId"])
        policies.append((str(entry["PolicyName"]),
                         decode_policy(version["PolicyVersion"]["Document"])))
    return RoleFacts(
        name=name,
        arn=str(role["Arn"]),
        trust_policy=decode_policy(role.get("AssumeRolePolicyDocument", {})),
        max_session_duration=int(role.get("MaxSessionDuration", 3600)),
        permission_policies=tuple(policies),
    )


ROLE_NEEDS = ("iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy",
              "iam:ListAttachedRolePolicies", "iam:GetPolicy", "iam:GetPolicyVersion")


# -- Q Business --------------------------------------------------------------------------


def _application(clients: AwsClients, config: StackConfig, targets: Targets
                 ) -> ApplicationFacts:
    app_id = targets.application_id
    if app_id is None:
        for summary in paginate(clients.qbusiness, "list_applications", "applications"):
            if summary.get("displayName") == StackNames(config.name).application:
                app_id = str(summary["applicationId"])
                break
    if app_id is None:
        raise _NotFoundError
    app = clients.qbusiness.get_application(applicationId=app_id)
    auto = app.get("autoSubscriptionConfiguration") or {}
    return ApplicationFacts(
        id=str(app["applicationId"]),
        arn=str(app["applicationArn"]),
        status=str(app.get("status", "")),
        identity_type=app.get("identityType"),
        provider_arn=app.get("iamIdentityProviderArn"),
        client_ids=tuple(app.get("clientIdsForOIDC", []) or []),
        auto_subscribe=auto.get("autoSubscribe"),
        default_subscription_type=auto.get("defaultSubscriptionType"),
    )


def _web_experiences(clients: AwsClients, app_id: str) -> tuple[WebExperienceFacts, ...]:
    found = []
    for summary in paginate(clients.qbusiness, "list_web_experiences", "webExperiences",
                          applicationId=app_id):
        got = clients.qbusiness.get_web_experience(applicationId=app_id,
                                                   webExperienceId=summary["webExperienceId"])
        found.append(WebExperienceFacts(
            id=str(got["webExperienceId"]),
            arn=str(got.get("webExperienceArn", "")),
            status=str(got.get("status", "")),
            endpoint=got.get("defaultEndpoint"),
            role_arn=got.get("roleArn"),
            identity_provider_configuration=dict(got.get("identityProviderConfiguration") or {}),
        ))
    return tuple(found)


def _retrievers(clients: AwsClients, app_id: str) -> tuple[RetrieverFacts, ...]:
    found = []
    for summary in paginate(clients.qbusiness, "list_retrievers", "retrievers",
                          applicationId=app_id):
        got = clients.qbusiness.get_retriever(applicationId=app_id,
                                              retrieverId=summary["retrieverId"])
        native = (got.get("configuration") or {}).get("nativeIndexConfiguration") or {}
        index_id = native.get("indexId")
        index_status: str | None = None
        if index_id:
            try:
                index = clients.qbusiness.get_index(applicationId=app_id, indexId=index_id)
                index_status = str(index.get("status", ""))
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in NOT_FOUND:
                    raise
        found.append(RetrieverFacts(id=str(got["retrieverId"]), type=str(got.get("type", "")),
                                    status=str(got.get("status", "")), index_id=index_id,
                                    index_status=index_status))
    return tuple(found)


# -- everything ----------------------------------------------------------------------------


def _account(config: StackConfig, clients: AwsClients) -> str | None:
    if config.account_id:
        return config.account_id
    got = _guard(("sts:GetCallerIdentity",), lambda: clients.sts.get_caller_identity())
    if isinstance(got, dict):
        return str(got["Account"])
    return None


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def collect(config: StackConfig, clients: AwsClients, *, http: httpx.Client,
            targets: Targets = Targets()) -> StackFacts:
    """Read everything the checks need, read-only."""
    account = _account(config, clients)
    application = _guard(("qbusiness:ListApplications", "qbusiness:GetApplication"),
                         lambda: _application(clients, config, targets))
    web_experiences: tuple[WebExperienceFacts, ...] | Unreadable = ()
    retrievers: tuple[RetrieverFacts, ...] | Unreadable = ()
    if isinstance(application, ApplicationFacts):
        app_id = application.id
        webs = _guard(("qbusiness:ListWebExperiences", "qbusiness:GetWebExperience"),
                      lambda: _web_experiences(clients, app_id))
        web_experiences = webs if webs is not None else ()
        found = _guard(("qbusiness:ListRetrievers", "qbusiness:GetRetriever",
                        "qbusiness:GetIndex"), lambda: _retrievers(clients, app_id))
        retrievers = found if found is not None else ()

    idp: OidcIdpFacts | None = None
    oidc_providers: tuple[OidcProviderFacts, ...] | Unreadable = ()
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        issuer = config.oidc.issuer
        idp = collect_oidc_idp(issuer, http, client_id=config.oidc.client_id,
                               redirect_uris=expected_redirect_uris(config, web_experiences))
        got = _guard(("iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider"),
                     lambda: _oidc_providers(clients, issuer))
        oidc_providers = got if got is not None else ()

    saml_provider: SamlProviderFacts | Unreadable | None = None
    if config.mode is Mode.SAML:
        provider_arn = (application.provider_arn
                        if isinstance(application, ApplicationFacts) and application.provider_arn
                        else f"arn:aws:iam::{account or '<account>'}:saml-provider/"
                        f"{StackNames(config.name).saml_provider}")
        saml_provider = _guard(("iam:GetSAMLProvider",),
                               lambda: _saml_provider(clients, provider_arn))

    role_arn, source = targets.role_arn, "--role-arn"
    if role_arn is None and isinstance(web_experiences, tuple):
        with_role = [w.role_arn for w in web_experiences if w.role_arn]
        if with_role:
            role_arn, source = with_role[0], "the web experience's roleArn"
    role_name = (_role_name(role_arn) if role_arn
                 else StackNames(config.name).web_role)
    if role_arn is None:
        source = f"the stack's role name ({role_name})"
    role = _guard(ROLE_NEEDS, lambda: _role(clients, role_name))
    return StackFacts(
        account_id=account, idp=idp, oidc_providers=oidc_providers,
        saml_provider=saml_provider, role=role, role_source=source,
        application=application, web_experiences=web_experiences, retrievers=retrievers,
    )
