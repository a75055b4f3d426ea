"""The one URL policy (``qbizfed.url_policy``): what counts as loopback, and which URLs pass.

The table is the documented decision (see the module docstring); lookalike names that
merely start with ``127.`` or ``localhost`` are the cases a string-prefix check got wrong.
The local stack keeps its own copy of the rule (``qbizfed.local.loopback``): the same
table holds for it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qbizfed.local import loopback as local_loopback
from qbizfed.url_policy import (
    InsecureEndpointError,
    is_loopback_host,
    is_loopback_ip,
    require_secure_url,
)

HOSTS: dict[str, tuple[bool, bool]] = {  # host -> (loopback host, loopback IP literal)
    "127.0.0.1": (True, True),
    "127.1.2.3": (True, True),
    "127.255.255.255": (True, True),
    "::1": (True, True),
    "[::1]": (True, True),
    "::ffff:127.0.0.1": (True, True),
    "[::ffff:127.9.9.9]": (True, True),
    "localhost": (True, False),
    "LOCALHOST.": (True, False),
    "LocalHost": (True, False),
    "127.0.0.1.evil.com": (False, False),
    "localhost.evil.com": (False, False),
    "evil-localhost": (False, False),
    "sub.localhost": (False, False),
    "localhost..": (False, False),
    "0.0.0.0": (False, False),
    "::": (False, False),
    "::ffff:10.0.0.1": (False, False),
    "128.0.0.1": (False, False),
    "126.255.255.255": (False, False),
    "127.1": (False, False),
    "2130706433": (False, False),
    "127.0.0.1.": (False, False),
    "[127.0.0.1]": (False, False),
    "[::1": (False, False),
    "::1]": (False, False),
    "": (False, False),
}
CHECKS: dict[str, tuple[Callable[[str | None], bool], Callable[[str | None], bool]]] = {
    "product": (is_loopback_host, is_loopback_ip),
    "local": (local_loopback.is_loopback_host, local_loopback.is_loopback_ip),
}


@pytest.mark.parametrize("where", sorted(CHECKS))
@pytest.mark.parametrize("host", sorted(HOSTS))
def test_what_counts_as_loopback(where: str, host: str) -> None:
    host_check, ip_check = CHECKS[where]
    assert (host_check(host), ip_check(host)) == HOSTS[host]


@pytest.mark.parametrize("where", sorted(CHECKS))
def test_no_host_is_not_loopback(where: str) -> None:
    host_check, ip_check = CHECKS[where]
    assert host_check(None) is False
    assert ip_check(None) is False


@pytest.mark.parametrize("url", ["http://127.1.2.3:9000/x", "http://[::ffff:127.0.0.1]/",
                                 "http://LOCALHOST./x"])
def test_plain_http_to_any_loopback_host_needs_the_switch(url: str) -> None:
    with pytest.raises(InsecureEndpointError) as info:
        require_secure_url(url, what="issuer")
    assert info.value.message == f"the issuer URL {url!r} uses plain http"
    assert "allow_insecure_loopback_http=True" in info.value.remedy
    assert require_secure_url(url, what="issuer", allow_insecure_loopback_http=True) == url


@pytest.mark.parametrize("url", ["http://127.0.0.1.evil.com/", "http://localhost.evil.com/",
                                 "http://0.0.0.0/", "http://127.1/"])
def test_plain_http_to_a_lookalike_is_not_https_even_with_the_switch(url: str) -> None:
    with pytest.raises(InsecureEndpointError) as info:
        require_secure_url(url, what="jwks_uri", allow_insecure_loopback_http=True)
    assert info.value.message == f"the jwks_uri URL {url!r} is not https"


@pytest.mark.parametrize("url", ["https://user@idp.example.test/", "https://:pw@idp.example.test/",
                                 "https://idp.example.test@evil.test/"])
def test_user_information_is_refused_even_over_https(url: str) -> None:
    with pytest.raises(InsecureEndpointError) as info:
        require_secure_url(url, what="issuer", allow_insecure_loopback_http=True)
    assert info.value.message == (
        "the issuer URL contains user information, which is never legitimate here")


def test_a_url_without_host_is_refused() -> None:
    with pytest.raises(InsecureEndpointError) as info:
        require_secure_url("https:///path", what="issuer")
    assert info.value.message == "the issuer URL 'https:///path' has no host"


def test_https_to_any_host_passes_unchanged() -> None:
    url = "https://idp.example.test:8443/t?x=1"
    assert require_secure_url(url, what="issuer") == url
