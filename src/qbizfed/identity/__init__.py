"""Relying-party core: validated OIDC and SAML identities, with no web framework in it.

``serve``, ``login`` and ``doctor`` build on this package; the web layer is a thin
adapter. Both protocols end in a frozen :class:`FederatedIdentity`, which
:mod:`qbizfed.aws.sts` exchanges for credentials.

* OIDC: :mod:`.oidc` (``OidcRelyingParty`` async, ``SyncOidcRelyingParty`` for the CLI),
  built from :mod:`.discovery`, :mod:`.pkce`, :mod:`.jwks`, :mod:`.id_token`
  (``validate_id_token`` -> ``ValidatedIdToken``) and :mod:`.aws_tags`.
* SAML: :mod:`.saml` (``SamlServiceProvider``), :mod:`.saml_attributes` and
  :mod:`.saml_stores` (request-ID store and replay cache interfaces).
* Errors: :mod:`.errors` (the URL policy is :mod:`qbizfed.url_policy`).
"""

from qbizfed.identity.federated import FederatedIdentity, SamlRole

__all__ = ["FederatedIdentity", "SamlRole"]
