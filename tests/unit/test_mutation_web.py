"""Tests written because a mutant of the web sign-in code survived ``make mutate``.

They pin how ``serve``'s settings reach the identity layer: every field of the OIDC
registration and of the SAML service provider is passed through, secrets included.
"""

from __future__ import annotations

import asyncio

import pytest

from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.federated import FederatedIdentity, SamlRole
from qbizfed.settings.saml import SamlRegistration
from qbizfed.web.csrf import CsrfError, own_origin, verify_csrf
from qbizfed.web.routes_saml import _offered_role
from qbizfed.web.saml_service_provider import SAML_WORK_AT_ONCE, SamlLogin, sp_settings
from qbizfed.web.sessions import InMemorySessionStore
from tests.support.calls_at_once import CallsAtOnce
from tests.support.rp_idp import CertifiedKey
from tests.unit.test_web_csrf import SESSION, post

ACS = "https://app.example.test/saml/acs"


def saml(**kwargs: object) -> SamlRegistration:
    return SamlRegistration(
        idp_sso_url="https://idp.example.test/sso",
        idp_issuer="https://idp.example.test/saml",
        acs_url=ACS,
        idp_certificate=CertifiedKey.generate("idp").cert_pem,
        **kwargs,  # type: ignore[arg-type]
    )


def test_saml_sp_settings_carry_the_sp_key_certificate_and_request_lifetime() -> None:
    sp_key = CertifiedKey.generate("sp")
    settings = saml(
        sp_private_key="-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----",
        sp_certificate=sp_key.cert_pem,
        allow_unsolicited=True,
    )
    converted = sp_settings(settings, request_ttl_seconds=123)
    assert converted.sp_private_key_pem == str(settings.sp_private_key)
    assert converted.sp_certificate_pem == sp_key.cert_pem
    assert converted.request_ttl_seconds == 123
    assert converted.allow_unsolicited is True
    assert converted.sp_entity_id == ACS
    assert converted.idp_certificates == (settings.idp_certificate,)


def test_saml_sp_without_a_key_signs_nothing() -> None:
    converted = sp_settings(saml(), request_ttl_seconds=600)
    assert converted.sp_private_key_pem is None
    assert converted.sp_certificate_pem is None


def test_saml_login_remembers_authn_requests_for_ten_minutes_by_default() -> None:
    login = SamlLogin(saml(), store=InMemorySessionStore())
    assert login.sp.settings.request_ttl_seconds == 600


# -- SAML sign-in: which role the user gets -------------------------------------------

ROLE_A = "arn:aws:iam::123456789012:role/QBizWeb"
ROLE_B = "arn:aws:iam::123456789012:role/QBizOther"
IDP_1 = "arn:aws:iam::123456789012:saml-provider/Idp1"
IDP_2 = "arn:aws:iam::123456789012:saml-provider/Idp2"


def _identity(*roles: SamlRole) -> FederatedIdentity:
    return FederatedIdentity(
        protocol="saml", email="a@example.com", subject="a", issuer="idp", credential="x",
        roles=roles,
    )  # fmt: skip


def _login(role_arn: str | None = None, provider_arn: str | None = None) -> SamlLogin:
    return SamlLogin(
        saml(role_arn=role_arn, provider_arn=provider_arn), store=InMemorySessionStore()
    )


def test_configured_role_is_taken_from_the_pair_with_the_configured_provider() -> None:
    wanted = SamlRole(ROLE_A, IDP_2)
    identity = _identity(SamlRole(ROLE_B, IDP_2), SamlRole(ROLE_A, IDP_1), wanted)
    assert _offered_role(identity, _login(ROLE_A, IDP_2)) == wanted


def test_configured_role_without_a_configured_provider_takes_the_first_pair_naming_it() -> None:
    identity = _identity(SamlRole(ROLE_B, IDP_1), SamlRole(ROLE_A, IDP_2))
    assert _offered_role(identity, _login(ROLE_A)) == SamlRole(ROLE_A, IDP_2)


@pytest.mark.parametrize(
    "offered",
    [
        (SamlRole(ROLE_B, IDP_1),),  # another role only
        (SamlRole(ROLE_A, IDP_1), SamlRole(ROLE_B, IDP_2)),  # the role, but via another IdP
    ],
)
def test_configured_role_the_idp_does_not_offer_is_refused(offered: tuple[SamlRole, ...]) -> None:
    with pytest.raises(SamlResponseError) as info:
        _offered_role(_identity(*offered), _login(ROLE_A, IDP_2))
    assert info.value.reason == "role_not_offered"
    assert ROLE_A in str(info.value)


def test_without_a_configured_role_the_only_role_is_taken_and_several_mean_ask() -> None:
    only, other = SamlRole(ROLE_B, IDP_1), SamlRole(ROLE_A, IDP_1)
    assert _offered_role(_identity(only), _login()) == only
    assert _offered_role(_identity(other, only), _login()) is None


# -- CSRF: the header token, an opaque origin, a request without Host -------------------


def _csrf(headers: dict[str, str], body: bytes = b"") -> None:
    request = post({"host": "broker.example.com", **headers}, body=body)
    asyncio.run(verify_csrf(request, SESSION))


def test_token_in_the_header_alone_is_accepted() -> None:
    _csrf({"x-csrf-token": "the-token"}, body=b"csrf_token=wrong")


def test_opaque_origin_null_is_judged_by_the_token_alone() -> None:
    _csrf({"origin": "null", "x-csrf-token": "the-token"})
    with pytest.raises(CsrfError, match="security token is missing or stale"):
        _csrf({"origin": "null", "x-csrf-token": "stale"})


def test_own_origin_without_a_host_header_is_scheme_only() -> None:
    assert own_origin(post({}), None) == "http://"


# -- SAML work runs on a few threads -----------------------------------------------------


def test_saml_validations_run_at_most_saml_work_at_once_together() -> None:
    """CPU-bound SAML work stays on a few threads (their compiled schemas stay warm): a
    burst of 12 validations never has more than SAML_WORK_AT_ONCE running at once, and
    every one is answered."""
    login = SamlLogin(saml(), store=InMemorySessionStore())
    at_once = CallsAtOnce()

    def validate(response: str) -> FederatedIdentity:
        at_once.hold(0.05)
        return _identity()

    login.sp.validate_response = validate  # type: ignore[method-assign,assignment]

    async def burst() -> list[FederatedIdentity]:
        return await asyncio.gather(*(login.validate(f"r{n}") for n in range(12)))

    assert len(asyncio.run(burst())) == 12
    assert at_once.most == SAML_WORK_AT_ONCE
