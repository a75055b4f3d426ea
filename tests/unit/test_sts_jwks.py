"""The JWKS cache: discovery, per-issuer caching, one refetch on an unknown kid, and
the transport rule (https, or http to loopback only). Faked at the httpx seam."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from joserfc.jwk import OctKey

from qbizfed.local.sts.jwks import JwksCache, fetchable
from qbizfed.local.sts.refusal import StsRefusalError
from tests.support.oidc_issuer import new_rsa_key

ISSUER = "https://idp.example.test/realm"


class FakeIdp:
    def __init__(self) -> None:
        self.keys = [new_rsa_key("k1")]
        self.requests: list[str] = []
        self.jwks_status = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"})
        if request.url.path.endswith("/jwks"):
            keys = [key.as_dict(private=False) for key in self.keys]
            return httpx.Response(self.jwks_status, json={"keys": keys})
        return httpx.Response(404)


def _cache(handler: Callable[[httpx.Request], httpx.Response]) -> JwksCache:
    return JwksCache(client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_keys_are_cached_per_issuer() -> None:
    idp = FakeIdp()
    cache = _cache(idp.handler)
    assert [k.kid for k in cache.key_set(ISSUER, wanted_kid="k1").keys] == ["k1"]
    cache.key_set(ISSUER, wanted_kid="k1")
    assert cache.fetch_count == 1
    assert len(idp.requests) == 2  # discovery + jwks, once


def test_unknown_kid_refetches_once_and_finds_a_rotated_key() -> None:
    idp = FakeIdp()
    cache = _cache(idp.handler)
    cache.key_set(ISSUER, wanted_kid="k1")
    idp.keys.append(new_rsa_key("k2"))
    keys = cache.key_set(ISSUER, wanted_kid="k2")
    assert {k.kid for k in keys.keys} == {"k1", "k2"}
    assert cache.fetch_count == 2


def test_unknown_kid_that_stays_unknown_costs_one_fetch_per_call() -> None:
    idp = FakeIdp()
    cache = _cache(idp.handler)
    cache.key_set(ISSUER, wanted_kid="k1")
    keys = cache.key_set(ISSUER, wanted_kid="nope")
    assert "nope" not in {k.kid for k in keys.keys}
    assert cache.fetch_count == 2


def test_symmetric_keys_in_the_jwks_are_ignored() -> None:
    idp = FakeIdp()
    oct_key = OctKey.generate_key(256, parameters={"kid": "k1"})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jwks"):
            return httpx.Response(200, json={"keys": [oct_key.as_dict(private=True)]})
        return idp.handler(request)

    keys = _cache(handler).key_set(ISSUER, wanted_kid="k1")
    assert list(keys.keys) == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b"{}"), (200, b"not json"), (200, b"[1, 2]"), (200, b'{"keys": "x"}')],
    ids=["server_error", "not_json", "not_object", "keys_not_a_list"],
)
def test_bad_jwks_is_an_idp_communication_error(status: int, body: bytes) -> None:
    idp = FakeIdp()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jwks"):
            return httpx.Response(status, content=body)
        return idp.handler(request)

    with pytest.raises(StsRefusalError) as info:
        _cache(handler).key_set(ISSUER, wanted_kid="k1")
    assert info.value.code == "IDPCommunicationError"


def test_connection_failure_is_an_idp_communication_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(StsRefusalError) as info:
        _cache(handler).key_set(ISSUER, wanted_kid=None)
    assert info.value.code == "IDPCommunicationError"


def test_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(302, headers={"Location": "https://attacker.test/jwks"})

    with pytest.raises(StsRefusalError):
        _cache(handler).key_set(ISSUER, wanted_kid=None)
    assert seen == ["idp.example.test"]


def test_jwks_uri_off_loopback_over_http_is_not_fetched() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=json.dumps({"jwks_uri": "http://attacker.test/jwks"}))

    with pytest.raises(StsRefusalError) as info:
        _cache(handler).key_set(ISSUER, wanted_kid=None)
    assert info.value.code == "IDPCommunicationError"
    assert seen == [ISSUER + "/.well-known/openid-configuration"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://idp.example.test", True),
        ("http://127.0.0.1:8080/realm", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://idp.example.test", False),
        ("http://127.0.0.1.attacker.test", False),
        ("http://localhost:80@attacker.test/x", False),
        ("https://user:pass@idp.example.test", False),
        ("file:///etc/passwd", False),
        ("javascript:alert(1)", False),
        ("", False),
    ],
    ids=[
        "https",
        "http_loopback_ip",
        "http_localhost",
        "http_ipv6_loopback",
        "http_remote",
        "loopback_lookalike_host",
        "userinfo_smuggled_host",
        "credentials_in_url",
        "file_scheme",
        "javascript_scheme",
        "empty",
    ],
)
def test_fetchable(url: str, allowed: bool) -> None:
    assert fetchable(url) is allowed
