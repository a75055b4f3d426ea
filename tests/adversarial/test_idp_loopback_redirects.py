"""The dev IdP's RFC 8252 loopback rule, attacked through its authorization endpoint.

A client registered with ``http://127.0.0.1/callback`` (no port) may be sent back to
any port on that loopback address, as ``qbizfed login`` needs; everything else must
match exactly. Each hostile case is otherwise a valid authorization request of the
registered client, so the only refusal left is the redirect URI check: it answers 400
with "redirect_uri is not registered for this client" and redirects nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from qbizfed.local.idp.redirect_uris import is_registered
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret

CLIENT_ID = "native-cli"
PORTLESS = "http://127.0.0.1/callback"
PORTLESS_V6 = "http://[::1]/callback"
WITH_PORT = "http://127.0.0.1:8000/auth/oidc/callback"
HTTPS = "https://app.example.com/callback"
REGISTERED = (PORTLESS, PORTLESS_V6, WITH_PORT, HTTPS)
REFUSAL = "redirect_uri is not registered for this client"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdp]:
    client = OidcClient(CLIENT_ID, Secret("native-cli-secret"), REGISTERED)
    with DevIdp(DevIdpSettings(port=0, clients=(client,))) as running:
        yield running


def authorize(idp: DevIdp, redirect_uri: str) -> httpx.Response:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri,
              "scope": "openid email", "state": "st"}
    return httpx.get(idp.url + "/oidc/authorize", params=params, timeout=10)


@pytest.mark.parametrize("requested", [
    PORTLESS, PORTLESS_V6, WITH_PORT, HTTPS,
    "http://127.0.0.1:49152/callback",     # qbizfed login's ephemeral port
    "http://127.0.0.1:1/callback",
    "http://127.0.0.1:65535/callback",
    "http://[::1]:50000/callback",
])
def test_control_registered_or_any_port_on_a_portless_loopback_ip_is_accepted(
    idp: DevIdp, requested: str
) -> None:
    assert is_registered(requested, REGISTERED)
    response = authorize(idp, requested)
    assert response.status_code == 200, response.text[:300]  # the sign-in page
    assert REFUSAL not in response.text


LOOPBACK_ATTACKS = {
    "other_path": "http://127.0.0.1:50000/callback/x",
    "trailing_slash": "http://127.0.0.1:50000/callback/",
    "extra_query": "http://127.0.0.1:50000/callback?next=https://attacker.test",
    "fragment": "http://127.0.0.1:50000/callback#x",
    "https_scheme": "https://127.0.0.1:50000/callback",
    "scheme_case_change": "HTTP://127.0.0.1:50000/callback",
    "other_loopback_address": "http://127.0.0.2:50000/callback",
    "localhost_name": "http://localhost:50000/callback",
    "userinfo_host_confusion": "http://127.0.0.1:50000@attacker.test/callback",
    "userinfo_on_loopback": "http://attacker@127.0.0.1:50000/callback",
    "host_suffix": "http://127.0.0.1.attacker.test:50000/callback",
    "port_zero": "http://127.0.0.1:0/callback",
    "zero_padded_port": "http://127.0.0.1:050000/callback",
    "empty_port": "http://127.0.0.1:/callback",
    "port_out_of_range": "http://127.0.0.1:70000/callback",
    "registered_port_changed": "http://127.0.0.1:9999/auth/oidc/callback",
    "port_added_to_https_registration": "https://app.example.com:8443/callback",
}


@pytest.mark.parametrize("attack", LOOPBACK_ATTACKS, ids=list(LOOPBACK_ATTACKS))
def test_loopback_port_freedom_never_extends_beyond_the_port(idp: DevIdp, attack: str) -> None:
    response = authorize(idp, LOOPBACK_ATTACKS[attack])
    assert response.status_code == 400
    assert "location" not in response.headers
    assert REFUSAL in response.text


def test_a_localhost_registration_gets_no_port_freedom() -> None:
    """RFC 8252 section 8.3: only IP literals; ``localhost`` stays an exact match."""
    assert not is_registered("http://localhost:50000/callback", ("http://localhost/callback",))
