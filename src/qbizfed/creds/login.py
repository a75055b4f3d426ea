"""``qbizfed login``: sign in through the IdP in a browser, assume the role, cache.

OIDC: authorization code + PKCE with a loopback redirect (RFC 8252): the redirect
URI is ``http://127.0.0.1:<port>/callback``, the browser is opened (or the URL is
printed with ``--no-browser``), and the relying party of :mod:`qbizfed.identity.oidc`
(the same code ``serve`` uses) checks ``state``, redeems the code with the PKCE
verifier and validates the ID token, Email tag included, before any STS call.

SAML: an AuthnRequest (Redirect binding) whose response the IdP posts to the loopback
ACS ``http://127.0.0.1:<port>/saml/acs``; :mod:`qbizfed.identity.saml` (the same
service provider ``serve`` uses) validates it completely. This works when the IdP
accepts that ACS URL for the application, and the role trusts it as ``SAML:aud``.
SAML has no refresh: when the credentials expire, ``qbizfed login`` again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from qbizfed.creds import cache
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.loopback import LoopbackReceiver
from qbizfed.creds.session import RoleExchange, cached_from, default_role_exchange
from qbizfed.errors import ConfigError, NetworkError
from qbizfed.settings.profiles import Profile

DEFAULT_TIMEOUT_SECONDS = 300.0

Announce = Callable[[str], None]
OpenBrowser = Callable[[str], bool]


@dataclass(frozen=True)
class LoginResult:
    entry: CacheEntry
    cache_path: str
    warnings: tuple[str, ...] = ()


def open_system_browser(url: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(url, new=1, autoraise=True)
    except webbrowser.Error:
        return False


def login(
    profile: Profile,
    *,
    announce: Announce,
    open_browser: OpenBrowser | None = open_system_browser,
    exchange: RoleExchange = default_role_exchange,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    device: bool = False,
) -> LoginResult:
    """Run the browser login for ``profile`` and cache the credentials.

    ``announce`` shows the user what to do (the URL); ``open_browser=None`` means
    ``--no-browser``: only the URL is printed. ``device`` (or the profile's ``device``
    setting) signs in with the device flow instead (:mod:`qbizfed.creds.device_login`).
    """
    if device or profile.device:
        from qbizfed.creds.device_login import device_login_oidc

        creds = device_login_oidc(profile, announce=announce, exchange=exchange, timeout=timeout)
        return LoginResult(creds, cache.save(creds), email_tag_warnings(creds))
    run = _login_oidc if profile.protocol == "oidc" else _login_saml
    creds, warnings = run(
        profile, announce=announce, open_browser=open_browser, exchange=exchange, timeout=timeout
    )
    path = cache.save(creds)
    return LoginResult(entry=creds, cache_path=path, warnings=warnings)


def _send_user(url: str, *, announce: Announce, open_browser: OpenBrowser | None) -> None:
    if open_browser is not None and open_browser(url):
        announce(f"Opened your browser to sign in. If it did not open, visit:\n{url}")
    else:
        announce(f"Open this URL in a browser on this machine to sign in:\n{url}")


def email_tag_warnings(creds: CacheEntry) -> tuple[str, ...]:
    """Q Business identifies the user by the session's Email tag; say how to add it."""
    if creds.credentials.email:
        return ()
    return (
        "these credentials carry no Email session tag, so Amazon Q Business will refuse "
        "chat calls. Fix: make the IdP release https://aws.amazon.com/tags with "
        "principal_tags.Email (OIDC) or PrincipalTag:Email (SAML), and allow "
        "sts:TagSession in the role's trust policy",
    )


def _login_oidc(
    profile: Profile,
    *,
    announce: Announce,
    open_browser: OpenBrowser | None,
    exchange: RoleExchange,
    timeout: float,
) -> tuple[CacheEntry, tuple[str, ...]]:
    from qbizfed.identity.oidc import SyncOidcRelyingParty

    pending_state: list[str] = []
    receiver = LoopbackReceiver(
        expected_state=lambda: pending_state[0] if pending_state else "\0no login yet\0",
        port=profile.redirect_port,
    )
    with receiver:
        settings = profile.oidc_registration(redirect_uri=receiver.redirect_uri)
        rp = SyncOidcRelyingParty(settings)
        pending = rp.authorization_request(redirect_uri=receiver.redirect_uri)
        pending_state.append(pending.state)
        _send_user(pending.url, announce=announce, open_browser=open_browser)
        params = receiver.wait(timeout)
    tokens = rp.complete(pending, params)
    creds = cached_from(
        profile, tokens.identity, exchange(tokens.identity, profile),
        refresh_token=tokens.refresh_token,
    )  # fmt: skip
    return creds, email_tag_warnings(creds)


def _fetch_metadata(profile: Profile) -> str:
    import httpx

    from qbizfed.url_policy import require_secure_url

    assert profile.idp_metadata_url is not None  # validated by Profile
    url = require_secure_url(
        profile.idp_metadata_url,
        what="idp_metadata_url",
        allow_insecure_loopback_http=profile.allow_insecure_loopback_http,
    )
    from qbizfed.identity.saml_metadata import MAX_METADATA_BYTES

    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=False) as response:
            if response.status_code != 200:
                raise ConfigError(
                    f"the IdP's SAML metadata URL answered HTTP {response.status_code}",
                    remedy="check idp_metadata_url in the profile",
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_METADATA_BYTES:
                    raise ConfigError(
                        f"the IdP's SAML metadata at {url} is larger than "
                        f"{MAX_METADATA_BYTES:,} bytes (IAM's limit)",
                        remedy="check idp_metadata_url: it should name the IdP's metadata XML",
                    )
    except httpx.HTTPError as exc:
        raise NetworkError(
            f"could not fetch the IdP's SAML metadata: {type(exc).__name__}",
            remedy=f"check that {url} is reachable from this machine",
        ) from exc
    return bytes(body).decode(response.encoding or "utf-8", errors="replace")


def _login_saml(
    profile: Profile,
    *,
    announce: Announce,
    open_browser: OpenBrowser | None,
    exchange: RoleExchange,
    timeout: float,
) -> tuple[CacheEntry, tuple[str, ...]]:
    from qbizfed.identity.pkce import random_token
    from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
    from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore

    relay_state = random_token()
    receiver = LoopbackReceiver(expected_state=lambda: relay_state, port=profile.redirect_port)
    with receiver:
        settings = SamlSpSettings.from_idp_metadata(
            _fetch_metadata(profile),
            sp_entity_id=profile.sp_entity_id or receiver.acs_url,
            acs_url=receiver.acs_url,
        )
        if profile.idp_sso_url:
            settings = replace(settings, idp_sso_url=profile.idp_sso_url)
        sp = SamlServiceProvider(
            settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache()
        )
        redirect = sp.authn_request(relay_state=relay_state)
        _send_user(redirect.url, announce=announce, open_browser=open_browser)
        params = receiver.wait(timeout)
    saml_response = params.get("SAMLResponse")
    if not saml_response:
        from qbizfed.identity.errors import SamlResponseError

        raise SamlResponseError(
            "the IdP posted no SAMLResponse to the loopback ACS", reason="missing"
        )
    identity = sp.validate_response(saml_response)
    creds = cached_from(profile, identity, exchange(identity, profile), refresh_token=None)
    return creds, email_tag_warnings(creds)
