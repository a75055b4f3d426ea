"""Who the dev IdP knows: demo users, OIDC clients and SAML service providers.

The registry is read from a small TOML file (``--users FILE``) or built from the demo
defaults (alice, bob, carol; password ``demo``). Clients and service providers can also
be added at runtime (``qbizfed local up`` registers the web app's callback and ACS URL).

File format (a complete example ships as ``users.example.toml`` beside this module)::

    password = "demo"                 # default password for users without their own

    [[users]]
    username = "alice"
    email = "alice@example.com"
    name = "Alice Anders"
    groups = ["engineering"]

    [[clients]]
    client_id = "qbizfed-web"
    client_secret = "..."
    redirect_uris = ["http://127.0.0.1:8000/callback"]
    post_logout_redirect_uris = ["http://127.0.0.1:8000/"]
    require_pkce = false

    [[service_providers]]
    entity_id = "http://127.0.0.1:8000/saml/metadata"
    acs_urls = ["http://127.0.0.1:8000/saml"]
    audience = "http://127.0.0.1:8000/saml"  # default: entity_id
    role_arn = "arn:aws:iam::123456789012:role/qbiz-web"
    provider_arn = "arn:aws:iam::123456789012:saml-provider/qbizfed-dev"
    certificate = "-----BEGIN CERTIFICATE-----..."  # signed AuthnRequests required if set
"""

from __future__ import annotations

import hmac
import threading
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbizfed.errors import ConfigError

DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo password of the dev IdP


@dataclass(frozen=True)
class Secret:
    """A secret string that never shows itself in a repr or a log line."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison."""
        return hmac.compare_digest(self.value.encode(), candidate.encode())


@dataclass(frozen=True)
class DemoUser:
    username: str
    email: str
    name: str
    groups: tuple[str, ...]
    password: Secret = field(default=Secret(DEMO_PASSWORD))


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    client_secret: Secret
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    require_pkce: bool = False


@dataclass(frozen=True)
class ServiceProvider:
    entity_id: str
    acs_urls: tuple[str, ...]
    audience: str = ""
    """The SAML ``Audience``; empty means the entity ID."""
    role_arn: str = ""
    provider_arn: str = ""
    certificate_pem: str = ""
    """If set, AuthnRequests from this SP must be signed with it."""

    @property
    def audience_or_entity_id(self) -> str:
        return self.audience or self.entity_id

    @property
    def role_attribute(self) -> str:
        """AWS's ``Role`` attribute value: ``"<role arn>,<provider arn>"`` (this order)."""
        if not self.role_arn or not self.provider_arn:
            return ""
        return f"{self.role_arn},{self.provider_arn}"


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("alice", "alice@example.com", "Alice Anders", ("engineering",)),
    DemoUser("bob", "bob@example.com", "Bob Brown", ("finance",)),
    DemoUser("carol", "carol@example.com", "Carol Chen", ()),
)


class Directory:
    """Users, clients and SPs of one running IdP; safe to extend from other threads."""

    def __init__(
        self,
        users: Iterable[DemoUser] = DEMO_USERS,
        clients: Iterable[OidcClient] = (),
        service_providers: Iterable[ServiceProvider] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._users = {u.username: u for u in users}
        self._clients = {c.client_id: c for c in clients}
        self._sps = {sp.entity_id: sp for sp in service_providers}
        if not self._users:
            raise ConfigError(
                "the dev IdP has no users", remedy="add at least one [[users]] entry to the file"
            )

    @property
    def users(self) -> tuple[DemoUser, ...]:
        with self._lock:
            return tuple(self._users.values())

    def user(self, username: str) -> DemoUser | None:
        with self._lock:
            return self._users.get(username)

    @property
    def uses_demo_password(self) -> bool:
        """True when every user signs in with the documented demo password."""
        return all(u.password.matches(DEMO_PASSWORD) for u in self.users)

    def authenticate(self, username: str, password: str) -> DemoUser | None:
        """The user if the password matches; the comparison runs for unknown users too."""
        user = self.user(username)
        expected = user.password if user else Secret("\0unknown-user\0")
        ok = expected.matches(password)
        return user if ok and user else None

    def client(self, client_id: str) -> OidcClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def register_client(self, client: OidcClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def service_provider(self, entity_id: str) -> ServiceProvider | None:
        with self._lock:
            return self._sps.get(entity_id)

    def register_service_provider(self, sp: ServiceProvider) -> None:
        with self._lock:
            self._sps[sp.entity_id] = sp

    @property
    def clients(self) -> tuple[OidcClient, ...]:
        with self._lock:
            return tuple(self._clients.values())

    @property
    def service_providers(self) -> tuple[ServiceProvider, ...]:
        with self._lock:
            return tuple(self._sps.values())


def _strings(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings", remedy=_FILE_REMEDY)
    return tuple(value)


def _string(entry: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ConfigError(f"{where}: '{key}' must be a non-empty string", remedy=_FILE_REMEDY)
    return value


_FILE_REMEDY = "see the format in `qbizfed local idp --help` (module qbizfed.local.idp.users)"


def parse_directory(data: Mapping[str, Any]) -> Directory:
    """Build a directory from the parsed TOML document; demo users if it lists none."""
    default_password = _string(data, "password", "file", default=DEMO_PASSWORD)
    users = []
    for i, entry in enumerate(data.get("users", [])):
        where = f"users[{i}]"
        users.append(
            DemoUser(
                username=_string(entry, "username", where),
                email=_string(entry, "email", where),
                name=_string(entry, "name", where, default=_string(entry, "username", where)),
                groups=_strings(entry, "groups", where),
                password=Secret(_string(entry, "password", where, default=default_password)),
            )
        )
    if not users:
        users = [
            DemoUser(u.username, u.email, u.name, u.groups, Secret(default_password))
            for u in DEMO_USERS
        ]
    clients = []
    for i, entry in enumerate(data.get("clients", [])):
        where = f"clients[{i}]"
        redirect_uris = _strings(entry, "redirect_uris", where)
        if not redirect_uris:
            raise ConfigError(f"{where}: needs at least one redirect URI", remedy=_FILE_REMEDY)
        clients.append(
            OidcClient(
                client_id=_string(entry, "client_id", where),
                client_secret=Secret(_string(entry, "client_secret", where)),
                redirect_uris=redirect_uris,
                post_logout_redirect_uris=_strings(entry, "post_logout_redirect_uris", where),
                require_pkce=bool(entry.get("require_pkce", False)),
            )
        )
    sps = []
    for i, entry in enumerate(data.get("service_providers", [])):
        where = f"service_providers[{i}]"
        acs_urls = _strings(entry, "acs_urls", where)
        if not acs_urls:
            raise ConfigError(f"{where}: needs at least one ACS URL", remedy=_FILE_REMEDY)
        sps.append(
            ServiceProvider(
                entity_id=_string(entry, "entity_id", where),
                acs_urls=acs_urls,
                audience=_string(entry, "audience", where, default=""),
                role_arn=_string(entry, "role_arn", where, default=""),
                provider_arn=_string(entry, "provider_arn", where, default=""),
                certificate_pem=_string(entry, "certificate", where, default=""),
            )
        )
    return Directory(users, clients, sps)


def load_directory(path: Path | None) -> Directory:
    """The directory in ``path`` (TOML), or the demo defaults when ``path`` is None."""
    if path is None:
        return Directory()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the users file {path}: {exc.strerror}", remedy="check the --users path"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the users file {path} is not valid TOML: {exc}", remedy=_FILE_REMEDY
        ) from exc
    return parse_directory(data)
