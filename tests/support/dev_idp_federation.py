"""The dev IdP registered in IAM for a broker at ``base``: both providers, a role each.

What `qbizfed admin apply` would set up for a web broker, done directly in the local
stack: the IAM OIDC provider (the issuer, the client ID) and a role trusting it, the IAM
SAML provider (the dev IdP's metadata) and a role trusting it for ``base + "/saml"``, both
roles allowed to chat, and the broker registered at the dev IdP as a SAML service provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from qbizfed.local.idp.server import DevIdp
from qbizfed.local.idp.users import ServiceProvider
from tests.support.chat_permissions import grant_chat_permissions
from tests.support.oidc_issuer import oidc_trust_policy
from tests.support.saml_assertions import saml_trust_policy


@dataclass(frozen=True)
class FederatedRoles:
    oidc_provider: str
    oidc_role: str
    saml_provider: str
    saml_role: str


def federate_dev_idp(iam: Any, idp: DevIdp, *, name: str, base: str, client_id: str
                     ) -> FederatedRoles:
    """Register ``idp`` in IAM (roles ``<name>-oidc`` and ``<name>-saml``) for a broker
    at ``base``, and the broker's SAML service provider at ``idp``."""
    oidc_provider = iam.create_open_id_connect_provider(
        Url=idp.issuer, ClientIDList=[client_id], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    oidc_role = iam.create_role(
        RoleName=name + "-oidc",
        AssumeRolePolicyDocument=json.dumps(
            oidc_trust_policy(oidc_provider, idp.issuer.split("://", 1)[1], client_id)
        ),
    )["Role"]["Arn"]
    grant_chat_permissions(iam, oidc_role)
    saml_provider = iam.create_saml_provider(
        SAMLMetadataDocument=idp.saml_metadata_xml, Name=name + "-saml"
    )["SAMLProviderArn"]
    saml_role = iam.create_role(
        RoleName=name + "-saml",
        AssumeRolePolicyDocument=json.dumps(saml_trust_policy(saml_provider, [base + "/saml"])),
    )["Role"]["Arn"]
    grant_chat_permissions(iam, saml_role)
    idp.register_service_provider(
        ServiceProvider(
            entity_id=base + "/saml",
            acs_urls=(base + "/saml",),
            role_arn=saml_role,
            provider_arn=saml_provider,
        )
    )
    return FederatedRoles(oidc_provider, oidc_role, saml_provider, saml_role)
