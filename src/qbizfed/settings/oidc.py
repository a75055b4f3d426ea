"""The one OIDC registration type: how qbizfed is registered at an OpenID provider.

``admin`` provisions it (``[oidc]``), ``serve`` signs users in with it (``[serve.oidc]``),
``login`` builds one from a profile, ``doctor`` checks it, and
:class:`qbizfed.identity.oidc.OidcRelyingParty` speaks the protocol with it. Each reader
sets what it has; what a reader does not use keeps its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

EndSessionMethod = Literal["redirect", "post"]
WELL_KNOWN_SUFFIX = "/.well-known/openid-configuration"


def issuer_from_discovery_url(url: str) -> str:
    """The sample's ``OIDC_DISCOVERY_URL`` may be the issuer or its discovery document URL."""
    url = url.strip()
    if url.endswith(WELL_KNOWN_SUFFIX):
        return url[: -len(WELL_KNOWN_SUFFIX)]
    return url


@dataclass(frozen=True)
class OidcRegistration:
    """One client registration at an OIDC IdP, and the role its users federate into."""

    issuer: str
    """Exactly as the discovery document says; STS compares it byte for byte with ``iss``."""
    client_id: str
    redirect_uri: str = ""
    """Where the IdP sends users back (``login`` picks a loopback one per sign-in)."""
    client_secret: str | None = field(default=None, repr=False)
    logout_redirect_uri: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    allow_insecure_loopback_http: bool = False
    """Allow an ``http://127.0.0.1`` issuer (the local stack only; AWS IAM demands https)."""
    role_arn: str = ""
    """The role ``serve`` assumes with the ID token (``admin`` creates it)."""
    end_session_method: EndSessionMethod = "redirect"
    """``redirect``: RP-initiated logout by redirect with ``client_id`` and no
    ``id_token_hint``; ``post``: send ``id_token_hint`` in a form POST (never in a URL)."""
    offline_access: bool = True
    """Ask for ``offline_access`` when the IdP advertises it: its refresh token lets the
    broker renew the user's credentials until ``max_session_seconds``."""
    prompt: str | None = None
    """``prompt`` of every authorization request; some IdPs (``oidc-provider``) grant
    ``offline_access`` only with ``consent``."""
    secret_id: str = ""
    """``AWS_SECRET_ID``: the Secrets Manager secret holding the client secret (``admin``)."""
    secret_kms_key: str | None = None
    """``AWS_SECRET_ENCRYPTION_KEY``: the KMS key that encrypts that secret, if not AWS-managed."""

    @property
    def provider_path(self) -> str:
        """The issuer without its scheme: IAM's provider URL and the condition-key prefix."""
        split = urlsplit(self.issuer)
        return (split.netloc + split.path).rstrip("/")
