"""Hostile inputs to the device sign-in (RFC 8628): the dev IdP's device endpoint,
verification page and device-code grant, and the CLI's parsing of the IdP's answer.

Each case is named after its attack. IdP cases run over HTTP against a running dev
IdP whose clock the test moves; every request is otherwise genuine (right client
secret, a real user code), so each refusal comes from the defence named.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qbizfed.identity.device_authorization import (
    MAX_INTERVAL_SECONDS,
    DeviceAuthorizationError,
    parse_device_authorization,
)
from qbizfed.local.idp.device import DEVICE_CODE_GRANT, DeviceFlowSettings
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from qbizfed.url_policy import InsecureEndpointError
from tests.peers.flows import new_browser, parse_forms

A, A_SECRET = "device-a", "device-a-secret-0123456789abcdef"
B, B_SECRET = "device-b", "device-b-secret-0123456789abcdef"
INTERVAL, EXPIRES_IN = 5, 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idp(clock: Clock) -> Iterator[DevIdp]:
    clients = tuple(
        OidcClient(client_id=c, client_secret=Secret(s), redirect_uris=("http://127.0.0.1:1/x",))
        for c, s in ((A, A_SECRET), (B, B_SECRET))
    )
    settings = DevIdpSettings(
        port=0, clients=clients,
        device_flow=DeviceFlowSettings(expires_in=EXPIRES_IN, interval=INTERVAL),
    )  # fmt: skip
    with DevIdp(settings, clock=clock) as running:
        yield running


def authorize(idp: DevIdp, client: str = A, secret: str = A_SECRET) -> dict[str, Any]:
    answer = httpx.post(
        idp.url + "/oidc/device_authorization", auth=(client, secret),
        data={"scope": "openid email offline_access"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def poll(idp: DevIdp, device_code: str, client: str = A, secret: str = A_SECRET) -> httpx.Response:
    return httpx.post(
        idp.url + "/oidc/token", auth=(client, secret),
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": device_code},
    )  # fmt: skip


def consent_form(idp: DevIdp, browser: httpx.Client, user_code: str) -> dict[str, str]:
    """Enter the code and sign in as alice: the approve/deny form's fields."""
    login = browser.post(idp.url + "/device", data={"user_code": user_code})
    fields = dict(parse_forms(login.text)[0].fields)
    fields.update(username="alice", password="demo")
    consent = browser.post(idp.url + "/login", data=fields)
    assert consent.status_code == 200, consent.text[:300]
    return dict(parse_forms(consent.text)[0].fields)


def approve(idp: DevIdp, user_code: str, clock: Clock) -> None:
    with new_browser() as browser:
        fields = consent_form(idp, browser, user_code)
        done = browser.post(idp.url + "/device/decision", data={**fields, "decision": "approve"})
    assert done.status_code == 200, done.text[:300]
    clock.now += INTERVAL


def test_device_code_of_another_client_is_refused(idp: DevIdp, clock: Clock) -> None:
    doc = authorize(idp)
    approve(idp, doc["user_code"], clock)
    stolen = poll(idp, doc["device_code"], B, B_SECRET)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert poll(idp, doc["device_code"]).status_code == 200  # the owner still gets it


def test_device_code_reused_after_redemption_is_refused(idp: DevIdp, clock: Clock) -> None:
    doc = authorize(idp)
    approve(idp, doc["user_code"], clock)
    assert poll(idp, doc["device_code"]).status_code == 200
    clock.now += INTERVAL
    replay = poll(idp, doc["device_code"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_device_authorization_without_client_authentication_is_refused(idp: DevIdp) -> None:
    for auth in (None, (A, "wrong-secret")):
        answer = httpx.post(
            idp.url + "/oidc/device_authorization", auth=auth,
            data={"scope": "openid", "client_id": A},
        )  # fmt: skip
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"


def test_device_authorization_without_openid_scope_is_refused(idp: DevIdp) -> None:
    answer = httpx.post(idp.url + "/oidc/device_authorization", auth=(A, A_SECRET), data={})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"


def test_polling_faster_than_the_interval_gets_slow_down(idp: DevIdp, clock: Clock) -> None:
    doc = authorize(idp)
    assert poll(idp, doc["device_code"]).json()["error"] == "authorization_pending"
    clock.now += INTERVAL - 1
    assert poll(idp, doc["device_code"]).json()["error"] == "slow_down"
    clock.now += INTERVAL
    assert poll(idp, doc["device_code"]).json()["error"] == "authorization_pending"


def test_expired_device_code_gets_expired_token(idp: DevIdp, clock: Clock) -> None:
    doc = authorize(idp)
    clock.now += EXPIRES_IN + 1
    expired = poll(idp, doc["device_code"])
    assert expired.status_code == 400
    assert expired.json()["error"] == "expired_token"


def test_user_code_after_expiry_is_refused_at_the_verification_page(
    idp: DevIdp, clock: Clock
) -> None:
    doc = authorize(idp)
    clock.now += EXPIRES_IN + 1
    page = httpx.post(idp.url + "/device", data={"user_code": doc["user_code"]})
    assert page.status_code == 400
    assert "unknown, expired or already used" in page.text
    assert 'name="password"' not in page.text


@pytest.mark.parametrize(
    "guess", ["BCDF-GHJK", "", "' OR 1=1 --", "x" * 5000, "<script>alert(1)</script>"]
)
def test_unknown_user_code_guess_is_refused(idp: DevIdp, guess: str) -> None:
    authorize(idp)
    page = httpx.post(idp.url + "/device", data={"user_code": guess})
    assert page.status_code == 400
    assert 'name="password"' not in page.text
    assert "<script>" not in page.text


def test_consent_replay_is_refused(idp: DevIdp, clock: Clock) -> None:
    doc = authorize(idp)
    with new_browser() as browser:
        fields = consent_form(idp, browser, doc["user_code"])
        first = browser.post(idp.url + "/device/decision", data={**fields, "decision": "deny"})
        replay = browser.post(idp.url + "/device/decision", data={**fields, "decision": "approve"})
    assert first.status_code == 200
    assert replay.status_code == 400
    clock.now += INTERVAL
    assert poll(idp, doc["device_code"]).json()["error"] == "access_denied"


def test_forged_consent_without_the_handle_is_refused(idp: DevIdp, clock: Clock) -> None:
    """A cross-site form that posts an approval for the victim's signed-in browser."""
    doc = authorize(idp)
    with new_browser() as browser:
        consent_form(idp, browser, doc["user_code"])  # the victim is signed in at the IdP
        for forged in ({"decision": "approve"}, {"decision": "approve", "consent": "guess"}):
            answer = browser.post(idp.url + "/device/decision", data=forged)
            assert answer.status_code == 400
    clock.now += INTERVAL
    assert poll(idp, doc["device_code"]).json()["error"] == "authorization_pending"


def test_repeated_device_code_parameter_is_refused(idp: DevIdp) -> None:
    doc = authorize(idp)
    body = f"grant_type={DEVICE_CODE_GRANT}&device_code={doc['device_code']}&device_code=x"
    answer = httpx.post(
        idp.url + "/oidc/token", auth=(A, A_SECRET), content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


# -- the CLI's side: the IdP's device authorization response -----------------------

GENUINE: dict[str, Any] = {
    "device_code": "d" * 43,
    "user_code": "BCDF-GHJK",
    "verification_uri": "https://idp.example.com/device",
    "verification_uri_complete": "https://idp.example.com/device?user_code=BCDF-GHJK",
    "expires_in": 600,
    "interval": 5,
}

HOSTILE: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("plain-http-verification-uri", {"verification_uri": "http://idp.example.com/device"},
     InsecureEndpointError, "is not https"),
    ("userinfo-in-verification-uri",
     {"verification_uri": "https://idp.example.com@evil.example/device"},
     InsecureEndpointError, "user information"),
    ("javascript-verification-uri-complete", {"verification_uri_complete": "javascript:alert(1)"},
     InsecureEndpointError, "verification_uri"),
    ("oversized-user-code", {"user_code": "X" * 65}, DeviceAuthorizationError, "short printable"),
    ("control-characters-in-user-code", {"user_code": "AB\x1b[2JCD"}, DeviceAuthorizationError,
     "short printable"),
    ("missing-device-code", {"device_code": None}, DeviceAuthorizationError, "device_code"),
    ("expires-in-zero", {"expires_in": 0}, DeviceAuthorizationError, "expires immediately"),
    ("negative-interval", {"interval": -1}, DeviceAuthorizationError, "interval"),
    ("boolean-expires-in", {"expires_in": True}, DeviceAuthorizationError, "expires_in"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("attack", "change", "error", "fragment"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_device_authorization_response_is_refused(
    attack: str, change: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    doc = {k: v for k, v in {**GENUINE, **change}.items() if v is not None}
    with pytest.raises(error, match=fragment):
        parse_device_authorization(doc, allow_insecure_loopback_http=False)


def test_device_authorization_genuine_response_is_accepted_control() -> None:
    parsed = parse_device_authorization(GENUINE, allow_insecure_loopback_http=False)
    assert parsed.user_code == "BCDF-GHJK"
    assert "d" * 43 not in repr(parsed)  # the device code is a credential


def test_device_authorization_huge_interval_is_capped_control() -> None:
    parsed = parse_device_authorization(
        {**GENUINE, "interval": 10**9, "expires_in": 10**9}, allow_insecure_loopback_http=False
    )
    assert parsed.interval == MAX_INTERVAL_SECONDS
