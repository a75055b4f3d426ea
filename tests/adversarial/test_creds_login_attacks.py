"""``qbizfed login`` facing a hostile or broken IdP: nothing is cached, STS is never asked.

A loopback IdP (discovery, JWKS, token endpoint) answers the code exchange with the
token each case names; the "browser" comes back to the loopback redirect with the
request's own ``state``. Validation is the shared relying party's; this proves the CLI
login path goes through it and stops on its refusals.
"""

from __future__ import annotations

import base64
import socket
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from lxml import etree

from qbizfed.creds import cache
from qbizfed.creds.login import login
from qbizfed.errors import IdentityError
from qbizfed.identity.errors import (
    AuthorizationError,
    IdTokenError,
    MissingEmailClaimError,
    SamlResponseError,
)
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider
from qbizfed.settings.profiles import Profile
from tests.adversarial.hostile_xml import HOSTILE_PROLOGS, HostileProlog, with_prolog
from tests.peers.flows import login_for_saml
from tests.support.rp_idp import (
    LoopbackOidcIdp,
    SigningKey,
    hs256_token,
    public_pem,
    unsigned_token,
)

SECRET_ENV = "QBIZFED_ATTACK_CLIENT_SECRET"


@pytest.fixture(scope="module")
def idp_server() -> Iterator[LoopbackOidcIdp]:
    server = LoopbackOidcIdp().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def idp(
    idp_server: LoopbackOidcIdp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> LoopbackOidcIdp:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(SECRET_ENV, idp_server.client_secret)
    idp_server.token_requests.clear()
    idp_server.token_response = None
    return idp_server


def profile_for(idp: LoopbackOidcIdp) -> Profile:
    return Profile(
        name="attacked",
        protocol="oidc",
        role_arn="arn:aws:iam::123456789012:role/QBizWeb",
        issuer=idp.issuer,
        client_id=idp.client_id,
        client_secret_env=SECRET_ENV,
        allow_insecure_loopback_http=True,
    )


def never_called(identity: FederatedIdentity, profile: Profile) -> Any:
    raise AssertionError("STS must not be called with a refused identity")


TokenFor = Callable[[LoopbackOidcIdp, str], str]


def _without_aws_tags(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != "https://aws.amazon.com/tags"}


ATTACKS: list[tuple[str, TokenFor, type[IdentityError], str]] = [
    # (attack, token, error class, its reason value, or a message fragment for an error
    #  without reasons)
    (
        "no-email-session-tag",
        lambda idp, nonce: idp.mint(_without_aws_tags(idp.claims(nonce=nonce))),
        MissingEmailClaimError,
        "principal_tags.Email claim",
    ),
    (
        "nonce-replayed-from-another-login",
        lambda idp, nonce: idp.mint(idp.claims(nonce="nonce-of-another-login")),
        IdTokenError,
        "nonce",
    ),
    (
        "token-for-another-client",
        lambda idp, nonce: idp.mint(idp.claims(nonce=nonce, aud="someone-else")),
        IdTokenError,
        "aud",
    ),
    (
        "token-from-another-issuer",
        lambda idp, nonce: idp.mint(idp.claims(nonce=nonce, iss="https://evil.test")),
        IdTokenError,
        "iss",
    ),
    (
        "expired-token",
        lambda idp, nonce: idp.mint(idp.claims(nonce=nonce, exp=1_000_000, iat=999_000)),
        IdTokenError,
        "exp",
    ),
    (
        "signed-by-unknown-key",
        lambda idp, nonce: idp.mint(idp.claims(nonce=nonce), key=SigningKey.generate()),
        IdTokenError,
        "unknown_kid",
    ),
    (
        "alg-none",
        lambda idp, nonce: unsigned_token({}, idp.claims(nonce=nonce)),
        IdTokenError,
        "alg",
    ),
    (
        "hs256-with-public-key-as-secret",
        lambda idp, nonce: hs256_token(
            {"kid": idp.key.kid}, idp.claims(nonce=nonce), public_pem(idp.key)
        ),
        IdTokenError,
        "alg",
    ),
]


@pytest.mark.parametrize(
    ("token_for", "error", "reason"),
    [pytest.param(fn, err, reason, id=name) for name, fn, err, reason in ATTACKS],
)
def test_refused_tokens_cache_nothing(
    idp: LoopbackOidcIdp, token_for: TokenFor, error: type[IdentityError], reason: str
) -> None:
    def browser(url: str) -> bool:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        idp.token_response = {
            "id_token": token_for(idp, query["nonce"]),
            "access_token": "at",
            "token_type": "Bearer",
            "refresh_token": "rt-should-never-be-stored",
        }
        back = {"code": "code-1", "state": query["state"]}
        httpx.get(f"{query['redirect_uri']}?{urlencode(back)}", timeout=5)
        return True

    with pytest.raises(error) as info:
        login(
            profile_for(idp),
            announce=lambda _: None,
            open_browser=browser,
            exchange=never_called,
            timeout=10,
        )
    if isinstance(info.value, IdTokenError):
        assert info.value.reason == reason, str(info.value)
    else:
        assert reason in str(info.value)
    assert info.value.remedy
    assert cache.load("attacked") is None


def test_idp_error_redirect_is_reported_not_exchanged(idp: LoopbackOidcIdp) -> None:
    def browser(url: str) -> bool:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        back = {"error": "access_denied", "error_description": "user not assigned",
                "state": query["state"]}  # fmt: skip
        httpx.get(f"{query['redirect_uri']}?{urlencode(back)}", timeout=5)
        return True

    with pytest.raises(AuthorizationError, match="access_denied"):
        login(
            profile_for(idp),
            announce=lambda _: None,
            open_browser=browser,
            exchange=never_called,
            timeout=10,
        )
    assert idp.token_requests == []
    assert cache.load("attacked") is None


def test_authorization_request_uses_pkce_s256_state_and_nonce(idp: LoopbackOidcIdp) -> None:
    seen: list[dict[str, str]] = []

    def browser(url: str) -> bool:
        seen.append({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})
        return True

    with pytest.raises(IdentityError, match="no sign-in response reached"):  # nobody came back
        login(profile_for(idp), announce=lambda _: None, open_browser=browser,
              exchange=never_called, timeout=0.3)  # fmt: skip
    (query,) = seen
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    assert urlsplit(query["redirect_uri"]).hostname == "127.0.0.1"
    assert urlsplit(query["redirect_uri"]).path == "/callback"


# --- SAML: hostile XML on a response the trusted IdP signed, posted to the loopback ACS ---


@pytest.fixture(scope="module")
def saml_idp() -> Iterator[DevIdp]:
    with DevIdp(DevIdpSettings(port=0)) as running:
        yield running


def free_port() -> int:
    """A port free right now: a SAML profile needs a fixed one (its ACS URL is registered)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _register_the_requesting_sp(idp: DevIdp, authn_url: str) -> None:
    """The dev IdP learns the login's SP (entity ID and ACS URL: the loopback receiver's)
    from the AuthnRequest itself, as an administrator would."""
    encoded = parse_qs(urlsplit(authn_url).query)["SAMLRequest"][0]
    request = etree.fromstring(zlib.decompress(base64.b64decode(encoded), -15))
    issuer = request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
    idp.register_service_provider(ServiceProvider(
        entity_id=issuer, acs_urls=(request.get("AssertionConsumerServiceURL"),),
        role_arn="arn:aws:iam::123456789012:role/QBizWeb",
        provider_arn="arn:aws:iam::123456789012:saml-provider/DevIdp",
    ))  # fmt: skip


@pytest.mark.parametrize("prolog", HOSTILE_PROLOGS, ids=[p.name for p in HOSTILE_PROLOGS])
def test_hostile_xml_on_a_trusted_signed_response_is_refused_by_login(
    saml_idp: DevIdp, prolog: HostileProlog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    profile = Profile(
        name="attacked", protocol="saml", role_arn="arn:aws:iam::123456789012:role/QBizWeb",
        region="us-east-1", allow_insecure_loopback_http=True, redirect_port=free_port(),
        idp_metadata_url=saml_idp.saml_metadata_url,
        provider_arn="arn:aws:iam::123456789012:saml-provider/DevIdp",
    )  # fmt: skip

    def browser(url: str) -> bool:
        _register_the_requesting_sp(saml_idp, url)
        with httpx.Client(timeout=10) as client:
            post = login_for_saml(client, url, username="alice", password="demo")
            hostile = with_prolog(post.saml_response_xml, prolog)
            client.post(post.acs_url, data={"SAMLResponse": base64.b64encode(hostile).decode(),
                                             "RelayState": post.relay_state or ""})  # fmt: skip
        return True

    with pytest.raises(SamlResponseError) as refusal:
        login(profile, announce=lambda _: None, open_browser=browser, exchange=never_called,
              timeout=20)  # fmt: skip
    assert refusal.value.reason == "dtd", str(refusal.value)
    assert cache.load("attacked") is None
