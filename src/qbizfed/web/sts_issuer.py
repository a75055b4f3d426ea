"""The default :class:`~qbizfed.web.credential_issuer.CredentialIssuer`: :mod:`qbizfed.aws.sts`.

``StsFederation.assume_async`` runs boto3 in a thread pool, so a slow STS never
stalls other users; its errors already name the probable cause and fix (missing
``sts:TagSession``, audience mismatch, missing Email tag ...).
"""

from __future__ import annotations

from dataclasses import replace

from qbizfed.aws.sts import StsFederation
from qbizfed.credentials import AwsCredentials
from qbizfed.identity.federated import FederatedIdentity, SamlRole


class ThreadPoolStsIssuer:
    """Credentials from STS via :class:`qbizfed.aws.sts.StsFederation` (unsigned calls)."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        federation: StsFederation | None = None,
    ) -> None:
        self.region = region
        self.federation = federation or StsFederation(region=region, endpoint_url=endpoint_url)

    async def for_web_identity(
        self, identity: FederatedIdentity, *, role_arn: str, duration_seconds: int
    ) -> AwsCredentials:
        creds = await self.federation.assume_async(
            identity, role_arn, duration_seconds=duration_seconds
        )
        return replace(creds, region=self.region)

    async def for_saml(
        self, identity: FederatedIdentity, *, role: SamlRole, duration_seconds: int
    ) -> AwsCredentials:
        creds = await self.federation.assume_async(
            identity, role.role_arn, provider_arn=role.provider_arn,
            duration_seconds=duration_seconds,
        )  # fmt: skip
        return replace(creds, region=self.region)
