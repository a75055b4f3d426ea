"""Turn a validated identity into cached credentials: assume the role, build the record.

Shared by ``login`` (after the browser comes back) and ``refresh`` (after a refresh
grant). The STS call itself is :mod:`qbizfed.aws.sts`'s job; it is injected as a
:data:`RoleExchange` so tests and other callers can substitute the transport, never
the validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from qbizfed.credentials import AwsCredentials
from qbizfed.creds.cache import CacheEntry
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.settings.profiles import Profile

RoleExchange = Callable[[FederatedIdentity, Profile], AwsCredentials]


def default_role_exchange(identity: FederatedIdentity, profile: Profile) -> AwsCredentials:
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
    creds: AwsCredentials,
    *,
    refresh_token: str | None,
) -> CacheEntry:
    """The profile's cache entry: the credentials for the profile's role and region, with
    what the cache file records of them (the Email tag; not STS's session ARN or subject),
    so that the entry equals what :func:`qbizfed.creds.cache.load` reads back."""
    email = identity.tags.get("Email")
    return CacheEntry(
        profile=profile.name,
        credentials=replace(
            creds,
            region=profile.region,
            role_arn=profile.role_arn,
            assumed_role_arn=None,
            session_tags=(("Email", email),) if email else (),
            subject=None,
        ),
        protocol=identity.protocol,
        refresh_token=refresh_token,
        refresh_ahead_seconds=profile.refresh_ahead_seconds,
        refresh_store=profile.refresh_store,
    )
