"""An OIDC issuer's signing keys, fetched as AWS STS fetches them, and cached.

STS reads ``<iss>/.well-known/openid-configuration``, follows its ``jwks_uri`` and
caches the key set per issuer. A token signed with a ``kid`` the cache does not know
triggers one refetch (the IdP may have rotated its keys) and no more.

Transport rule: ``https`` only, except plain ``http`` to a loopback host (the
local stack's dev IdP and test issuers). Fetch failures become
``IDPCommunicationError`` as in AWS. Redirects are not followed.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, RSAKey

from qbizfed.local.loopback import is_loopback_host
from qbizfed.local.sts.refusal import idp_communication

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 512 * 1024


def fetchable(url: str) -> bool:
    """https anywhere, http only to loopback, never credentials in the URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback_host(host)


class JwksCache:
    """Per-issuer key sets, thread-safe. ``client`` is the only I/O seam."""

    def __init__(self, *, client: httpx.Client | None = None, timeout_seconds: float = 5.0) -> None:
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._lock = threading.Lock()
        self._key_sets: dict[str, KeySet] = {}
        self.fetch_count = 0
        """How many times a key set was fetched (observable by tests and benchmarks)."""

    def reset(self) -> None:
        with self._lock:
            self._key_sets.clear()

    def key_set(self, issuer: str, *, wanted_kid: str | None) -> KeySet:
        """The issuer's keys, refetched once if ``wanted_kid`` is not among the cached ones."""
        with self._lock:
            cached = self._key_sets.get(issuer)
        if cached is not None and _has_kid(cached, wanted_kid):
            return cached
        fresh = self._fetch(issuer)
        with self._lock:
            self._key_sets[issuer] = fresh
        return fresh

    def _get_json(self, url: str, what: str) -> dict[str, object]:
        if not fetchable(url):
            raise idp_communication(
                f"The {what} URL {url} must use https (http is allowed for loopback hosts only)."
            )
        try:
            response = self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise idp_communication(f"Couldn't retrieve the {what} from {url}.") from exc
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise idp_communication(
                f"Couldn't retrieve the {what} from {url} (HTTP {response.status_code})."
            )
        try:
            document = response.json()
        except ValueError as exc:
            raise idp_communication(f"The {what} at {url} is not JSON.") from exc
        if not isinstance(document, dict):
            raise idp_communication(f"The {what} at {url} is not a JSON object.")
        return document

    def _fetch(self, issuer: str) -> KeySet:
        self.fetch_count += 1
        discovery = self._get_json(issuer.rstrip("/") + DISCOVERY_PATH, "OpenID configuration")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise idp_communication("The OpenID configuration has no jwks_uri.")
        document = self._get_json(jwks_uri, "JWKS")
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise idp_communication("The JWKS document has no keys.")
        return KeySet(list(_readable_public_keys(keys)))


def _readable_public_keys(entries: list[object]) -> list[Key]:
    """RSA and EC keys only (a symmetric key must never verify a token); unreadable
    entries are skipped rather than poisoning the whole set."""
    readable: list[Key] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        try:
            if entry.get("kty") == "RSA":
                readable.append(RSAKey.import_key(entry))
            elif entry.get("kty") == "EC":
                readable.append(ECKey.import_key(entry))
        except (JoseError, ValueError, TypeError, KeyError):
            continue
    return readable


def _has_kid(key_set: KeySet, kid: str | None) -> bool:
    if kid is None:
        return True
    return any(key.kid == kid for key in key_set.keys)
