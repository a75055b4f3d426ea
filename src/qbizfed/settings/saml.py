"""The one SAML IdP type: the IdP qbizfed federates with, and this deployment's place at it.

``admin`` provisions it (``[saml]``: the IdP's metadata for IAM's SAML provider, its
sign-in URL for the application, the ACS URL that joins ``SAML:aud``), ``serve`` signs
users in with it (``[serve.saml]``: the IdP's entity ID and signing certificate, this
SP's ACS URL, keys and role), and ``doctor`` checks it. Each reader sets what it has;
:class:`qbizfed.identity.saml.SamlSpSettings` is the protocol client's view, built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SamlRegistration:
    """One SAML IdP and the service provider (ACS URL, keys, role) registered there."""

    idp_sso_url: str
    """The IdP's sign-in URL for this application."""
    idp_issuer: str = ""
    """The IdP's entity ID (``serve`` refuses responses from any other)."""
    acs_url: str = ""
    """This SP's Assertion Consumer Service URL (``admin``: added to ``SAML:aud``)."""
    idp_certificate: str = field(repr=False, default="")
    """The IdP's signing certificate (PEM); ``serve`` accepts nothing without it."""
    metadata_document: str = field(repr=False, default="")
    """The IdP's metadata XML, for IAM's SAML provider (``admin``)."""
    regional_signin_url: str | None = None
    """Extra ``SAML:aud`` value, ``https://<region>.signin.aws.amazon.com/saml`` by default."""
    sp_entity_id: str = ""
    """Defaults to ``acs_url``, which is also the audience AWS expects (``SAML:aud``)."""
    role_arn: str | None = None
    provider_arn: str | None = None
    sp_private_key: str | None = field(repr=False, default=None)
    sp_certificate: str | None = None
    allow_unsolicited: bool = False
    allow_insecure_loopback_http: bool = False

    @property
    def entity_id(self) -> str:
        """This service provider's entity ID."""
        return self.sp_entity_id or self.acs_url
