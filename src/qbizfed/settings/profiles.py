"""Named qbizfed profiles: ``[profiles.NAME]`` tables of the TOML config file.

A profile says how ``qbizfed login`` signs a user in and which role it assumes::

    [profiles.dev]
    protocol = "oidc"                      # or "saml"
    issuer = "https://idp.example.com"     # OIDC: the IdP's issuer URL
    client_id = "qbizfed-cli"
    client_secret_env = "QBIZFED_CLIENT_SECRET"   # optional; the NAME of an env var
    scopes = ["openid", "email", "offline_access"]
    role_arn = "arn:aws:iam::123456789012:role/qbiz-web"
    region = "us-east-1"
    application_id = "..."                 # the Q Business application
    duration_seconds = 3600
    refresh_ahead_seconds = 300
    endpoint_url = "http://127.0.0.1:4566" # optional: the local stack
    redirect_port = 0                      # 0: any free port on 127.0.0.1 (RFC 8252)
    allow_insecure_loopback_http = false   # true only for a dev IdP on http://127.0.0.1
    refresh_store = "file"           # or "keyring": the OS keyring (pip install keyring)
    device = false                   # true: sign in with the device flow (RFC 8628)

SAML profiles name ``idp_metadata_url`` (the IdP's metadata: entity ID, SSO URL and
signing certificate), ``provider_arn`` (the IAM SAML provider), a fixed
``redirect_port`` (the loopback ACS URL ``http://127.0.0.1:<port>/saml/acs`` must be
registered at the IdP and be ``SAML:aud`` in the role's trust policy), and optionally
``sp_entity_id`` (default: the ACS URL) and ``idp_sso_url`` (default: from metadata).

The client secret itself is never written to this file or the cache: only the name of
the variable that holds it.

The file is read with :mod:`tomllib` here, so this module does not depend on
``qbizfed.settings.stack``; writing a profile rewrites only that profile's table.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields
from typing import Literal

from qbizfed.creds import locations, record
from qbizfed.errors import ConfigError
from qbizfed.settings.environment import profile_client_secret
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.toml_file import naming_file, refuse_unknown_keys

Protocol = Literal["oidc", "saml"]
DEFAULT_SCOPES = ("openid", "email", "offline_access")
MIN_DURATION, MAX_DURATION = 900, 43200


@dataclass(frozen=True)
class Profile:
    """How to sign in and which role to assume, for one named profile."""

    name: str
    protocol: Protocol
    role_arn: str
    region: str = "us-east-1"
    application_id: str | None = None
    duration_seconds: int = 3600
    refresh_ahead_seconds: int = record.DEFAULT_REFRESH_AHEAD_SECONDS
    endpoint_url: str | None = None
    redirect_port: int = 0
    allow_insecure_loopback_http: bool = False
    refresh_store: str = "file"
    issuer: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    idp_sso_url: str | None = None
    idp_metadata_url: str | None = None
    provider_arn: str | None = None
    sp_entity_id: str | None = None
    device: bool = False
    """OIDC: sign in with the device authorization grant (no local browser needed)."""

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ConfigError(
                f"profile {self.name!r} is invalid: " + "; ".join(problems),
                # No square brackets in messages: the CLI prints them as Rich markup.
                remedy=f"fix the profiles.{self.name} table in {locations.config_path()} "
                "or rewrite it with qbizfed configure",
            )

    def client_secret(self) -> str | None:
        """The client secret from the environment variable the profile names, if any."""
        if not self.client_secret_env:
            return None
        return profile_client_secret(self.name, self.client_secret_env)

    def oidc_registration(self, *, redirect_uri: str = "") -> OidcRegistration:
        """The profile's OIDC client registration (an OIDC profile: validated on creation)."""
        assert self.issuer is not None  # validated by __post_init__
        assert self.client_id is not None
        return OidcRegistration(
            issuer=self.issuer,
            client_id=self.client_id,
            client_secret=self.client_secret(),
            redirect_uri=redirect_uri,
            scopes=self.scopes,
            allow_insecure_loopback_http=self.allow_insecure_loopback_http,
            role_arn=self.role_arn,
        )


def validate(profile: Profile) -> list[str]:
    """Everything wrong with a profile, as short sentences (empty when valid)."""
    problems: list[str] = []
    if not locations.is_valid_profile_name(profile.name):
        problems.append("the name may only use letters, digits, '_', '.', '-'")
    if profile.protocol not in ("oidc", "saml"):
        problems.append("protocol must be 'oidc' or 'saml'")
    if not profile.role_arn.startswith("arn:aws") or ":role/" not in profile.role_arn:
        problems.append("role_arn must be an IAM role ARN")
    if not MIN_DURATION <= profile.duration_seconds <= MAX_DURATION:
        problems.append(f"duration_seconds must be {MIN_DURATION}..{MAX_DURATION}")
    if not 0 <= profile.refresh_ahead_seconds < profile.duration_seconds:
        problems.append("refresh_ahead_seconds must be >= 0 and below duration_seconds")
    if profile.refresh_store not in ("file", "keyring"):
        problems.append("refresh_store must be 'file' or 'keyring'")
    if not 0 <= profile.redirect_port <= 65535:
        problems.append("redirect_port must be 0 (any free port) or a port number")
    if profile.protocol == "oidc":
        if not profile.issuer or not profile.client_id:
            problems.append("OIDC profiles need issuer and client_id")
        if "openid" not in profile.scopes:
            problems.append("scopes must include openid")
    elif profile.device:
        problems.append("device sign-in (device = true) is for OIDC profiles only")
    if profile.protocol == "saml":
        if not (profile.provider_arn and profile.idp_metadata_url):
            problems.append("SAML profiles need idp_metadata_url and provider_arn")
        if profile.redirect_port == 0:
            # The ACS URL is registered at the IdP and is SAML:aud in the role's trust
            # policy, so it cannot change from one login to the next.
            problems.append("SAML profiles need a fixed redirect_port (the ACS URL's port)")
    return problems


_FIELD_TYPES = {f.name: f.type for f in fields(Profile)}


def _bad_setting(name: str, problem: str) -> ConfigError:
    return ConfigError(
        f"profile {name!r}: {problem}",
        remedy=f"edit the profiles.{name} table in {locations.config_path()}, "
        "or rewrite it with qbizfed configure",
    )


def profile_from_table(name: str, table: dict[str, object]) -> Profile:
    """Build a profile from its TOML table; unknown keys and wrong types are errors."""
    refuse_unknown_keys(
        table, {*_FIELD_TYPES, "name"}, where=f"profile {name!r}",
        remedy="check the spelling; see `qbizfed configure --help` for the settings",
    )  # fmt: skip
    values: dict[str, object] = {}
    for key, value in table.items():
        if key == "name":
            continue
        if key == "scopes":
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise _bad_setting(name, "scopes must be a list of strings")
            values[key] = tuple(value)
        elif key in ("duration_seconds", "refresh_ahead_seconds", "redirect_port"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _bad_setting(name, f"{key} must be an integer")
            values[key] = value
        elif key in ("allow_insecure_loopback_http", "device"):
            if not isinstance(value, bool):
                raise _bad_setting(name, f"{key} must be true or false")
            values[key] = value
        elif not isinstance(value, str):
            raise _bad_setting(name, f"{key} must be a string")
        else:
            values[key] = value
    if "protocol" not in values or "role_arn" not in values:
        raise ConfigError(
            f"profile {name!r} needs protocol and role_arn",
            remedy="write it with qbizfed configure",
        )
    return Profile(name=name, **values)  # type: ignore[arg-type]


def read_config(path: str | None = None) -> dict[str, object]:
    """The whole TOML document (empty when the file does not exist)."""
    path = path or locations.config_path()
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}", remedy="fix the syntax error it points at"
        ) from exc


def load_profiles(path: str | None = None) -> dict[str, Profile]:
    tables = read_config(path).get("profiles", {})
    if not isinstance(tables, dict):
        raise ConfigError(
            "profiles must be a table of tables", remedy="write profiles with qbizfed configure"
        )
    result: dict[str, Profile] = {}
    with naming_file(path or locations.config_path()):
        for name, table in tables.items():
            if not isinstance(table, dict):
                raise _bad_setting(name, "must be a table of settings")
            result[name] = profile_from_table(name, table)
    return result


class ProfileNotFoundError(ConfigError):
    """``--profile NAME`` names no ``[profiles.NAME]`` table."""


def profile_not_found(name: str, path: str, known: list[str]) -> ProfileNotFoundError:
    existing = (
        f"existing profiles: {', '.join(sorted(known))}" if known else "no profile exists yet"
    )
    return ProfileNotFoundError(
        f"qbizfed profile {name!r} does not exist in {path} ({existing})",
        remedy=("pass --profile with one of them, or create it: " if known else "create it: ")
        + f"qbizfed configure --profile {name} ...",
    )


def load_profile(name: str, path: str | None = None) -> Profile:
    """The profile called ``name``, or :class:`ProfileNotFoundError` listing the others."""
    path = path or locations.config_path()
    profiles = load_profiles(path)
    if name not in profiles:
        raise profile_not_found(name, path, list(profiles))
    return profiles[name]


# --- writing -----------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string with ASCII escapes is a TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def render_profile(profile: Profile) -> str:
    """The ``[profiles.NAME]`` table of a profile (unset optional settings omitted)."""
    lines = [f"[profiles.{profile.name}]"]
    for item in fields(Profile):
        value = getattr(profile, item.name)
        if item.name == "name" or value is None or (item.name == "device" and not value):
            continue
        lines.append(f"{item.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _header_key(line: str) -> tuple[str, ...] | None:
    """The dotted key of a ``[table]`` header line (quotes and spaces removed)."""
    stripped = line.strip()
    if not stripped.startswith("[") or stripped.startswith("[["):
        return None
    end = stripped.find("]")
    if end < 0:
        return None
    return tuple(part.strip().strip("\"'") for part in stripped[1:end].split("."))


def _without_profile(text: str, name: str) -> str:
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        header = _header_key(line)
        if header is not None or line.lstrip().startswith("[["):
            skipping = header is not None and header[:2] == ("profiles", name)
        if not skipping:
            kept.append(line)
    return "".join(kept)


def write_profile(profile: Profile, path: str | None = None) -> str:
    """Add or replace one profile's table, leaving the rest of the file as it was."""
    path = path or locations.config_path()
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    rest = _without_profile(text, profile.name).rstrip("\n")
    new_text = (rest + "\n\n" if rest else "") + render_profile(profile)
    try:
        parsed = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot add the profile to {path}: the file would not be valid TOML ({exc})",
            remedy="fix the existing file first",
        ) from exc
    written = parsed.get("profiles", {}).get(profile.name)
    if not isinstance(written, dict) or profile_from_table(profile.name, written) != profile:
        raise ConfigError(
            f"cannot add the profile to {path}: its layout is too unusual to edit safely",
            remedy=f"add the profiles.{profile.name} table by hand (see qbizfed configure --help)",
        )
    from qbizfed.creds.textfiles import replace_text_file

    replace_text_file(path, new_text, backup=bool(text))
    return path
