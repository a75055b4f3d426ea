"""Hostile or broken requests to the dev IdP's OIDC endpoints, each named after its attack.

The IdP must refuse them the way a real provider does: no redirect to an unverified
URI, ``invalid_client`` (401) for failed client authentication, ``invalid_grant`` for
codes that are unknown, expired, replayed, bound to someone else or to another PKCE
verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import OidcClient, Secret
from tests.peers.flows import Pkce, authorize_url, login_for_code, new_browser, stateless_client

HTTP = stateless_client()  # one pooled client for plain requests

CLIENT_ID = "victim-app"
CLIENT_SECRET = "victim-secret-42"
OTHER_ID = "other-app"
OTHER_SECRET = "other-secret-43"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
OTHER_REDIRECT = "http://127.0.0.1:8766/cb"


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def idp(clock: FakeClock) -> Iterator[DevIdp]:
    clients = (
        OidcClient(CLIENT_ID, Secret(CLIENT_SECRET), (REDIRECT_URI,), ("http://127.0.0.1:8765/",)),
        OidcClient(OTHER_ID, Secret(OTHER_SECRET), (OTHER_REDIRECT,), require_pkce=True),
    )
    with DevIdp(DevIdpSettings(port=0, clients=clients), clock=clock) as running:
        yield running


def authorize(idp: DevIdp, **params: str) -> httpx.Response:
    base = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": "st",
    }
    base.update(params)
    return HTTP.get(idp.url + "/oidc/authorize", params=base)


def code_for(idp: DevIdp, *, client_id: str = CLIENT_ID, redirect_uri: str = REDIRECT_URI,
             pkce: Pkce | None = None) -> str:  # fmt: skip
    url = authorize_url(
        idp.url + "/oidc/authorize", client_id=client_id, redirect_uri=redirect_uri, pkce=pkce
    )
    with new_browser() as browser:
        callback = login_for_code(
            browser, url, redirect_uri=redirect_uri, username="alice", password="demo"
        )
    return callback["code"]


def token(idp: DevIdp, data: dict[str, str], auth: tuple[str, str] | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    basic = httpx.BasicAuth(*auth) if auth is not None else httpx.USE_CLIENT_DEFAULT
    return HTTP.post(idp.url + "/oidc/token", data=data, auth=basic, headers=headers)


# -- authorization endpoint: never redirect to what is not registered ----------------

UNTRUSTED_AUTHORIZE = {
    "unknown_client": {"client_id": "attacker-app"},
    "missing_client_id": {"client_id": ""},
    "unregistered_redirect_uri": {"redirect_uri": "https://attacker.test/cb"},
    "redirect_uri_userinfo_trick": {"redirect_uri": "http://127.0.0.1:8765@attacker.test/callback"},
    "redirect_uri_path_suffix": {"redirect_uri": REDIRECT_URI + "/../../evil"},
    "redirect_uri_host_suffix": {"redirect_uri": "http://127.0.0.1:8765.attacker.test/callback"},
    "redirect_uri_extra_query": {"redirect_uri": REDIRECT_URI + "?next=https://attacker.test"},
    "redirect_uri_fragment": {"redirect_uri": REDIRECT_URI + "#x"},
    "redirect_uri_trailing_slash": {"redirect_uri": REDIRECT_URI + "/"},
    "redirect_uri_case_change": {"redirect_uri": REDIRECT_URI.upper()},
    "redirect_uri_javascript": {"redirect_uri": "javascript:alert(1)"},
    "redirect_uri_other_clients": {"redirect_uri": OTHER_REDIRECT},
    "redirect_uri_missing": {"redirect_uri": ""},
}


@pytest.mark.parametrize("attack", UNTRUSTED_AUTHORIZE, ids=list(UNTRUSTED_AUTHORIZE))
def test_untrusted_client_or_redirect_is_shown_an_error_not_redirected(
    idp: DevIdp, attack: str
) -> None:
    response = authorize(idp, **UNTRUSTED_AUTHORIZE[attack])
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "request refused" in response.text


def test_repeated_redirect_uri_parameter_is_refused(idp: DevIdp) -> None:
    query = (
        f"response_type=code&client_id={CLIENT_ID}&scope=openid"
        f"&redirect_uri={REDIRECT_URI}&redirect_uri=https://attacker.test/cb"
    )
    response = HTTP.get(f"{idp.url}/oidc/authorize?{query}")
    assert response.status_code == 400
    assert "location" not in response.headers


BAD_REQUESTS_FOR_VERIFIED_CLIENT = {
    "implicit_flow_token": ({"response_type": "token"}, "unsupported_response_type"),
    "hybrid_flow": ({"response_type": "code id_token"}, "unsupported_response_type"),
    "missing_openid_scope": ({"scope": "email"}, "invalid_scope"),
    "only_unknown_scopes": ({"scope": "admin root"}, "invalid_scope"),
    "pkce_plain_downgrade": (
        {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
        "invalid_request",
    ),
    "pkce_method_missing": ({"code_challenge": "a" * 43}, "invalid_request"),
    "pkce_challenge_too_short": (
        {"code_challenge": "short", "code_challenge_method": "S256"},
        "invalid_request",
    ),
    "request_object_injection": ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    "form_post_response_mode": ({"response_mode": "form_post"}, "invalid_request"),
}


@pytest.mark.parametrize(
    "attack", BAD_REQUESTS_FOR_VERIFIED_CLIENT, ids=list(BAD_REQUESTS_FOR_VERIFIED_CLIENT)
)
def test_bad_request_from_a_verified_client_is_redirected_with_error_and_state(
    idp: DevIdp, attack: str
) -> None:
    params, error = BAD_REQUESTS_FOR_VERIFIED_CLIENT[attack]
    response = authorize(idp, **params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert f"error={error}" in location
    assert "state=st" in location
    assert "code=" not in location


def test_client_that_must_use_pkce_is_refused_without_it(idp: DevIdp) -> None:
    response = authorize(idp, client_id=OTHER_ID, redirect_uri=OTHER_REDIRECT)
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


# -- token endpoint: client authentication -------------------------------------------


@dataclass(frozen=True)
class ClientAuth:
    auth: tuple[str, str] | None = None
    form: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] | None = None


CLIENT_AUTH_ATTACKS = {
    "unknown_client_basic": ClientAuth(auth=("attacker-app", CLIENT_SECRET)),
    "wrong_secret_basic": ClientAuth(auth=(CLIENT_ID, "guess")),
    "empty_secret_basic": ClientAuth(auth=(CLIENT_ID, "")),
    "other_clients_secret": ClientAuth(auth=(CLIENT_ID, OTHER_SECRET)),
    "wrong_secret_post": ClientAuth(form={"client_id": CLIENT_ID, "client_secret": "guess"}),
    "unknown_client_post": ClientAuth(form={"client_id": "attacker", "client_secret": "x"}),
    "no_client_authentication": ClientAuth(form={"client_id": CLIENT_ID}),
    "malformed_basic_header": ClientAuth(headers={"Authorization": "Basic !!!not-base64!!!"}),
    "basic_header_without_colon": ClientAuth(headers={"Authorization": "Basic dmljdGltLWFwcA=="}),
}


@pytest.mark.parametrize("attack", CLIENT_AUTH_ATTACKS, ids=list(CLIENT_AUTH_ATTACKS))
def test_failed_client_authentication_is_invalid_client_401(idp: DevIdp, attack: str) -> None:
    case = CLIENT_AUTH_ATTACKS[attack]
    code = code_for(idp)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    data.update(case.form)
    response = token(idp, data, auth=case.auth, headers=case.headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()
    if case.auth or case.headers:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_two_client_authentication_methods_at_once_are_refused(idp: DevIdp) -> None:
    code = code_for(idp)
    response = token(
        idp,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
         "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- token endpoint: the code itself -------------------------------------------------


def test_reused_code_is_refused_and_revokes_what_it_produced(idp: DevIdp) -> None:
    code = code_for(idp)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    first = token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET))
    assert first.status_code == 200
    access = first.json()["access_token"]
    userinfo = idp.url + "/oidc/userinfo"
    assert HTTP.get(userinfo, headers={"Authorization": f"Bearer {access}"}).status_code == 200
    replay = token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET))
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    after = HTTP.get(userinfo, headers={"Authorization": f"Bearer {access}"})
    assert after.status_code == 401, "tokens of a replayed code must be revoked"


def test_expired_code_is_refused(idp: DevIdp, clock: FakeClock) -> None:
    code = code_for(idp)
    clock.now += 61  # codes live 60 s
    response = token(
        idp,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


CODE_ATTACKS = {
    "made_up_code": lambda idp: ({"code": "not-a-code"}, (CLIENT_ID, CLIENT_SECRET)),
    "code_of_another_client": lambda idp: (
        {"code": code_for(idp, client_id=OTHER_ID, redirect_uri=OTHER_REDIRECT, pkce=Pkce.new()),
         "redirect_uri": OTHER_REDIRECT},
        (CLIENT_ID, CLIENT_SECRET),
    ),
    "redirect_uri_swapped_at_token": lambda idp: (
        {"code": code_for(idp), "redirect_uri": "http://127.0.0.1:8765/other"},
        (CLIENT_ID, CLIENT_SECRET),
    ),
    "redirect_uri_omitted_at_token": lambda idp: (
        {"code": code_for(idp), "redirect_uri": ""},
        (CLIENT_ID, CLIENT_SECRET),
    ),
    "verifier_without_challenge_downgrade": lambda idp: (
        {"code": code_for(idp), "code_verifier": Pkce.new().verifier},
        (CLIENT_ID, CLIENT_SECRET),
    ),
}  # fmt: skip


@pytest.mark.parametrize("attack", CODE_ATTACKS, ids=list(CODE_ATTACKS))
def test_code_attacks_are_invalid_grant(idp: DevIdp, attack: str) -> None:
    form, auth = CODE_ATTACKS[attack](idp)
    data = {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI, **form}
    response = token(idp, data, auth=auth)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "id_token" not in response.json()


PKCE_ATTACKS: dict[str, Callable[[Pkce], str | None]] = {
    "wrong_verifier": lambda pkce: Pkce.new().verifier,
    "missing_verifier": lambda pkce: None,
    "challenge_sent_as_verifier": lambda pkce: pkce.challenge,
    "verifier_too_short": lambda pkce: pkce.verifier[:20],
    "verifier_with_bad_characters": lambda pkce: pkce.verifier[:-1] + "/",
}


@pytest.mark.parametrize("attack", PKCE_ATTACKS, ids=list(PKCE_ATTACKS))
def test_pkce_attacks_are_invalid_grant(idp: DevIdp, attack: str) -> None:
    pkce = Pkce.new()
    code = code_for(idp, pkce=pkce)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    verifier = PKCE_ATTACKS[attack](pkce)
    if verifier is not None:
        data["code_verifier"] = verifier
    response = token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # The right verifier works no more: the code was spent by the failed attempt.
    data["code_verifier"] = pkce.verifier
    assert token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET)).status_code == 400


def test_unsupported_grant_type(idp: DevIdp) -> None:
    response = token(
        idp, {"grant_type": "password", "username": "alice", "password": "demo"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_refresh_token_of_another_client_is_refused(idp: DevIdp) -> None:
    url = authorize_url(
        idp.url + "/oidc/authorize", client_id=CLIENT_ID, redirect_uri=REDIRECT_URI,
        scope="openid offline_access",
    )  # fmt: skip
    with new_browser() as browser:
        code = login_for_code(
            browser, url, redirect_uri=REDIRECT_URI, username="bob", password="demo"
        )["code"]
    tokens = token(
        idp,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
    ).json()
    stolen = token(
        idp,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(OTHER_ID, OTHER_SECRET),
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


USERINFO_ATTACKS = {
    "no_token": {},
    "made_up_token": {"Authorization": "Bearer made-up"},
    "basic_instead_of_bearer": {"Authorization": "Basic dmljdGltOnNlY3JldA=="},
}


@pytest.mark.parametrize("attack", USERINFO_ATTACKS, ids=list(USERINFO_ATTACKS))
def test_userinfo_without_a_valid_access_token_is_401(idp: DevIdp, attack: str) -> None:
    response = HTTP.get(idp.url + "/oidc/userinfo", headers=USERINFO_ATTACKS[attack])
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "email" not in response.text


LOGOUT_ATTACKS = {
    "open_redirect_unregistered": {
        "client_id": CLIENT_ID, "post_logout_redirect_uri": "https://attacker.test/",
    },
    "open_redirect_without_client": {"post_logout_redirect_uri": "http://127.0.0.1:8765/"},
    "forged_id_token_hint": {
        "id_token_hint": "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ2aWN0aW0tYXBwIn0.",
        "post_logout_redirect_uri": "http://127.0.0.1:8765/",
    },
    "other_clients_logout_uri": {
        "client_id": OTHER_ID, "post_logout_redirect_uri": "http://127.0.0.1:8765/",
    },
}  # fmt: skip


@pytest.mark.parametrize("attack", LOGOUT_ATTACKS, ids=list(LOGOUT_ATTACKS))
def test_end_session_never_redirects_to_unregistered_uris(idp: DevIdp, attack: str) -> None:
    response = HTTP.get(idp.url + "/oidc/logout", params=LOGOUT_ATTACKS[attack])
    assert response.status_code == 400
    assert "location" not in response.headers


def test_end_session_with_client_id_and_registered_uri_redirects(idp: DevIdp) -> None:
    response = HTTP.get(
        idp.url + "/oidc/logout",
        params={"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://127.0.0.1:8765/"},
    )
    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1:8765/"


def test_public_sid_of_an_id_token_is_not_a_session_cookie(idp: DevIdp) -> None:
    """Session hijack: an RP sees ``sid`` in ID tokens; it must not open the IdP session."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    code = code_for(idp)
    id_token = token(
        idp,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
    ).json()["id_token"]
    keys = KeySet.import_key_set(HTTP.get(idp.url + "/oidc/jwks").json())
    sid = jwt.decode(id_token, keys, algorithms=["RS256"]).claims["sid"]
    url = authorize_url(idp.url + "/oidc/authorize", client_id=CLIENT_ID, redirect_uri=REDIRECT_URI)
    with httpx.Client(cookies={"qbizfed_idp_session": sid}) as attacker:
        response = attacker.get(url)
    assert response.status_code == 200, "the login form, not a code"
    assert "location" not in response.headers


def test_replayed_login_form_post_is_refused(idp: DevIdp) -> None:
    """A captured login POST cannot be replayed to mint a second code."""
    url = authorize_url(idp.url + "/oidc/authorize", client_id=CLIENT_ID, redirect_uri=REDIRECT_URI)
    with new_browser() as browser:
        page = browser.get(url)
        interaction = page.text.split('name="interaction" value="')[1].split('"')[0]
        form = {"interaction": interaction, "username": "alice", "password": "demo"}
        first = browser.post(idp.url + "/login", data=form)
        assert first.status_code == 302
    replay = HTTP.post(idp.url + "/login", data=form)
    assert replay.status_code == 400
    assert "location" not in replay.headers
