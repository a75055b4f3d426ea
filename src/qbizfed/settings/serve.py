"""Settings of the web broker (``qbizfed serve``), from the sample's variables or a TOML file.

The sample scripts' environment variables keep working (``OIDC_CLIENT_ID``,
``OIDC_CLIENT_SECRET``, ``OIDC_DISCOVERY_URL``, ``OIDC_REDIRECT_URI``,
``LOGOUT_REDIRECT_URI``, ``OIDC_ROLE_ARN``; ``IDP_SSO_URL``, ``IDP_ISSUER``,
``CUSTOM_ACS_URL``, ``WEB_EXPERIENCE_ROLE_ARN``, ``IAM_IDENTITY_PROVIDER_ARN``), plus
the few the samples lacked because they validated nothing (the IdP's signing
certificate, ``QBIZFED_*`` switches). A ``[serve]`` table of the file given to
``--config`` overrides the environment, key by key::

    [serve]
    public_url = "https://broker.example.com"
    trusted_hosts = ["broker.example.com"]
    max_body_bytes = 65536              # request body limits (413 above them)
    max_chat_body_bytes = 53477376      # a chat question with its attachments
    max_saml_body_bytes = 524288        # the SAML ACS POST
    workers = 1                         # processes sharing the port (> 1 needs Redis)

    [serve.oidc]
    discovery_url = "https://idp.example.com/oauth2/default"
    client_id = "..."
    client_secret = "..."            # or client_secret_env = "MY_VAR"
    redirect_uri = "https://broker.example.com/auth/oidc/callback"
    role_arn = "arn:aws:iam::123456789012:role/qbiz-web"
    offline_access = true            # refresh tokens renew credentials (default)

    [serve.saml]
    idp_sso_url = "https://idp.example.com/sso/saml"
    idp_issuer = "http://www.okta.com/exk..."
    idp_certificate_file = "idp.pem"
    acs_url = "https://broker.example.com/saml"
    role_arn = "arn:aws:iam::123456789012:role/qbiz-web"            # optional
    provider_arn = "arn:aws:iam::123456789012:saml-provider/okta"   # optional

    [serve.chat]                        # see qbizfed.settings.chat
    application_id = "11111111-2222-3333-4444-555555555555"
    max_concurrent_calls = 32

    [serve.sessions]
    store = "redis://redis.internal:6379/0"   # QBIZFED_SESSION_STORE; default memory://
    key_env = "QBIZFED_SESSION_KEY"           # or key = "..." (base64 AES keys)

The variables each table stands for are named in :mod:`qbizfed.settings.environment`.
Unknown keys and values of the wrong type in these tables are refused, naming the key
and the file. Secrets never appear in a ``repr``: the client secret and SP key are
fields hidden from it, the session key a :class:`starlette.datastructures.Secret`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Secret

from qbizfed.errors import ConfigError
from qbizfed.settings.chat import ChatSettings, chat_from_values
from qbizfed.settings.environment import (
    SERVE_CHAT,
    SERVE_OIDC,
    SERVE_SAML,
    SERVE_SESSIONS,
    secret_from_env,
    serve_top_level,
    table_from_env,
)
from qbizfed.settings.oidc import OidcRegistration, issuer_from_discovery_url
from qbizfed.settings.saml import SamlRegistration
from qbizfed.settings.toml_file import check_table, naming_file
from qbizfed.url_policy import require_secure_url

MAX_WORKERS = 64
"""More processes than this only contend for the machine's cores and Redis connections."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class SessionSettings:
    """Where browser sessions live (``[serve.sessions]``), and the key that seals them."""

    store: str = "memory://"
    """``memory://`` (one instance) or ``redis://``, ``rediss://``, ``unix://`` (several)."""
    key: Secret | None = None
    """``QBIZFED_SESSION_KEY``: base64 AES keys, current first; needed by Redis stores."""


@dataclass(frozen=True)
class WebSettings:
    """Everything ``create_app`` needs besides its injected clients."""

    oidc: OidcRegistration | None = None
    saml: SamlRegistration | None = None
    public_url: str | None = None
    """The URL users reach the broker at; its scheme decides Secure cookies and HSTS."""
    trusted_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    session_duration_seconds: int = 3600
    """Asked of STS (900..43200) for each set of credentials."""
    max_session_seconds: int = 28800
    """A signed-in session ends this long after sign-in, however often it was renewed."""
    renew_before_seconds: int = 300
    """Renewable (OIDC refresh token) credentials are replaced this long before they
    expire: longer than the slowest chat turn, so no call runs on expiring credentials."""
    login_timeout_seconds: int = 600
    anonymous_session_seconds: int = 1800
    secure_cookies: bool | None = None
    """``None``: Secure when ``public_url`` is https."""
    max_body_bytes: int = 64 * 1024
    """Largest request body of any form (sign-out, role choice, feedback ...)."""
    max_chat_body_bytes: int = 5 * 10 * 1024 * 1024 + 1024 * 1024
    """A chat question with its attachments: Q Business takes 5 files of 10 MiB, plus 1 MiB."""
    max_saml_body_bytes: int = 512 * 1024
    """The SAML ACS POST: a base64 response of at most 256 KiB, form-encoded, and RelayState."""
    chat: ChatSettings = field(default_factory=ChatSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    workers: int = 1
    """Processes serving the one port (``qbizfed serve --workers``); more than one needs a
    shared session store, since each process would otherwise keep its own sessions."""

    @property
    def cookie_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.public_url and self.public_url.startswith("https://"))

    def idp_origins(self) -> tuple[str, ...]:
        """Origins our forms may lead to (CSP ``form-action``): the IdPs' own hosts."""
        origins: list[str] = []
        if self.oidc is not None:
            origins.append(_origin(self.oidc.issuer))
        if self.saml is not None:
            origins.append(_origin(self.saml.idp_sso_url))
        return tuple(dict.fromkeys(origins))

    def check(self) -> WebSettings:
        """Raise ``ConfigError`` for a configuration that cannot work."""
        if self.oidc is None and self.saml is None:
            raise ConfigError(
                "neither OIDC nor SAML sign-in is configured",
                remedy="set OIDC_CLIENT_ID, OIDC_DISCOVERY_URL, OIDC_REDIRECT_URI and "
                "OIDC_ROLE_ARN, or IDP_SSO_URL, IDP_ISSUER, CUSTOM_ACS_URL and "
                "QBIZFED_SAML_IDP_CERT_FILE (or a [serve] table in --config)",
            )
        if not 900 <= self.session_duration_seconds <= 43200:
            raise ConfigError(
                f"session duration {self.session_duration_seconds}s is outside 900..43200",
                remedy="STS accepts 15 minutes up to the role's maximum (at most 12 hours)",
            )
        if not 900 <= self.max_session_seconds <= 7 * 86400:
            raise ConfigError(
                f"serve.max_session_seconds is {self.max_session_seconds}; it must be "
                "900 (15 minutes) to 604800 (7 days)",
                remedy="give the longest a user may stay signed in, in seconds (default 28800)",
            )
        if not 30 <= self.renew_before_seconds <= self.session_duration_seconds // 2:
            raise ConfigError(
                f"serve.renew_before_seconds is {self.renew_before_seconds}; it must be 30 "
                f"to half the session duration ({self.session_duration_seconds // 2})",
                remedy="renew a few minutes before expiry (default 300)",
            )
        if self.saml is not None and not self.saml.idp_certificate.strip():
            raise ConfigError(
                "SAML sign-in is configured without the IdP's signing certificate",
                remedy="set QBIZFED_SAML_IDP_CERT_FILE (or [serve.saml] idp_certificate_file) "
                "to the certificate from your IdP's SAML metadata",
            )
        if self.oidc is not None:
            require_secure_url(
                self.oidc.issuer,
                what="OIDC issuer",
                allow_insecure_loopback_http=self.oidc.allow_insecure_loopback_http,
            )
        if self.saml is not None:
            require_secure_url(
                self.saml.idp_sso_url,
                what="SAML IdP SSO",
                allow_insecure_loopback_http=self.saml.allow_insecure_loopback_http,
            )
        for name in ("max_body_bytes", "max_chat_body_bytes", "max_saml_body_bytes"):
            if getattr(self, name) < 1024:
                raise ConfigError(
                    f"serve.{name} is {getattr(self, name)}; it must be at least 1024 bytes",
                    remedy=f"give {name} in bytes (the default suits most deployments)",
                )
        if not self.sessions.store.startswith("memory:") and self.sessions.key is None:
            raise ConfigError(
                f"serve.sessions.store is {urlsplit(self.sessions.store).scheme}://... but no "
                "session key is set to encrypt sessions and credentials",
                remedy="set serve.sessions.key (or key_env, or QBIZFED_SESSION_KEY) to 32 random "
                "bytes in base64 (openssl rand -base64 32), the same on every instance",
            )
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(
                f"serve.workers is {self.workers}; it must be 1 to {MAX_WORKERS}",
                remedy="give the number of processes to serve with (about one per core)",
            )
        if self.workers > 1 and self.sessions.store.startswith("memory:"):
            raise ConfigError(
                f"{self.workers} workers cannot share the memory:// session store: each "
                "process would keep its own sign-ins, sessions and SAML replay cache",
                remedy="pass --session-store redis://host:6379/0 (or [serve.sessions] store) "
                "with QBIZFED_SESSION_KEY set, the same for every worker, or serve with "
                "--workers 1",
            )
        if "*" in self.trusted_hosts and self.cookie_secure:
            raise ConfigError(
                "trusted_hosts is '*' on a public https deployment",
                remedy="list the host names users reach the broker at",
            )
        return self


# --- loading ---------------------------------------------------------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})


def _read_text(path: str, *, what: str, base: Path | None) -> str:
    file = Path(path).expanduser()
    if base is not None and not file.is_absolute():
        file = base / file
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the {what} file {file}: {exc.strerror}",
            remedy=f"check the path of the {what}",
        ) from exc


def _oidc_from(values: Mapping[str, str | None], base: Path | None) -> OidcRegistration | None:
    needed = ("discovery_url", "client_id", "redirect_uri", "role_arn")
    present = {k: values.get(k) for k in needed}
    if not any(present.values()):
        return None
    missing = [k for k, v in present.items() if not v]
    if missing:
        raise ConfigError(
            f"OIDC sign-in is partly configured; missing: {', '.join(missing)}",
            remedy="set OIDC_DISCOVERY_URL, OIDC_CLIENT_ID, OIDC_REDIRECT_URI and OIDC_ROLE_ARN "
            "(or the same keys in [serve.oidc])",
        )
    secret = values.get("client_secret")
    method = values.get("end_session_method") or "redirect"
    if method not in ("redirect", "post"):
        raise ConfigError(
            f"end_session_method is {method!r}", remedy="use 'redirect' (default) or 'post'"
        )
    scopes = tuple((values.get("scopes") or "openid email profile").split())
    offline = (values.get("offline_access") or "true").lower()
    return OidcRegistration(
        issuer=issuer_from_discovery_url(str(present["discovery_url"])),
        client_id=str(present["client_id"]),
        client_secret=secret or None,
        redirect_uri=str(present["redirect_uri"]),
        role_arn=str(present["role_arn"]),
        logout_redirect_uri=values.get("logout_redirect_uri") or None,
        scopes=scopes,
        end_session_method="post" if method == "post" else "redirect",
        allow_insecure_loopback_http=(values.get("allow_insecure_loopback_http") or "").lower()
        in _TRUE,
        offline_access=offline in _TRUE,
        prompt=values.get("prompt") or None,
    )


def _saml_from(values: Mapping[str, str | None], base: Path | None) -> SamlRegistration | None:
    needed = ("idp_sso_url", "idp_issuer", "acs_url")
    present = {k: values.get(k) for k in needed}
    if not any(present.values()):
        return None
    missing = [k for k, v in present.items() if not v]
    if missing:
        raise ConfigError(
            f"SAML sign-in is partly configured; missing: {', '.join(missing)}",
            remedy="set IDP_SSO_URL, IDP_ISSUER and CUSTOM_ACS_URL (or [serve.saml])",
        )
    cert = values.get("idp_certificate") or ""
    if not cert and values.get("idp_certificate_file"):
        cert = _read_text(str(values["idp_certificate_file"]), what="IdP certificate", base=base)
    key = values.get("sp_private_key") or ""
    if not key and values.get("sp_private_key_file"):
        key = _read_text(str(values["sp_private_key_file"]), what="SP private key", base=base)
    sp_cert = values.get("sp_certificate") or ""
    if not sp_cert and values.get("sp_certificate_file"):
        sp_cert = _read_text(str(values["sp_certificate_file"]), what="SP certificate", base=base)
    flag = values.get("allow_insecure_loopback_http") or ""
    return SamlRegistration(
        idp_sso_url=str(present["idp_sso_url"]),
        idp_issuer=str(present["idp_issuer"]),
        acs_url=str(present["acs_url"]),
        idp_certificate=cert,
        sp_entity_id=values.get("sp_entity_id") or "",
        role_arn=values.get("role_arn") or None,
        provider_arn=values.get("provider_arn") or None,
        sp_private_key=key or None,
        sp_certificate=sp_cert or None,
        allow_unsolicited=(values.get("allow_unsolicited") or "").lower() in _TRUE,
        allow_insecure_loopback_http=flag.lower() in _TRUE,
    )


# What each [serve] table may hold, and of which type ("str", "int", "bool", "strings":
# a list of strings, "words": a list of strings or one space-separated string).
_SERVE_KEYS: Mapping[str, str] = {
    "public_url": "str", "aws_region": "str", "aws_endpoint_url": "str",
    "session_duration_seconds": "int", "login_timeout_seconds": "int",
    "max_session_seconds": "int", "renew_before_seconds": "int",
    "anonymous_session_seconds": "int", "max_body_bytes": "int",
    "max_chat_body_bytes": "int", "max_saml_body_bytes": "int",
    "trusted_hosts": "strings", "secure_cookies": "bool", "workers": "int",
    "oidc": "table", "saml": "table",
    "chat": "table", "sessions": "table",
}  # fmt: skip
_OIDC_KEYS: Mapping[str, str] = {
    **{key: "str" for key in SERVE_OIDC},
    "scopes": "words", "allow_insecure_loopback_http": "bool", "client_secret_env": "str",
    "offline_access": "bool",
}  # fmt: skip
_SAML_KEYS: Mapping[str, str] = {
    **{key: "str" for key in SERVE_SAML},
    "allow_unsolicited": "bool", "allow_insecure_loopback_http": "bool",
    "idp_certificate": "str", "sp_private_key": "str", "sp_certificate": "str",
    "sp_private_key_env": "str",
}  # fmt: skip
_CHAT_KEYS: Mapping[str, str] = {
    **{key: "str" for key in SERVE_CHAT}, "max_concurrent_calls": "int",
}  # fmt: skip
_SESSIONS_KEYS: Mapping[str, str] = {"store": "str", "key": "str", "key_env": "str"}
_SECTIONS: Mapping[str, Mapping[str, str]] = {
    "oidc": _OIDC_KEYS, "saml": _SAML_KEYS, "chat": _CHAT_KEYS, "sessions": _SESSIONS_KEYS,
}  # fmt: skip
# A secret may be named by the variable holding it (``client_secret_env = "VAR"``).
_SECRETS_BY_VARIABLE = ("client_secret", "sp_private_key", "key")


def _toml_table(table: Mapping[str, Any], *, where: str, env: Mapping[str, str]) -> dict[str, str]:
    """A checked [serve.*] table as the environment's string values."""
    out: dict[str, str] = {}
    for key, value in table.items():
        if key.endswith("_env"):
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list):
            out[key] = " ".join(value)
        else:
            out[key] = str(value)
    for key in _SECRETS_BY_VARIABLE:
        var = table.get(f"{key}_env")
        if isinstance(var, str) and var:
            out[key] = secret_from_env(env, var, setting=f"{where}.{key}_env")
    return out


def _read_serve_table(config_file: Path) -> Mapping[str, Any]:
    try:
        document = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read {config_file}: {exc.strerror}", remedy="check the --config path"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{config_file} is not valid TOML: {exc}", remedy="fix the syntax error"
        ) from exc
    serve = document.get("serve", {})
    if not isinstance(serve, dict):
        raise ConfigError(f"[serve] in {config_file} is not a table", remedy="use [serve]")
    check_table(serve, _SERVE_KEYS, where="serve", source=config_file)
    for name, schema in _SECTIONS.items():
        check_table(serve.get(name, {}), schema, where=f"serve.{name}", source=config_file)
    return serve


def load_settings(config_file: Path | None = None, *, env: Mapping[str, str]) -> WebSettings:
    """Settings from ``env`` (see :mod:`qbizfed.settings.environment`), overridden key by
    key by ``[serve]`` of ``config_file``; checked."""
    sections = {
        "oidc": table_from_env(env, SERVE_OIDC),
        "saml": table_from_env(env, SERVE_SAML),
        "chat": table_from_env(env, SERVE_CHAT),
        "sessions": table_from_env(env, SERVE_SESSIONS),
    }
    serve: Mapping[str, Any] = {}
    base: Path | None = None
    where = "the environment"
    if config_file is not None:
        base = config_file.expanduser().resolve().parent
        serve = _read_serve_table(config_file)
        where = f"{config_file} or the environment"
        for name, values in sections.items():
            table = serve.get(name, {})
            values.update(_toml_table(table, where=f"serve.{name}", env=env))

    with naming_file(config_file) if config_file is not None else nullcontext():
        settings = WebSettings(
            oidc=_oidc_from(sections["oidc"], base),
            saml=_saml_from(sections["saml"], base),
            chat=chat_from_values(sections["chat"], where=where),
            sessions=_sessions_from(sections["sessions"]),
            **serve_top_level(env),
        )
        settings = _apply_serve_table(settings, serve)
        if "trusted_hosts" not in serve and not env.get("QBIZFED_TRUSTED_HOSTS"):
            settings = replace(settings, trusted_hosts=default_trusted_hosts(settings))
        return settings.check()


def _sessions_from(values: Mapping[str, str | None]) -> SessionSettings:
    key = values.get("key")
    return SessionSettings(
        store=values.get("store") or SessionSettings.store, key=Secret(key) if key else None
    )


def default_trusted_hosts(settings: WebSettings) -> tuple[str, ...]:
    """Loopback plus the hosts of the URLs users are sent to (public, callback, ACS)."""
    urls = [settings.public_url]
    if settings.oidc is not None:
        urls += [settings.oidc.redirect_uri, settings.oidc.logout_redirect_uri]
    if settings.saml is not None:
        urls.append(settings.saml.acs_url)
    hosts = ["127.0.0.1", "localhost"]
    hosts += [h for h in (urlsplit(u).hostname for u in urls if u) if h]
    return tuple(dict.fromkeys(hosts))


def _apply_serve_table(settings: WebSettings, serve: Mapping[str, Any]) -> WebSettings:
    """The checked top-level [serve] keys over the environment's settings."""
    changes: dict[str, Any] = {}
    for key, value in serve.items():
        if key in _SECTIONS or value == "":
            continue
        changes[key] = tuple(value) if key == "trusted_hosts" else value
    return replace(settings, **changes)
