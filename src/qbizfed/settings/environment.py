"""The one environment adapter: AWS samples' variables and ``QBIZFED_*`` as settings tables.

Every variable qbizfed reads as a setting is named here, once, next to the TOML key it
stands for. The functions translate an environment (a mapping, given by ``cli/``) into
the same tables a TOML file holds, so one loader per section checks both sources:

=============================  ======================================================
source                         variables
=============================  ======================================================
``admin`` (stack)              ``AWS_ACCOUNT_ID``, ``AWS_DEFAULT_REGION``, ``AWS_SECRET_ID``,
                               ``AWS_SECRET_ENCRYPTION_KEY``, ``IDP_CLIENT_ID``,
                               ``IDP_ISSUER_URL``, ``SAML_METADATA_DOCUMENT``, ``IDP_SSO_URL``,
                               ``CUSTOM_ACS_URL``, ``REGIONAL_SIGNIN_ENDPOINT_URL``,
                               ``QBIZFED_STACK_NAME``
``[serve.oidc]``               :data:`SERVE_OIDC`
``[serve.saml]``               :data:`SERVE_SAML`
``[serve.chat]``               :data:`SERVE_CHAT`
``[serve.sessions]``           :data:`SERVE_SESSIONS`
=============================  ======================================================

Precedence (README, "Configuration"): a command-line flag, then the ``--config`` file,
then the environment, then the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from qbizfed.errors import ConfigError

SERVE_OIDC: Mapping[str, str] = {
    "discovery_url": "OIDC_DISCOVERY_URL",
    "client_id": "OIDC_CLIENT_ID",
    "client_secret": "OIDC_CLIENT_SECRET",
    "redirect_uri": "OIDC_REDIRECT_URI",
    "logout_redirect_uri": "LOGOUT_REDIRECT_URI",
    "role_arn": "OIDC_ROLE_ARN",
    "scopes": "QBIZFED_OIDC_SCOPES",
    "end_session_method": "QBIZFED_OIDC_END_SESSION_METHOD",
    "allow_insecure_loopback_http": "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP",
    "offline_access": "QBIZFED_OIDC_OFFLINE_ACCESS",
    "prompt": "QBIZFED_OIDC_PROMPT",
}
SERVE_SAML: Mapping[str, str] = {
    "idp_sso_url": "IDP_SSO_URL",
    "idp_issuer": "IDP_ISSUER",
    "acs_url": "CUSTOM_ACS_URL",
    "role_arn": "WEB_EXPERIENCE_ROLE_ARN",
    "provider_arn": "IAM_IDENTITY_PROVIDER_ARN",
    "idp_certificate_file": "QBIZFED_SAML_IDP_CERT_FILE",
    "sp_entity_id": "QBIZFED_SAML_SP_ENTITY_ID",
    "sp_private_key_file": "QBIZFED_SAML_SP_KEY_FILE",
    "sp_certificate_file": "QBIZFED_SAML_SP_CERT_FILE",
    "allow_unsolicited": "QBIZFED_SAML_ALLOW_UNSOLICITED",
    "allow_insecure_loopback_http": "QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP",
}
SERVE_CHAT: Mapping[str, str] = {
    "application_id": "QBUSINESS_APPLICATION_ID",
    "oidc_application_id": "QBUSINESS_OIDC_APPLICATION_ID",
    "saml_application_id": "QBUSINESS_SAML_APPLICATION_ID",
    "max_concurrent_calls": "QBIZFED_CHAT_CONCURRENCY",
}
SERVE_SESSIONS: Mapping[str, str] = {
    "store": "QBIZFED_SESSION_STORE",
    "key": "QBIZFED_SESSION_KEY",
}


def table_from_env(env: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str | None]:
    """``{toml key: the variable's value or None}`` for one ``[serve.*]`` section."""
    return {key: (env.get(var) or "").strip() or None for key, var in names.items()}


def serve_top_level(env: Mapping[str, str]) -> dict[str, Any]:
    """The top-level ``[serve]`` settings the environment can give."""
    hosts = env.get("QBIZFED_TRUSTED_HOSTS")
    return {
        key: value
        for key, value in {
            "aws_region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            "aws_endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "public_url": env.get("QBIZFED_PUBLIC_URL") or None,
            "trusted_hosts": tuple(h.strip() for h in hosts.split(",")) if hosts else None,
        }.items()
        if value is not None
    }


def secret_from_env(env: Mapping[str, str], variable: str, *, setting: str) -> str:
    """The value of the variable a ``*_env`` setting names; refused when it is unset."""
    value = env.get(variable, "")
    if not value:
        raise ConfigError(
            f"{setting} names {variable}, which is not set",
            remedy=f"export {variable}=... before starting qbizfed (it is never stored)",
        )
    return value


def profile_client_secret(
    profile: str, variable: str, env: Mapping[str, str] | None = None
) -> str:
    """A login profile's client secret, from the variable its ``client_secret_env`` names.

    ``login`` and ``credential_process`` read it when they need it (the default is this
    process's environment), so the secret is never written to the profile or the cache.
    """
    value = (os.environ if env is None else env).get(variable)
    if not value:
        raise ConfigError(
            f"profile {profile!r} needs the IdP client secret in ${variable}, which is not set",
            remedy=f"export {variable}=... (qbizfed never stores it)",
        )
    return value


def stack_table(env: Mapping[str, str]) -> dict[str, Any]:
    """The sample's variables as a stack configuration table; mode inferred from what is set."""
    has_oidc = bool(env.get("IDP_ISSUER_URL") or env.get("IDP_CLIENT_ID"))
    has_saml = bool(env.get("SAML_METADATA_DOCUMENT") or env.get("IDP_SSO_URL"))
    if has_oidc and has_saml:
        raise ConfigError(
            "both OIDC (IDP_ISSUER_URL/IDP_CLIENT_ID) and SAML (SAML_METADATA_DOCUMENT/"
            "IDP_SSO_URL) variables are set",
            remedy="unset one group, or use --config with mode = \"oidc\" or \"saml\"",
        )
    if not (has_oidc or has_saml):
        raise ConfigError(
            "no configuration: neither --config nor IDP_ISSUER_URL / SAML_METADATA_DOCUMENT",
            remedy="run `qbizfed admin init` to write a config file, or export the sample's "
            "variables (IDP_ISSUER_URL, IDP_CLIENT_ID, AWS_SECRET_ID for OIDC; "
            "SAML_METADATA_DOCUMENT, IDP_SSO_URL for SAML)",
        )
    data: dict[str, Any] = {
        "mode": "oidc" if has_oidc else "saml",
        "region": env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION", ""),
    }
    if env.get("QBIZFED_STACK_NAME"):
        data["name"] = env["QBIZFED_STACK_NAME"]
    if env.get("AWS_ACCOUNT_ID"):
        data["account_id"] = env["AWS_ACCOUNT_ID"]
    if has_oidc:
        data["oidc"] = {
            "issuer_url": env.get("IDP_ISSUER_URL", ""),
            "client_id": env.get("IDP_CLIENT_ID", ""),
            "secret_id": env.get("AWS_SECRET_ID", ""),
            "secret_kms_key": env.get("AWS_SECRET_ENCRYPTION_KEY", ""),
            "allow_insecure_loopback_http":
                env.get("QBIZFED_ALLOW_INSECURE_LOOPBACK_HTTP", "false"),
        }
    else:
        data["saml"] = {
            "metadata_document": env.get("SAML_METADATA_DOCUMENT", ""),
            "sso_url": env.get("IDP_SSO_URL", ""),
            "custom_acs_url": env.get("CUSTOM_ACS_URL", ""),
            "regional_signin_url": env.get("REGIONAL_SIGNIN_ENDPOINT_URL", ""),
        }
    return data
