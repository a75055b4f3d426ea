"""Turn a validated identity into cached credentials: assume the role, build the record.

Shared by ``login`` (after the browser comes back) and ``refresh`` (after a refresh
grant). The STS call itself is :mod:`qbizfed.aws.sts`'s job; it is injected as a
:data:`RoleExchange` so tests and other callers can substitute the transport, never
the validation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from qbizfed.creds.cache import CachedCredentials
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.settings.profiles import Profile


class TemporaryCredentials(Protocol):
    """What an STS exchange yields (``qbizfed.aws.sts.AwsCredentials`` fits)."""

    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...
    @property
    def session_token(self) -> str: ...
    @property
    def expiration(self) -> datetime: ...


RoleExchange = Callable[[FederatedIdentity, Profile], TemporaryCredentials]


def default_role_exchange(identity: FederatedIdentity, profile: Profile) -> TemporaryCredentials:
    """Assume the profile's role through :mod:`qbizfed.aws.sts` (boto3, imported lazily).

    The STS endpoint is the profile's ``endpoint_url`` (a local stack), else whatever
    boto3 resolves (``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, the regional one).
    """
    from qbizfed.aws.sts import StsFederation

    federation = StsFederation(region=profile.region, endpoint_url=profile.endpoint_url)
    return federation.assume(
        identity,
        profile.role_arn,
        provider_arn=profile.provider_arn,
        duration_seconds=profile.duration_seconds,
    )


def cached_from(
    profile: Profile,
    identity: FederatedIdentity,
    creds: TemporaryCredentials,
    *,
    refresh_token: str | None,
) -> CachedCredentials:
    return CachedCredentials(
        profile=profile.name,
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
        expiration=creds.expiration,
        region=profile.region,
        email=identity.tags.get("Email") or None,
        role_arn=profile.role_arn,
        protocol=identity.protocol,
        refresh_token=refresh_token,
        refresh_ahead_seconds=profile.refresh_ahead_seconds,
        refresh_store=profile.refresh_store,
    )
