"""The default :class:`~qbizfed.web.credential_issuer.CredentialIssuer`: STS federation calls.

Given the broker's ``httpx.AsyncClient`` (``create_app`` passes it),
:class:`qbizfed.aws.sts_httpx.HttpxStsFederation` makes them on the event loop
(botocore's request and answer over keep-alive connections: no thread, no boto3
pipeline per sign-in); without one, :class:`qbizfed.aws.sts.StsFederation` runs boto3
in a thread pool. Either way a slow STS never stalls other users.
Either's errors name the probable cause and fix (missing ``sts:TagSession``, audience
mismatch, missing Email tag ...).
"""

from __future__ import annotations

from typing import Protocol

import httpx

from qbizfed.aws.sts import AwsCredentials, StsFederation, role_session_name
from qbizfed.aws.sts_httpx import HttpxStsFederation
from qbizfed.identity.federated import FederatedIdentity, SamlRole
from qbizfed.web.browser_session import SessionCredentials


def _session_credentials(
    creds: AwsCredentials, *, region: str, role_arn: str, session_name: str
) -> SessionCredentials:
    return SessionCredentials(
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
        expiration=creds.expiration,
        region=region,
        role_arn=role_arn,
        role_session_name=session_name,
    )


class Federation(Protocol):
    """What makes the federation calls (``HttpxStsFederation``, ``StsFederation``)."""

    async def assume_async(
        self,
        identity: FederatedIdentity,
        role_arn: str | None = None,
        *,
        provider_arn: str | None = None,
        duration_seconds: int | None = None,
    ) -> AwsCredentials: ...


class StsIssuer:
    """Credentials from STS's unsigned federation calls, for the browser's session."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        federation: Federation | None = None,
    ) -> None:
        self.region = region
        self.federation: Federation = federation or (
            StsFederation(region=region, endpoint_url=endpoint_url)
            if http is None
            else HttpxStsFederation(http, region=region, endpoint_url=endpoint_url)
        )

    async def for_web_identity(
        self, identity: FederatedIdentity, *, role_arn: str, duration_seconds: int
    ) -> SessionCredentials:
        creds = await self.federation.assume_async(
            identity, role_arn, duration_seconds=duration_seconds
        )
        return _session_credentials(
            creds, region=self.region, role_arn=role_arn,
            session_name=role_session_name(identity.email),
        )  # fmt: skip

    async def for_saml(
        self, identity: FederatedIdentity, *, role: SamlRole, duration_seconds: int
    ) -> SessionCredentials:
        creds = await self.federation.assume_async(
            identity, role.role_arn, provider_arn=role.provider_arn,
            duration_seconds=duration_seconds,
        )  # fmt: skip
        return _session_credentials(
            creds, region=self.region, role_arn=role.role_arn,
            session_name=identity.role_session_name or role_session_name(identity.email),
        )  # fmt: skip
