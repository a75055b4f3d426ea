"""The validated identity that crosses from the identity layer to STS and the web layer.

Only the validators in :mod:`qbizfed.identity.oidc` and :mod:`qbizfed.identity.saml`
build these; the raw credential (ID token or base64 SAML response) is kept for STS
and hidden from ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Protocol = Literal["oidc", "saml"]


@dataclass(frozen=True)
class SamlRole:
    """One ``Role`` attribute value: the role to assume and the IAM SAML provider trusting it."""

    role_arn: str
    provider_arn: str


@dataclass(frozen=True)
class FederatedIdentity:
    """Who signed in, as proven by a validated ID token or SAML assertion."""

    protocol: Protocol
    email: str
    subject: str
    issuer: str
    credential: str = field(repr=False)
    display_name: str | None = None
    groups: tuple[str, ...] = ()
    session_tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    roles: tuple[SamlRole, ...] = ()
    role_session_name: str | None = None
    expires_at: datetime | None = None
    audiences: tuple[str, ...] = ()  # OIDC: the token's aud; SAML: the Audience values

    @property
    def tags(self) -> dict[str, str]:
        """The session tags STS will attach (``Email`` among them)."""
        return dict(self.session_tags)
