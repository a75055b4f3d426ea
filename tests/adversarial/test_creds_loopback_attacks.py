"""Hostile requests to the loopback redirect receiver of ``qbizfed login``.

Any local process can connect to 127.0.0.1: it must not be able to end, hijack or
confuse a login in progress. Each case is named after its attack; after every attack
the genuine callback must still get through.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from qbizfed.creds.loopback import LoginTimeoutError, LoopbackReceiver

STATE = "s" * 43

Attack = Callable[[httpx.Client, str], httpx.Response]

NOT_THIS_LOGIN = "does not belong to the login in progress"
ATTACKS: list[tuple[str, Attack, int]] = [
    ("wrong-state", lambda c, base: c.get(f"{base}/callback?code=evil&state=guess"), 400),
    ("missing-state", lambda c, base: c.get(f"{base}/callback?code=evil"), 400),
    (
        "state-parameter-pollution",
        lambda c, base: c.get(f"{base}/callback?code=evil&state={STATE}&state=x"),
        400,
    ),
    (
        "code-parameter-pollution",
        lambda c, base: c.get(f"{base}/callback?code=a&code=b&state={STATE}"),
        400,
    ),
    ("state-prefix", lambda c, base: c.get(f"{base}/callback?code=e&state={STATE[:-1]}"), 400),
    ("other-path", lambda c, base: c.get(f"{base}/favicon.ico?state={STATE}"), 404),
    ("path-suffix", lambda c, base: c.get(f"{base}/callback/x?code=e&state={STATE}"), 404),
    ("post-to-oidc-callback", lambda c, base: c.post(f"{base}/callback", data={}), 404),
    (
        "saml-post-with-wrong-relay-state",
        lambda c, base: c.post(
            f"{base}/saml/acs", data={"SAMLResponse": "PHg+", "RelayState": "guess"}
        ),
        400,
    ),
    (
        "oversized-saml-post",
        lambda c, base: c.post(
            f"{base}/saml/acs",
            content=b"SAMLResponse=" + b"A" * (2 * 1024 * 1024),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        413,
    ),
    (
        "negative-content-length",
        lambda c, base: c.post(f"{base}/saml/acs", content=b"", headers={"Content-Length": "-5"}),
        413,
    ),
]


SAYS = {400: NOT_THIS_LOGIN, 404: "not found", 413: "too large"}
"""The reason each refusal gives (the page is the same for every refusal of a status)."""


@pytest.mark.parametrize(
    ("attack", "status"), [pytest.param(fn, status, id=name) for name, fn, status in ATTACKS]
)
def test_attack_is_refused_and_the_real_callback_still_wins(attack: Attack, status: int) -> None:
    with LoopbackReceiver(expected_state=lambda: STATE) as receiver, httpx.Client() as client:
        try:
            response = attack(client, receiver.base_url)
        except httpx.HTTPError:
            response = None  # the server may drop an abusive connection: also a refusal
        if response is not None:
            assert response.status_code == status
            assert SAYS[status] in response.text
            assert "evil" not in response.text
        genuine = client.get(f"{receiver.redirect_uri}?code=real&state={STATE}")
        assert genuine.status_code == 200
        assert receiver.wait(5) == {"code": "real", "state": STATE}


def test_a_second_callback_cannot_replace_the_first() -> None:
    with LoopbackReceiver(expected_state=lambda: STATE) as receiver, httpx.Client() as client:
        assert client.get(f"{receiver.redirect_uri}?code=one&state={STATE}").status_code == 200
        second = client.get(f"{receiver.redirect_uri}?code=two&state={STATE}")
        assert second.status_code == 400
        assert NOT_THIS_LOGIN in second.text
        assert receiver.wait(5)["code"] == "one"


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("0.0.0.0", id="all-interfaces"),
        pytest.param("localhost", id="name-that-may-resolve-elsewhere"),
        pytest.param("192.168.1.10", id="lan-address"),
    ],
)
def test_receiver_listens_on_loopback_ip_only(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        LoopbackReceiver(host=host)


def test_no_callback_times_out_with_a_remedy() -> None:
    with (
        LoopbackReceiver(expected_state=lambda: STATE) as receiver,
        pytest.raises(LoginTimeoutError) as info,
    ):
        receiver.wait(0.2)
    assert "no sign-in response reached" in str(info.value)
    assert "127.0.0.1" in info.value.remedy


def test_responses_are_not_cached_and_leak_no_referrer() -> None:
    with LoopbackReceiver(expected_state=lambda: STATE) as receiver, httpx.Client() as client:
        response = client.get(f"{receiver.redirect_uri}?code=c&state={STATE}")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
