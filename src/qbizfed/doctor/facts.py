"""What doctor read, as frozen values: the only input of the (pure) checks.

A fact that could not be read is an :class:`Unreadable` naming why and the IAM
permission doctor lacked, so the report can say which checks it could not run and
what to grant. ``None`` means "read, and it does not exist".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unreadable:
    reason: str
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpDocument:
    """A JSON document fetched over HTTP (discovery, JWKS), or why it could not be."""

    url: str
    status: int | None = None
    document: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None


@dataclass(frozen=True)
class RedirectProbe:
    """How the IdP's authorization endpoint answered a ``prompt=none`` request for one
    redirect URI. ``accepted``: True (it redirected back there), False (refused), None
    (no clear answer)."""

    redirect_uri: str
    accepted: bool | None
    answer: str


@dataclass(frozen=True)
class OidcIdpFacts:
    discovery: HttpDocument
    jwks: HttpDocument | None = None
    redirect_probes: tuple[RedirectProbe, ...] = ()


@dataclass(frozen=True)
class OidcProviderFacts:
    """An IAM OIDC provider. ``url`` as IAM returns it (IAM drops the scheme)."""

    arn: str
    url: str
    client_ids: tuple[str, ...]


@dataclass(frozen=True)
class SamlProviderFacts:
    arn: str
    metadata_document: str = field(repr=False)


@dataclass(frozen=True)
class RoleFacts:
    name: str
    arn: str
    trust_policy: dict[str, Any]
    max_session_duration: int
    permission_policies: tuple[tuple[str, dict[str, Any]], ...] = ()
    """(policy name, document) for inline and attached managed policies."""


@dataclass(frozen=True)
class ApplicationFacts:
    id: str
    arn: str
    status: str
    identity_type: str | None
    provider_arn: str | None
    client_ids: tuple[str, ...]
    auto_subscribe: str | None
    default_subscription_type: str | None


@dataclass(frozen=True)
class WebExperienceFacts:
    id: str
    arn: str
    status: str
    endpoint: str | None
    role_arn: str | None
    identity_provider_configuration: dict[str, Any]


@dataclass(frozen=True)
class RetrieverFacts:
    id: str
    type: str
    status: str
    index_id: str | None
    index_status: str | None
    """None: the index the retriever names was not found."""


@dataclass(frozen=True)
class StackFacts:
    """Everything the checks look at. Fields are Unreadable when a read was refused."""

    account_id: str | None
    idp: OidcIdpFacts | None = None
    oidc_providers: tuple[OidcProviderFacts, ...] | Unreadable = ()
    """IAM OIDC providers for the issuer's host (exact URL match decided by the checks)."""
    saml_provider: SamlProviderFacts | Unreadable | None = None
    role: RoleFacts | Unreadable | None = None
    role_source: str = ""
    """How the role was chosen (``--role-arn``, the web experience, the stack's name)."""
    application: ApplicationFacts | Unreadable | None = None
    web_experiences: tuple[WebExperienceFacts, ...] | Unreadable = ()
    retrievers: tuple[RetrieverFacts, ...] | Unreadable = ()
