"""The product's one reader of an OpenID Provider: discovery document and JSON documents.

:func:`fetch_json` is the one fetcher of IdP documents (the discovery document, the
JWKS): bounded in size, redirects not followed, every failure an
:class:`IdpUnreachableError` that says whether the IdP answered. :func:`discover` fetches
and checks ``/.well-known/openid-configuration``: it must name exactly the issuer we asked
for (OIDC Discovery 1.0 §4.3), and every endpoint must pass
:func:`~qbizfed.url_policy.require_secure_url`. ``serve`` and ``login`` await them;
``admin``'s preflight and ``doctor`` call them through :func:`fetch_blocking`, the one
blocking wrapper.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from qbizfed.identity.errors import DiscoveryDocumentError, IdpUnreachableError
from qbizfed.url_policy import require_secure_url

MAX_DOCUMENT_BYTES = 512 * 1024
BLOCKING_TIMEOUT_SECONDS = 10.0
"""How long :func:`fetch_blocking` waits for the IdP by default (connect, read, each)."""

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of an OpenID Provider's discovery document the relying party uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: tuple[str, ...]
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    code_challenge_methods_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    """RFC 8628 §4: where ``qbizfed login --device`` starts a device sign-in."""
    revocation_endpoint: str | None = None
    """RFC 7009: where ``serve`` revokes a session's refresh token at logout."""


def well_known_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _strings(doc: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DiscoveryDocumentError(
            f"discovery document field {key!r} is not a list of strings",
            remedy="check the IdP's /.well-known/openid-configuration",
        )
    return tuple(value)


def parse_provider_metadata(
    doc: Mapping[str, Any], *, expected_issuer: str, allow_insecure_loopback_http: bool = False
) -> ProviderMetadata:
    """Check a decoded discovery document and keep what we need."""
    issuer = doc.get("issuer")
    if issuer != expected_issuer:
        raise DiscoveryDocumentError(
            f"the discovery document names issuer {issuer!r}, expected {expected_issuer!r}",
            remedy="configure the issuer exactly as the IdP publishes it (scheme, host, path, "
            "trailing slash): STS compares it byte for byte with the token's iss",
        )

    def url(key: str) -> str:
        value = doc.get(key)
        if not isinstance(value, str) or not value:
            raise DiscoveryDocumentError(
                f"discovery document lacks {key!r}",
                remedy="check the IdP's /.well-known/openid-configuration",
            )
        return require_secure_url(
            value, what=key, allow_insecure_loopback_http=allow_insecure_loopback_http
        )

    def optional_url(key: str) -> str | None:
        return None if doc.get(key) is None else url(key)

    require_secure_url(
        expected_issuer, what="issuer", allow_insecure_loopback_http=allow_insecure_loopback_http
    )
    algs = _strings(doc, "id_token_signing_alg_values_supported", ("RS256",))
    return ProviderMetadata(
        issuer=expected_issuer,
        authorization_endpoint=url("authorization_endpoint"),
        token_endpoint=url("token_endpoint"),
        jwks_uri=url("jwks_uri"),
        id_token_signing_alg_values_supported=algs,
        token_endpoint_auth_methods_supported=_strings(
            doc, "token_endpoint_auth_methods_supported", ("client_secret_basic",)
        ),
        code_challenge_methods_supported=_strings(doc, "code_challenge_methods_supported", ()),
        scopes_supported=_strings(doc, "scopes_supported", ()),
        userinfo_endpoint=optional_url("userinfo_endpoint"),
        end_session_endpoint=optional_url("end_session_endpoint"),
        device_authorization_endpoint=optional_url("device_authorization_endpoint"),
        revocation_endpoint=optional_url("revocation_endpoint"),
    )


async def fetch_json(http: httpx.AsyncClient, url: str, *, what: str) -> Any:
    """GET a JSON document from an IdP, bounded in size, wrapping every failure.

    ``what`` names the document in the error ("discovery document", "JWKS").
    """
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise IdpUnreachableError(
            f"the IdP's {what} at {url} cannot be reached ({type(exc).__name__})",
            remedy="check the issuer URL and that the IdP is reachable from here",
            answer=f"cannot be reached ({type(exc).__name__})",
        ) from exc
    status = response.status_code
    if status != 200:
        raise IdpUnreachableError(
            f"the IdP's {what} at {url} answered HTTP {status}",
            remedy="check the issuer URL (it must be the exact issuer, without "
            "/.well-known/openid-configuration)",
            status=status, answer=f"answered HTTP {status}",
        )  # fmt: skip
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise IdpUnreachableError(
            f"the IdP's {what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes",
            remedy="check that the URL points at the IdP",
            status=status, answer=f"answered more than {MAX_DOCUMENT_BYTES // 1024} KiB",
        )  # fmt: skip
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise IdpUnreachableError(
            f"the IdP's {what} at {url} is not JSON",
            remedy="check that the URL points at the IdP",
            status=status, answer="did not answer JSON",
        ) from exc  # fmt: skip


async def discover(
    issuer: str, *, http: httpx.AsyncClient, allow_insecure_loopback_http: bool = False
) -> ProviderMetadata:
    """Fetch and check the issuer's discovery document."""
    require_secure_url(
        issuer, what="issuer", allow_insecure_loopback_http=allow_insecure_loopback_http
    )
    doc = await fetch_json(http, well_known_url(issuer), what="discovery document")
    if not isinstance(doc, dict):
        raise DiscoveryDocumentError(
            "the discovery document is not a JSON object",
            remedy="check the IdP's /.well-known/openid-configuration",
        )
    return parse_provider_metadata(
        doc, expected_issuer=issuer, allow_insecure_loopback_http=allow_insecure_loopback_http
    )


def fetch_blocking(
    fetch: Callable[[httpx.AsyncClient], Awaitable[T]],
    *,
    timeout: float | httpx.Timeout = BLOCKING_TIMEOUT_SECONDS,
) -> T:
    """Run one of the fetches above to completion in its own client, for blocking callers.

    For example ``fetch_blocking(lambda http: discover(issuer, http=http))``. Redirects
    are not followed. Never call it from inside an event loop (``asyncio.run`` refuses).
    """

    async def run() -> T:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            return await fetch(http)

    return asyncio.run(run())
