"""The web layer's seam to STS: a validated identity in, server-side credentials out.

``create_app`` takes any :class:`CredentialIssuer` (``sts=``); the default wraps
:mod:`qbizfed.aws.sts`, whose blocking boto3 calls run in a thread pool so that one
slow STS call never stalls the event loop.
"""

from __future__ import annotations

from typing import Protocol

from qbizfed.credentials import AwsCredentials
from qbizfed.identity.federated import FederatedIdentity, SamlRole


class CredentialIssuer(Protocol):
    """Exchanges a validated identity for identity-aware STS credentials."""

    async def for_web_identity(
        self, identity: FederatedIdentity, *, role_arn: str, duration_seconds: int
    ) -> AwsCredentials:
        """AssumeRoleWithWebIdentity with the identity's ID token."""

    async def for_saml(
        self, identity: FederatedIdentity, *, role: SamlRole, duration_seconds: int
    ) -> AwsCredentials:
        """AssumeRoleWithSAML with the identity's SAML response."""
