"""The configured SAML service provider, run off the event loop.

A thin adapter over :class:`qbizfed.identity.saml.SamlServiceProvider` (python3-saml,
synchronous): AuthnRequest building and Response validation run in a worker thread,
and the request-ID store and replay cache live in the app's :class:`SessionStore`
(see :mod:`qbizfed.web.saml_stores`).
"""

from __future__ import annotations

from functools import cached_property

import anyio
import anyio.to_thread

from qbizfed.identity.federated import FederatedIdentity
from qbizfed.identity.saml import AuthnRedirect, SamlServiceProvider, SamlSpSettings
from qbizfed.settings.saml import SamlRegistration
from qbizfed.web.saml_stores import StoreReplayCache, StoreRequestIds
from qbizfed.web.sessions import SessionStore


def sp_settings(settings: SamlRegistration, *, request_ttl_seconds: int) -> SamlSpSettings:
    key = settings.sp_private_key
    return SamlSpSettings(
        sp_entity_id=settings.entity_id,
        acs_url=settings.acs_url,
        idp_entity_id=settings.idp_issuer,
        idp_sso_url=settings.idp_sso_url,
        idp_certificates=(settings.idp_certificate,),
        sp_private_key_pem=str(key) if key is not None else None,
        sp_certificate_pem=settings.sp_certificate,
        allow_unsolicited=settings.allow_unsolicited,
        request_ttl_seconds=request_ttl_seconds,
    )


SAML_WORK_AT_ONCE = 4
"""AuthnRequests built and Responses validated at once (CPU work: XML, XSD, xmlsec). Few
worker threads then do all of it, so the compiled schemas each thread keeps
(:mod:`qbizfed.identity.saml_schemas`, ~2 ms to build) stay warm: with anyio's whole
pool (40 threads), a burst of sign-ins had new threads compile them again and again."""


class SamlLogin:
    """Async facade: ``await start(relay_state)``, ``await validate(response)``, metadata."""

    def __init__(
        self, settings: SamlRegistration, *, store: SessionStore, request_ttl_seconds: int = 600
    ) -> None:
        self.settings = settings
        self.sp = SamlServiceProvider(
            sp_settings(settings, request_ttl_seconds=request_ttl_seconds),
            requests=StoreRequestIds(store),
            replay=StoreReplayCache(store),
        )
        self._limiter = anyio.CapacityLimiter(SAML_WORK_AT_ONCE)

    async def start(self, relay_state: str) -> AuthnRedirect:
        return await anyio.to_thread.run_sync(
            lambda: self.sp.authn_request(relay_state=relay_state), limiter=self._limiter
        )

    async def validate(self, saml_response: str) -> FederatedIdentity:
        return await anyio.to_thread.run_sync(
            self.sp.validate_response, saml_response, limiter=self._limiter
        )

    @cached_property
    def metadata_xml(self) -> str:
        return self.sp.metadata_xml()
