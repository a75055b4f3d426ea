"""The default :class:`~qbizfed.web.credential_issuer.CredentialIssuer`: :mod:`qbizfed.aws.sts`.

``StsFederation.assume_async`` runs boto3 in a thread pool, so a slow STS never
stalls other users; its errors already name the probable cause and fix (missing
``sts:TagSession``, audience mismatch, missing Email tag ...).
"""

from __future__ import annotations

from qbizfed.aws.sts import AwsCredentials, StsFederation, role_session_name
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
