"""Hostile IdP URLs: only https, or plain http to loopback behind the loud switch.

Each case names the trick it plays; the discovery-document cases show that an IdP on
loopback cannot point us at plain-http endpoints elsewhere.
"""

from __future__ import annotations

import pytest

from qbizfed.identity.discovery import parse_provider_metadata
from qbizfed.identity.errors import DiscoveryDocumentError
from qbizfed.url_policy import InsecureEndpointError, require_secure_url

NOT_HTTPS = "is not https"
NO_HOST = "has no host"
USER_INFO = "contains user information, which is never legitimate here"
REFUSED_EVEN_WITH_SWITCH = {  # the URL -> what the refusal says about it
    "userinfo_hides_real_host": ("http://localhost:80@attacker.test/cb", USER_INFO),
    "https_with_credentials": ("https://user:pass@idp.example.test/", USER_INFO),
    "javascript_scheme": ("javascript:alert(1)", NO_HOST),
    "file_scheme": ("file:///etc/passwd", NO_HOST),
    "plain_http_remote": ("http://attacker.test/", NOT_HTTPS),
    "loopback_lookalike_subdomain": ("http://127.0.0.1.attacker.test/", NOT_HTTPS),
    "localhost_lookalike_subdomain": ("http://localhost.attacker.test/", NOT_HTTPS),
    "unspecified_address": ("http://0.0.0.0:8080/", NOT_HTTPS),
    "no_host": ("http:///only/a/path", NO_HOST),
    "ftp_scheme": ("ftp://127.0.0.1/", NOT_HTTPS),
}

LOOPBACK_HTTP = {
    "ipv4_loopback": "http://127.0.0.1:9000/issuer",
    "ipv4_loopback_range": "http://127.0.0.2/",
    "ipv6_loopback": "http://[::1]:9000/",
    "localhost_name": "http://localhost:9000/",
}


@pytest.mark.parametrize("attack", sorted(REFUSED_EVEN_WITH_SWITCH))
def test_hostile_url_is_refused_even_with_the_switch(attack: str) -> None:
    url, says = REFUSED_EVEN_WITH_SWITCH[attack]
    with pytest.raises(InsecureEndpointError) as info:
        require_secure_url(url, what="issuer", allow_insecure_loopback_http=True)
    assert str(info.value).startswith("the issuer URL")
    assert says in str(info.value)
    assert info.value.remedy


@pytest.mark.parametrize("case", sorted(LOOPBACK_HTTP))
def test_loopback_http_needs_the_switch(case: str) -> None:
    url = LOOPBACK_HTTP[case]
    with pytest.raises(InsecureEndpointError, match="plain http"):
        require_secure_url(url, what="issuer")
    assert require_secure_url(url, what="issuer", allow_insecure_loopback_http=True) == url


def test_https_is_accepted() -> None:
    url = "https://idp.example.test/oauth2/default"
    assert require_secure_url(url, what="issuer") == url


ISSUER = "http://127.0.0.1:9000"
GOOD_DOC = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": f"{ISSUER}/jwks",
}

HOSTILE_DOCS = {  # the document's change -> what the refusal says
    "token_endpoint_on_remote_plain_http": (
        {"token_endpoint": "http://attacker.test/token"},
        f"token_endpoint URL 'http://attacker.test/token' {NOT_HTTPS}",
    ),
    "jwks_uri_on_remote_plain_http": (
        {"jwks_uri": "http://attacker.test/jwks"},
        f"jwks_uri URL 'http://attacker.test/jwks' {NOT_HTTPS}",
    ),
    "authorization_endpoint_javascript": (
        {"authorization_endpoint": "javascript:alert(1)"},
        f"authorization_endpoint URL 'javascript:alert(1)' {NO_HOST}",
    ),
    "end_session_with_userinfo": (
        {"end_session_endpoint": "http://127.0.0.1@attacker.test/"},
        f"end_session_endpoint URL {USER_INFO}",
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_DOCS))
def test_discovery_document_with_hostile_endpoint_is_refused(attack: str) -> None:
    change, says = HOSTILE_DOCS[attack]
    with pytest.raises(InsecureEndpointError) as info:
        parse_provider_metadata({**GOOD_DOC, **change}, expected_issuer=ISSUER,
                                allow_insecure_loopback_http=True)  # fmt: skip
    assert says in str(info.value)


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param(ISSUER + "/", id="trailing_slash_added"),
        pytest.param("http://localhost:9000", id="same_host_other_name"),
        pytest.param("https://127.0.0.1:9000", id="other_scheme"),
    ],
)
def test_discovery_document_naming_another_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(DiscoveryDocumentError) as info:
        parse_provider_metadata(
            {**GOOD_DOC, "issuer": issuer},
            expected_issuer=ISSUER,
            allow_insecure_loopback_http=True,
        )
    assert f"names issuer {issuer!r}, expected {ISSUER!r}" in str(info.value)


def test_control_the_good_document_is_accepted() -> None:
    meta = parse_provider_metadata(
        GOOD_DOC, expected_issuer=ISSUER, allow_insecure_loopback_http=True
    )
    assert meta.id_token_signing_alg_values_supported == ("RS256",)
    assert meta.token_endpoint == f"{ISSUER}/token"
