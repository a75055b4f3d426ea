"""Settings of a federated Q Business stack: from one TOML file or the sample's variables.

Two sources, one result (:class:`StackConfig`, frozen):

* a TOML file (``qbizfed admin init`` writes a commented one), or
* the environment variables of AWS's IAM-federation samples, accepted as they are:
  ``AWS_ACCOUNT_ID``, ``AWS_DEFAULT_REGION``, ``AWS_SECRET_ID``,
  ``AWS_SECRET_ENCRYPTION_KEY``, ``IDP_CLIENT_ID``, ``IDP_ISSUER_URL`` (OIDC) and
  ``SAML_METADATA_DOCUMENT``, ``IDP_SSO_URL``, ``CUSTOM_ACS_URL``,
  ``REGIONAL_SIGNIN_ENDPOINT_URL`` (SAML). The mode is inferred from which are set,
  and the stack name derived from the issuer or the metadata's entityID.

Everything here is offline and pure: shapes, patterns and cross-field rules. What
needs the network (is the issuer reachable, is its discovery document consistent)
lives in :mod:`qbizfed.aws.provision.preflight`. Every error names the setting and
the fix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qbizfed.errors import ConfigError
from qbizfed.settings.environment import stack_table
from qbizfed.settings.oidc import OidcRegistration
from qbizfed.settings.saml import SamlRegistration
from qbizfed.settings.toml_file import naming_file, refuse_unknown_keys
from qbizfed.url_policy import is_loopback_host

#: Regions where Amazon Q Business is offered (docs/aws-facts.md).
QBUSINESS_REGIONS = frozenset({"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"})

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$")
#: What the AWS CLI accepts as ``--kms-key-id``: a key ARN, an alias ARN, ``alias/NAME`` or a
#: key id (a UUID, or ``mrk-`` and 32 hex digits for a multi-Region key).
_KMS_KEY_REFERENCE = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+"
    r"|alias/[A-Za-z0-9/_-]{1,250}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Your own app's callback and sign-out URIs when [oidc] does not name them (printed for
#: the IdP's administrator).
DEFAULT_REDIRECT_URI = "http://localhost:8000/auth/oidc/callback"
DEFAULT_SIGN_OUT_URI = "http://localhost:8000/login/oidc"


class Mode(StrEnum):
    """How users federate into the application."""

    OIDC = "oidc"
    SAML = "saml"


class SubscriptionType(StrEnum):
    """The ``defaultSubscriptionType`` given to users who subscribe themselves."""

    Q_BUSINESS = "Q_BUSINESS"
    Q_LITE = "Q_LITE"


@dataclass(frozen=True)
class StackConfig:
    """One IAM-federated Q Business application and everything it needs."""

    name: str
    mode: Mode
    region: str
    account_id: str | None = None
    oidc: OidcRegistration | None = None
    saml: SamlRegistration | None = None
    auto_subscribe: SubscriptionType | None = SubscriptionType.Q_BUSINESS
    require_email_tag: bool = True
    """Require ``aws:RequestTag/Email`` on the assume statement (reject tokens without Email)."""
    service_role_arn: str | None = None
    """``roleArn`` of CreateApplication; the service-linked role when empty."""
    ensure_service_linked_role: bool = True
    kms_key_arn: str | None = None
    """A customer KMS key the web experience may decrypt with (via qbusiness/qapps)."""
    q_apps: bool = True
    """Include the Q Apps statements in the web experience's permission policy."""
    title: str | None = None

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def saml_audiences(self) -> tuple[str, ...]:
        """``SAML:aud`` values known from configuration alone (the web URL comes later)."""
        if self.saml is None:
            return ()
        values = [self.saml.regional_signin_url or regional_signin_url(self.region)]
        if self.saml.acs_url:
            values.append(self.saml.acs_url)
        return tuple(dict.fromkeys(values))


def regional_signin_url(region: str) -> str:
    return f"https://{region}.signin.aws.amazon.com/saml"


# --------------------------------------------------------------------------- parsing


def check_url(
    setting: str,
    value: str,
    *,
    allow_loopback_http: bool = False,
    https_only: bool = True,
    loopback_http_switch: str | None = None,
) -> str:
    """A URL with a host and no credentials, fragment or query; https unless loopback.

    ``loopback_http_switch`` names the setting that allows plain http on loopback, for
    the refusal's remedy.
    """
    split = urlsplit(value)
    if split.scheme not in ("https", "http") or not split.hostname:
        raise ConfigError(
            f"{setting} = {value!r} is not an absolute http(s) URL",
            remedy=f"set {setting} to a URL such as https://idp.example.com/...",
        )
    if split.username or split.password or "@" in split.netloc:
        raise ConfigError(
            f"{setting} must not contain credentials or '@'",
            remedy=f"remove the user-info part from {setting}",
        )
    if split.fragment or split.query:
        raise ConfigError(
            f"{setting} must not have a query or fragment",
            remedy=f"remove '?...' and '#...' from {setting}",
        )
    loopback_ok = allow_loopback_http and is_loopback_host(split.hostname)
    if split.scheme == "http" and https_only and not loopback_ok:
        switch = (
            f"; for a development IdP on loopback set {loopback_http_switch}"
            if loopback_http_switch and is_loopback_host(split.hostname) else ""
        )
        raise ConfigError(
            f"{setting} = {value!r} uses http",
            remedy=f"use an https URL for {setting} (AWS IAM requires https){switch}",
        )
    return value


def _require(setting: str, value: object, hint: str) -> str:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{setting} must be a string", remedy=f'quote it: {setting} = "..."')
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{setting} is not set", remedy=hint)
    return value.strip()


def _optional_str(setting: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{setting} must be a string", remedy=f'quote it: {setting} = "..."')
    return value.strip()


def _bool(setting: str, value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    raise ConfigError(f"{setting} must be true or false", remedy=f"set {setting} = true or false")


def check_name(value: str, setting: str = "name") -> str:
    if not _NAME.match(value):
        raise ConfigError(
            f"{setting} = {value!r} is not a valid stack name",
            remedy="use 1-40 characters: lower-case letters, digits and '-', starting with "
            "a letter or digit (it prefixes role names, which IAM limits to 64 characters)",
        )
    return value


def check_region(value: str, setting: str = "region") -> str:
    if not _REGION.match(value):
        raise ConfigError(
            f"{setting} = {value!r} is not an AWS region",
            remedy=f"use one of {', '.join(sorted(QBUSINESS_REGIONS))}",
        )
    if value not in QBUSINESS_REGIONS:
        raise ConfigError(
            f"{setting} = {value!r}: Amazon Q Business is not offered there",
            remedy=f"use one of {', '.join(sorted(QBUSINESS_REGIONS))}",
        )
    return value


def _check_pattern(setting: str, value: str | None, pattern: re.Pattern[str], hint: str) -> None:
    if value is not None and not pattern.match(value):
        raise ConfigError(f"{setting} = {value!r} is malformed", remedy=hint)


def slug_from_url(url: str) -> str:
    """``https://dev-1.okta.com/oauth2/default`` -> ``dev-1-okta-com-oauth2-default`` (≤ 40).

    A loopback host keeps its port (``http://127.0.0.1:9000`` -> ``127-0-0-1-9000``):
    local IdPs differ only by port, and two local stacks must not share a name.
    """
    split = urlsplit(url if "//" in url else "//" + url)
    try:
        port = split.port if is_loopback_host(split.hostname) else None
    except ValueError:  # a malformed port: named without it, refused by check_url
        port = None
    host = f"{split.hostname or ''}" + (f"-{port}" if port is not None else "")
    text = f"{host}{split.path}".lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return (slug[:40].rstrip("-")) or "qbizfed"


def _parse_oidc(table: Mapping[str, Any]) -> OidcRegistration:
    issuer = _require("oidc.issuer_url (IDP_ISSUER_URL)", table.get("issuer_url"),
                      "set it to your IdP's issuer, e.g. https://dev-1.okta.com/oauth2/default")
    allow_http = _bool("oidc.allow_insecure_loopback_http",
                       table.get("allow_insecure_loopback_http"), False)
    check_url("oidc.issuer_url (IDP_ISSUER_URL)", issuer, allow_loopback_http=allow_http,
              loopback_http_switch="oidc.allow_insecure_loopback_http = true "
              "(QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP=true)")
    client_id = _require("oidc.client_id (IDP_CLIENT_ID)", table.get("client_id"),
                         "set it to the client ID of the IdP's web-application integration")
    if not _CLIENT_ID.match(client_id):
        raise ConfigError(
            "oidc.client_id (IDP_CLIENT_ID) has spaces, control characters or > 255 characters",
            remedy="copy the client ID exactly from the IdP's application integration",
        )
    secret_id = _require(
        "oidc.secret_id (AWS_SECRET_ID)", table.get("secret_id"),
        "create a Secrets Manager secret holding the IdP client secret "
        '({"client_secret": "..."}) and set its ARN or name here',
    )
    if not (_SECRET_ARN.match(secret_id) or
            (not secret_id.startswith("arn:") and _SECRET_NAME.match(secret_id))):
        raise ConfigError(
            f"oidc.secret_id (AWS_SECRET_ID) = {secret_id!r} is not a secret ARN or name",
            remedy="use arn:aws:secretsmanager:<region>:<account>:secret:<name> or the name",
        )
    kms = _optional_str("oidc.secret_kms_key (AWS_SECRET_ENCRYPTION_KEY)",
                        table.get("secret_kms_key"))
    _check_pattern("oidc.secret_kms_key (AWS_SECRET_ENCRYPTION_KEY)", kms, _KMS_KEY_REFERENCE,
                   "use the key's id, ARN (arn:aws:kms:<region>:<account>:key/<key id>), "
                   "alias name (alias/<name>) or alias ARN")
    redirect = _optional_str("oidc.custom_app_redirect_uri", table.get(
        "custom_app_redirect_uri", DEFAULT_REDIRECT_URI))
    sign_out = _optional_str("oidc.sign_out_uri", table.get("sign_out_uri", DEFAULT_SIGN_OUT_URI))
    for setting, value in (("oidc.custom_app_redirect_uri", redirect),
                           ("oidc.sign_out_uri", sign_out)):
        if value is not None:
            check_url(setting, value, allow_loopback_http=True)
    return OidcRegistration(
        issuer=issuer, client_id=client_id, secret_id=secret_id, secret_kms_key=kms,
        redirect_uri=redirect or "", logout_redirect_uri=sign_out,
        allow_insecure_loopback_http=allow_http,
    )


def _parse_saml(table: Mapping[str, Any], base_dir: Path | None) -> SamlRegistration:
    document = _optional_str("saml.metadata_document", table.get("metadata_document"))
    metadata_file = _optional_str("saml.metadata_file", table.get("metadata_file"))
    if document is None and metadata_file is not None:
        path = Path(metadata_file)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            document = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"saml.metadata_file {str(path)!r} cannot be read: {exc.strerror}",
                remedy="download the IdP's SAML metadata XML and point metadata_file at it",
            ) from exc
    if not document:
        raise ConfigError(
            "saml.metadata_document (SAML_METADATA_DOCUMENT) is not set",
            remedy="set saml.metadata_file to the IdP's metadata XML (or export "
            "SAML_METADATA_DOCUMENT with its content)",
        )
    if len(document) < 1000:
        raise ConfigError(
            f"the SAML metadata document has {len(document)} characters; IAM requires ≥ 1000",
            remedy="use the IdP's complete metadata XML, including its signing certificate",
        )
    sso = _require("saml.sso_url (IDP_SSO_URL)", table.get("sso_url"),
                   "set it to the IdP's SAML sign-in URL for this application")
    check_url("saml.sso_url (IDP_SSO_URL)", sso)
    acs = _optional_str("saml.custom_acs_url (CUSTOM_ACS_URL)", table.get("custom_acs_url"))
    if acs is not None:
        check_url("saml.custom_acs_url (CUSTOM_ACS_URL)", acs, allow_loopback_http=True)
    regional = _optional_str("saml.regional_signin_url (REGIONAL_SIGNIN_ENDPOINT_URL)",
                             table.get("regional_signin_url"))
    if regional is not None:
        check_url("saml.regional_signin_url (REGIONAL_SIGNIN_ENDPOINT_URL)", regional)
    return SamlRegistration(idp_sso_url=sso, metadata_document=document, acs_url=acs or "",
                   regional_signin_url=regional)


def config_from_mapping(data: Mapping[str, Any], *, base_dir: Path | None = None) -> StackConfig:
    """Validate a decoded TOML document (or the equivalent built from the environment)."""
    known = {"name", "mode", "region", "account_id", "oidc", "saml", "application"}
    shared = {"serve", "chat", "profiles"}  # read by `qbizfed serve`, `chat` and `login`
    refuse_unknown_keys(
        data, known | shared, where="the configuration",
        remedy=f"use only {', '.join(sorted(known))} at the top level",
    )  # fmt: skip
    mode_text = _require("mode", data.get("mode"), 'set mode = "oidc" or mode = "saml"')
    try:
        mode = Mode(mode_text.lower())
    except ValueError:
        raise ConfigError(f"mode = {mode_text!r} is not supported",
                          remedy='set mode = "oidc" or mode = "saml"') from None
    region = check_region(_require("region (AWS_DEFAULT_REGION)", data.get("region"),
                                   'set region = "us-east-1" (or AWS_DEFAULT_REGION)'),
                          "region (AWS_DEFAULT_REGION)")
    account = _optional_str("account_id (AWS_ACCOUNT_ID)", data.get("account_id"))
    _check_pattern("account_id (AWS_ACCOUNT_ID)", account, _ACCOUNT,
                   "use the 12-digit account ID, or leave it out to ask STS")
    oidc = saml = None
    if mode is Mode.OIDC:
        oidc = _parse_oidc(_table(data, "oidc"))
    else:
        saml = _parse_saml(_table(data, "saml"), base_dir)
    app = _table(data, "application")
    auto = app.get("auto_subscribe", SubscriptionType.Q_BUSINESS.value)
    auto_subscribe: SubscriptionType | None
    if auto in (False, "off", "OFF", "none", "", None):
        auto_subscribe = None
    else:
        try:
            auto_subscribe = SubscriptionType(str(auto).upper())
        except ValueError:
            raise ConfigError(f"application.auto_subscribe = {auto!r} is not supported",
                              remedy='use "Q_BUSINESS", "Q_LITE" or "off"') from None
    service_role = _optional_str("application.service_role_arn", app.get("service_role_arn"))
    _check_pattern("application.service_role_arn", service_role, _ROLE_ARN,
                   "use arn:aws:iam::<account>:role/..., or leave it out for the "
                   "service-linked role AWSServiceRoleForQBusiness")
    kms_key = _optional_str("application.kms_key_arn", app.get("kms_key_arn"))
    _check_pattern("application.kms_key_arn", kms_key, _KMS_KEY_ARN,
                   "use arn:aws:kms:<region>:<account>:key/<key id>")
    name = data.get("name")
    if name is None or name == "":
        name = default_name(mode, oidc, saml)
    return StackConfig(
        name=check_name(str(name)),
        mode=mode,
        region=region,
        account_id=account,
        oidc=oidc,
        saml=saml,
        auto_subscribe=auto_subscribe,
        require_email_tag=_bool("application.require_email_tag",
                                app.get("require_email_tag"), True),
        service_role_arn=service_role,
        ensure_service_linked_role=_bool("application.ensure_service_linked_role",
                                         app.get("ensure_service_linked_role"), True),
        kms_key_arn=kms_key,
        q_apps=_bool("application.q_apps", app.get("q_apps"), True),
        title=_optional_str("application.title", app.get("title")),
    )


_TABLE_KEYS: Mapping[str, frozenset[str]] = {
    "oidc": frozenset({"issuer_url", "client_id", "secret_id", "secret_kms_key",
                       "custom_app_redirect_uri", "sign_out_uri",
                       "allow_insecure_loopback_http"}),
    "saml": frozenset({"metadata_document", "metadata_file", "sso_url", "custom_acs_url",
                       "regional_signin_url"}),
    "application": frozenset({"auto_subscribe", "require_email_tag", "service_role_arn",
                              "ensure_service_linked_role", "kms_key_arn", "q_apps", "title"}),
}  # fmt: skip


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table", remedy=f"write it as a [{key}] section")
    refuse_unknown_keys(value, _TABLE_KEYS[key], where=f"[{key}]")
    return value


def default_name(mode: Mode, oidc: OidcRegistration | None, saml: SamlRegistration | None) -> str:
    """A stable stack name derived from the issuer URL or the metadata's entityID."""
    if mode is Mode.OIDC and oidc is not None:
        return slug_from_url(oidc.issuer)
    if saml is not None:
        match = re.search(r"entityID\s*=\s*[\"']([^\"']+)[\"']", saml.metadata_document)
        if match:
            return slug_from_url(match.group(1))
    return "qbizfed"


# --------------------------------------------------------------------------- sources


def load_config(path: Path) -> StackConfig:
    """Read and validate a TOML configuration file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}",
                          remedy="run `qbizfed admin init` to write one") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}",
                          remedy="fix the syntax (see `qbizfed admin init` for an example)"
                          ) from exc
    with naming_file(path):
        return config_from_mapping(data, base_dir=path.parent)


def config_from_env(env: Mapping[str, str]) -> StackConfig:
    """A configuration from the sample's environment variables alone."""
    return config_from_mapping(stack_table(env))


def resolve_config(path: Path | None, env: Mapping[str, str]) -> StackConfig:
    """``--config FILE`` when given, else the environment."""
    return load_config(path) if path is not None else config_from_env(env)


# --------------------------------------------------------------------------- template


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def config_template(
    *,
    mode: Mode,
    name: str,
    region: str,
    account_id: str | None = None,
    issuer_url: str = "",
    client_id: str = "",
    secret_id: str = "",
    secret_kms_key: str = "",
    metadata_file: str = "idp-metadata.xml",
    sso_url: str = "",
    custom_acs_url: str = "",
) -> str:
    """A commented TOML configuration (what ``qbizfed admin init`` writes)."""
    lines = [
        "# qbizfed admin configuration: one IAM-federated Amazon Q Business application.",
        "# Used by: qbizfed admin plan|apply|status|destroy|export --config THIS_FILE",
        "",
        "# Names every resource (application, index, roles) and tags it qbizfed:stack=<name>.",
        f"name = {_toml_string(name)}",
        f'mode = "{mode.value}"    # "oidc" or "saml"',
        f"region = {_toml_string(region)}    # us-east-1, us-west-2, eu-west-1, ap-southeast-2",
        "# account_id: leave out to ask STS (GetCallerIdentity).",
        (f"account_id = {_toml_string(account_id)}" if account_id
         else '# account_id = "123456789012"'),
        "",
    ]
    if mode is Mode.OIDC:
        lines += [
            "[oidc]",
            "# The issuer exactly as the IdP's discovery document says (no trailing '/' unless",
            "# it has one there); STS compares it byte for byte with the token's iss.",
            f"issuer_url = {_toml_string(issuer_url)}",
            "# Client ID of the IdP's web-application integration.",
            f"client_id = {_toml_string(client_id)}",
            "# Secrets Manager secret (ARN or name) holding the IdP client secret.",
            f"secret_id = {_toml_string(secret_id)}",
            "# KMS key that encrypts that secret, if not the AWS-managed key.",
            (f"secret_kms_key = {_toml_string(secret_kms_key)}" if secret_kms_key
             else '# secret_kms_key = "arn:aws:kms:us-east-1:123456789012:key/..."'),
            "# Your own app's callback and sign-out URIs (printed for the IdP admin).",
            'custom_app_redirect_uri = "http://localhost:8000/auth/oidc/callback"',
            'sign_out_uri = "http://localhost:8000/login/oidc"',
            "",
        ]
    else:
        lines += [
            "[saml]",
            "# The IdP's SAML metadata XML (path relative to this file). IAM needs >= 1000 chars.",
            f"metadata_file = {_toml_string(metadata_file)}",
            "# The IdP's sign-in URL for this application (https).",
            f"sso_url = {_toml_string(sso_url)}",
            "# Your own app's ACS URL, added to the trust policy's SAML:aud.",
            (f"custom_acs_url = {_toml_string(custom_acs_url)}" if custom_acs_url
             else '# custom_acs_url = "http://localhost:8000/saml"'),
            '# regional_signin_url = "https://<region>.signin.aws.amazon.com/saml"  # default',
            "",
        ]
    lines += [
        "[application]",
        '# auto_subscribe = "Q_BUSINESS" | "Q_LITE" | "off": subscribe users on first use.',
        'auto_subscribe = "Q_BUSINESS"',
        "# Require the Email session tag on the assume statement (tokens without it fail at STS).",
        "require_email_tag = true",
        "# Create the service-linked role AWSServiceRoleForQBusiness if the account lacks it.",
        "ensure_service_linked_role = true",
        "# Include the Q Apps statements in the web experience role's policy.",
        "q_apps = true",
        '# title = "Ask our documents"',
        "",
    ]
    return "\n".join(lines)
