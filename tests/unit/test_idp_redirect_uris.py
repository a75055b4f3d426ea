"""The dev IdP's redirect URI matching: exact, except RFC 8252's loopback port rule."""

from __future__ import annotations

import pytest

from qbizfed.local.idp.redirect_uris import is_registered

PORTLESS = "http://127.0.0.1/callback"
PORTLESS_V6 = "http://[::1]/callback"
WITH_PORT = "http://127.0.0.1:8000/auth/oidc/callback"
HTTPS = "https://app.example.com/callback"
REGISTERED = (PORTLESS, PORTLESS_V6, WITH_PORT, HTTPS)


@pytest.mark.parametrize("requested", [
    PORTLESS, PORTLESS_V6, WITH_PORT, HTTPS,
    "http://127.0.0.1:49152/callback",     # qbizfed login's ephemeral port
    "http://127.0.0.1:1/callback",
    "http://127.0.0.1:65535/callback",
    "http://[::1]:50000/callback",
])
def test_registered_or_any_port_on_a_portless_loopback_ip(requested: str) -> None:
    assert is_registered(requested, REGISTERED)


@pytest.mark.parametrize(("attack", "requested"), [
    ("other_path", "http://127.0.0.1:50000/callback/x"),
    ("trailing_slash", "http://127.0.0.1:50000/callback/"),
    ("extra_query", "http://127.0.0.1:50000/callback?next=https://attacker.test"),
    ("fragment", "http://127.0.0.1:50000/callback#x"),
    ("https_scheme", "https://127.0.0.1:50000/callback"),
    ("other_loopback_address", "http://127.0.0.2:50000/callback"),
    ("localhost_name", "http://localhost:50000/callback"),
    ("userinfo_trick", "http://127.0.0.1:50000@attacker.test/callback"),
    ("userinfo_on_loopback", "http://attacker@127.0.0.1:50000/callback"),
    ("host_suffix", "http://127.0.0.1.attacker.test:50000/callback"),
    ("port_zero", "http://127.0.0.1:0/callback"),
    ("zero_padded_port", "http://127.0.0.1:050000/callback"),
    ("empty_port", "http://127.0.0.1:/callback"),
    ("port_out_of_range", "http://127.0.0.1:70000/callback"),
    ("registered_port_changed", "http://127.0.0.1:9999/auth/oidc/callback"),
    ("https_registration_port_added", "https://app.example.com:8443/callback"),
    ("case_change", "HTTP://127.0.0.1:50000/callback"),
])
def test_everything_but_the_port_must_match_exactly(attack: str, requested: str) -> None:
    assert not is_registered(requested, REGISTERED), attack


def test_a_localhost_registration_gets_no_port_freedom() -> None:
    """RFC 8252 section 8.3: only IP literals; ``localhost`` stays an exact match."""
    assert not is_registered("http://localhost:50000/callback", ("http://localhost/callback",))
