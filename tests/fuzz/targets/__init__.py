"""The fuzz targets, by name; each is built lazily (keys and IdPs are generated on setup)."""

from __future__ import annotations

from collections.abc import Callable

from tests.fuzz.targets.base import FuzzTarget


def _saml_sp() -> FuzzTarget:
    from tests.fuzz.targets.saml_sp import SamlSpTarget

    return SamlSpTarget()


def _id_token() -> FuzzTarget:
    from tests.fuzz.targets.id_token import IdTokenTarget

    return IdTokenTarget()


def _oidc_callback() -> FuzzTarget:
    from tests.fuzz.targets.oidc_callback import OidcCallbackTarget

    return OidcCallbackTarget()


def _sts_web_identity() -> FuzzTarget:
    from tests.fuzz.targets.sts_web_identity import StsWebIdentityTarget

    return StsWebIdentityTarget()


def _sts_saml() -> FuzzTarget:
    from tests.fuzz.targets.sts_saml import StsSamlTarget

    return StsSamlTarget()


def _qbusiness_request() -> FuzzTarget:
    from tests.fuzz.targets.qbusiness_request import QBusinessRequestTarget

    return QBusinessRequestTarget()


TARGETS: dict[str, Callable[[], FuzzTarget]] = {
    "saml_sp": _saml_sp,
    "id_token": _id_token,
    "oidc_callback": _oidc_callback,
    "sts_web_identity": _sts_web_identity,
    "sts_saml": _sts_saml,
    "qbusiness_request": _qbusiness_request,
}
