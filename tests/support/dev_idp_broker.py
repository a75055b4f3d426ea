"""``WebSettings`` for a broker at ``base`` that signs users in through a running dev IdP.

Four test suites (serve end to end, Redis, the browser and the dev-IdP pages) start the
same broker; this is that configuration, written once.
"""

from __future__ import annotations

from typing import Any

from qbizfed.local.idp.server import DevIdp
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.saml import SamlRegistration
from qbizfed.settings.serve import WebSettings


def dev_idp_web_settings(
    idp: DevIdp,
    base: str,
    *,
    client_id: str,
    client_secret: str,
    oidc_role_arn: str,
    **overrides: Any,
) -> WebSettings:
    """OIDC and SAML sign-in at ``base`` through ``idp`` (plain http on loopback allowed);
    ``overrides`` are further ``WebSettings`` fields (region, endpoint, durations...)."""
    return WebSettings(
        oidc=OidcRegistration(
            issuer=idp.issuer,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=base + "/auth/oidc/callback",
            role_arn=oidc_role_arn,
            logout_redirect_uri=base + "/signed-out",
            allow_insecure_loopback_http=True,
        ),
        saml=SamlRegistration(
            idp_sso_url=idp.saml_sso_url,
            idp_issuer=idp.saml_entity_id,
            acs_url=base + "/saml",
            idp_certificate=idp.certificate_pem,
            allow_insecure_loopback_http=True,
        ),
        **overrides,
    )
