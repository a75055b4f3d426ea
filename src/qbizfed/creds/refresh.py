"""Renew a profile's credentials before they expire, or say why the user must sign in.

With an OIDC refresh token, ``creds`` renews silently once the credentials are within
``refresh_ahead_seconds`` of expiry: refresh grant, the same ID-token validation as a
login, a new STS session, the cache rewritten (the refresh token rotated if the IdP
rotates it). Refreshes of one profile are serialised with a lock file, so parallel AWS
CLI calls do not spend a rotating refresh token twice. Without a refresh token, or
when the IdP refuses it, credentials are served until they expire and then
:class:`LoginRequiredError` tells the user to run ``qbizfed login``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from qbizfed.creds import cache, locations, securefile
from qbizfed.creds.cache import CacheEntry
from qbizfed.creds.session import RoleExchange, cached_from, default_role_exchange
from qbizfed.errors import IdentityError, QbizfedError
from qbizfed.identity.errors import TokenEndpointError
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.settings.profiles import Profile, load_profile

RETRY_DELAY_SECONDS = 60


class LoginRequiredError(IdentityError):
    """No usable credentials for the profile; the user must sign in again."""


@dataclass(frozen=True)
class Renewal:
    """The credentials to hand out and, when the refresh failed, why (for stderr)."""

    entry: CacheEntry
    refreshed: bool
    warning: str | None = None


def _login_required(profile: str, why: str) -> LoginRequiredError:
    return LoginRequiredError(
        f"no valid credentials for profile {profile!r}: {why}",
        remedy=f"run: qbizfed login --profile {profile}",
    )


@contextmanager
def profile_lock(profile: str) -> Iterator[None]:
    """An exclusive lock on the profile's lock file (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = locations.lock_file(profile)
    securefile.ensure_private_dir(os.path.dirname(path))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


RefreshGrant = Callable[[Profile, str], tuple[FederatedIdentity, str | None]]


def oidc_refresh(profile: Profile, refresh_token: str) -> tuple[FederatedIdentity, str | None]:
    """Refresh grant + ID-token validation by :mod:`qbizfed.identity.oidc`."""
    from qbizfed.identity.oidc import SyncOidcRelyingParty

    settings = profile.oidc_registration()  # the refresh grant has no redirect
    tokens = SyncOidcRelyingParty(settings).refresh(refresh_token)
    return tokens.identity, tokens.refresh_token


def current_credentials(
    profile_name: str,
    *,
    exchange: RoleExchange = default_role_exchange,
    profile_loader: Callable[[str], Profile] = load_profile,
    refresher: RefreshGrant = oidc_refresh,
) -> Renewal:
    """Credentials for ``creds``/``exec``: cached, renewed, or :class:`LoginRequiredError`."""
    creds = cache.load(profile_name)
    if creds is None:
        profile_loader(profile_name)  # a typo says "does not exist", not "sign in"
        raise _login_required(profile_name, "you have not signed in (no cached credentials)")
    if not creds.needs_renewal():
        return Renewal(creds, refreshed=False)
    if not creds.refresh_token:
        raise _login_required(
            profile_name, f"they expired at {creds.expiration:%Y-%m-%d %H:%M:%S %Z}"
        )
    with profile_lock(profile_name):
        creds = cache.load(profile_name)  # another process may have refreshed meanwhile
        if creds is None:
            raise _login_required(profile_name, "you signed out meanwhile")
        if not creds.needs_renewal():
            return Renewal(creds, refreshed=False)
        return _renew_locked(
            creds, exchange=exchange, profile_loader=profile_loader, refresher=refresher
        )


def _renew_locked(
    creds: CacheEntry,
    *,
    exchange: RoleExchange,
    profile_loader: Callable[[str], Profile],
    refresher: RefreshGrant,
) -> Renewal:
    assert creds.refresh_token is not None
    try:
        # Anything can fail here (profile removed, client secret variable unset, IdP or STS
        # refusing): still-valid credentials are served with a warning, expired ones never.
        profile = profile_loader(creds.profile)
        identity, new_refresh = refresher(profile, creds.refresh_token)
        renewed = cached_from(
            profile, identity, exchange(identity, profile),
            refresh_token=new_refresh or creds.refresh_token,
        )  # fmt: skip
    except QbizfedError as exc:
        if isinstance(exc, TokenEndpointError) and exc.error == "invalid_grant":
            # The IdP session is over: forget the dead token so later calls do not retry it.
            creds = replace(creds, refresh_token=None)
        else:
            # Maybe transient (IdP down): do not make every AWS call wait for it again.
            creds = replace(creds, refresh_retry_after=int(time.time()) + RETRY_DELAY_SECONDS)
        cache.save(creds)
        if creds.is_expired():
            raise _login_required(creds.profile, f"the refresh failed ({exc.message})") from exc
        return Renewal(
            creds,
            refreshed=False,
            warning=f"could not refresh the credentials of profile {creds.profile!r} "
            f"({exc.message}); they expire at {creds.expiration:%H:%M:%S %Z}. "
            f"Run: qbizfed login --profile {creds.profile}",
        )
    cache.save(renewed)
    return Renewal(renewed, refreshed=True)
