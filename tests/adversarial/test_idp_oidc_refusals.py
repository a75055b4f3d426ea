"""Hostile or broken requests to the dev IdP's OIDC endpoints, each named after its attack.

The IdP must refuse them the way a real provider does: no redirect to an unverified
URI, ``invalid_client`` (401) for failed client authentication, ``invalid_grant`` for
codes that are unknown, expired, replayed, bound to someone else or to another PKCE
verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

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


def oauth_error(response: httpx.Response, status: int, error: str, says: str) -> None:
    """The response is the OAuth error ``error`` whose description contains ``says``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert says in body["error_description"], body


def refused_page(response: httpx.Response, says: str) -> None:
    """The IdP's "request refused" page (never a redirect), naming the reason."""
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "request refused" in response.text
    assert f'role="alert">{says}' in response.text, response.text[:1500]


# -- authorization endpoint: never redirect to what is not registered ----------------

UNKNOWN_CLIENT = "unknown client_id: this client is not registered"
UNREGISTERED_REDIRECT = "redirect_uri is not registered for this client"
UNTRUSTED_AUTHORIZE = {  # every redirect_uri case is refused as UNREGISTERED_REDIRECT
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
    unknown = attack in ("unknown_client", "missing_client_id")
    refused_page(response, UNKNOWN_CLIENT if unknown else UNREGISTERED_REDIRECT)


def test_repeated_redirect_uri_parameter_is_refused(idp: DevIdp) -> None:
    query = (
        f"response_type=code&client_id={CLIENT_ID}&scope=openid"
        f"&redirect_uri={REDIRECT_URI}&redirect_uri=https://attacker.test/cb"
    )
    response = HTTP.get(f"{idp.url}/oidc/authorize?{query}")
    refused_page(response, "parameter redirect_uri is repeated")


BAD_REQUESTS_FOR_VERIFIED_CLIENT = {  # parameters -> (OAuth error, its description)
    "implicit_flow_token": ({"response_type": "token"}, (
        "unsupported_response_type", "only the authorization code flow is supported")),
    "hybrid_flow": ({"response_type": "code id_token"}, (
        "unsupported_response_type", "only the authorization code flow is supported")),
    "missing_openid_scope": ({"scope": "email"}, (
        "invalid_scope", "the openid scope is required")),
    "only_unknown_scopes": ({"scope": "admin root"}, (
        "invalid_scope", "the openid scope is required")),
    "pkce_plain_downgrade": ({"code_challenge": "a" * 43, "code_challenge_method": "plain"}, (
        "invalid_request", "code_challenge_method must be S256")),
    "pkce_method_missing": ({"code_challenge": "a" * 43}, (
        "invalid_request", "code_challenge_method must be S256")),
    "pkce_challenge_too_short": ({"code_challenge": "short", "code_challenge_method": "S256"}, (
        "invalid_request", "code_challenge is malformed")),
    "request_object_injection": ({"request": "eyJhbGciOiJub25lIn0.e30."}, (
        "request_not_supported", "request objects are not supported")),
    "form_post_response_mode": ({"response_mode": "form_post"}, (
        "invalid_request", "only response_mode=query is supported")),
}  # fmt: skip


@pytest.mark.parametrize(
    "attack", BAD_REQUESTS_FOR_VERIFIED_CLIENT, ids=list(BAD_REQUESTS_FOR_VERIFIED_CLIENT)
)
def test_bad_request_from_a_verified_client_is_redirected_with_error_and_state(
    idp: DevIdp, attack: str
) -> None:
    params, (error, says) = BAD_REQUESTS_FOR_VERIFIED_CLIENT[attack]
    response = authorize(idp, **params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == [error]
    assert query["error_description"] == [says]
    assert query["state"] == ["st"]
    assert "code" not in query


def test_client_that_must_use_pkce_is_refused_without_it(idp: DevIdp) -> None:
    response = authorize(idp, client_id=OTHER_ID, redirect_uri=OTHER_REDIRECT)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["error_description"] == ["this client must use PKCE (S256)"]


# -- token endpoint: client authentication -------------------------------------------


@dataclass(frozen=True)
class ClientAuth:
    auth: tuple[str, str] | None = None
    form: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] | None = None


AUTH_FAILED = "client authentication failed"
MALFORMED_BASIC = "malformed Basic credentials"
CLIENT_AUTH_ATTACKS = {  # the attempt -> the invalid_client error's description
    "unknown_client_basic": (ClientAuth(auth=("attacker-app", CLIENT_SECRET)), AUTH_FAILED),
    "wrong_secret_basic": (ClientAuth(auth=(CLIENT_ID, "guess")), AUTH_FAILED),
    "empty_secret_basic": (ClientAuth(auth=(CLIENT_ID, "")), AUTH_FAILED),
    "other_clients_secret": (ClientAuth(auth=(CLIENT_ID, OTHER_SECRET)), AUTH_FAILED),
    "wrong_secret_post": (
        ClientAuth(form={"client_id": CLIENT_ID, "client_secret": "guess"}), AUTH_FAILED),
    "unknown_client_post": (
        ClientAuth(form={"client_id": "attacker", "client_secret": "x"}), AUTH_FAILED),
    "no_client_authentication": (
        ClientAuth(form={"client_id": CLIENT_ID}), "client authentication is required"),
    "malformed_basic_header": (
        ClientAuth(headers={"Authorization": "Basic !!!not-base64!!!"}), MALFORMED_BASIC),
    "basic_header_without_colon": (
        ClientAuth(headers={"Authorization": "Basic dmljdGltLWFwcA=="}), MALFORMED_BASIC),
}  # fmt: skip


@pytest.mark.parametrize("attack", CLIENT_AUTH_ATTACKS, ids=list(CLIENT_AUTH_ATTACKS))
def test_failed_client_authentication_is_invalid_client_401(idp: DevIdp, attack: str) -> None:
    case, says = CLIENT_AUTH_ATTACKS[attack]
    code = code_for(idp)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    data.update(case.form)
    response = token(idp, data, auth=case.auth, headers=case.headers)
    oauth_error(response, 401, "invalid_client", says)
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
    oauth_error(response, 400, "invalid_request", "use one client authentication method, not two")


# -- token endpoint: the code itself -------------------------------------------------


CODE_UNUSABLE = "the code is invalid, expired or already used"


def test_reused_code_is_refused_and_revokes_what_it_produced(idp: DevIdp) -> None:
    code = code_for(idp)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    first = token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET))
    assert first.status_code == 200
    access = first.json()["access_token"]
    userinfo = idp.url + "/oidc/userinfo"
    assert HTTP.get(userinfo, headers={"Authorization": f"Bearer {access}"}).status_code == 200
    replay = token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET))
    oauth_error(replay, 400, "invalid_grant", CODE_UNUSABLE)
    after = HTTP.get(userinfo, headers={"Authorization": f"Bearer {access}"})
    oauth_error(after, 401, "invalid_token", "the access token is invalid or expired")


def test_expired_code_is_refused(idp: DevIdp, clock: FakeClock) -> None:
    code = code_for(idp)
    clock.now += 61  # codes live 60 s
    response = token(
        idp,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    oauth_error(response, 400, "invalid_grant", CODE_UNUSABLE)


CODE_ATTACK_REASONS = {
    "made_up_code": CODE_UNUSABLE,
    "code_of_another_client": "the code was issued to another client",
    "redirect_uri_swapped_at_token": "redirect_uri differs from the authorization request",
    "redirect_uri_omitted_at_token": "redirect_uri differs from the authorization request",
    "verifier_without_challenge_downgrade": "code_verifier sent but no code_challenge was",
}
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
    oauth_error(response, 400, "invalid_grant", CODE_ATTACK_REASONS[attack])
    assert "id_token" not in response.json()


PKCE_FAILED = "PKCE verification failed"
VERIFIER_REQUIRED = "a valid code_verifier is required (PKCE)"
PKCE_ATTACKS: dict[str, tuple[Callable[[Pkce], str | None], str]] = {
    "wrong_verifier": (lambda pkce: Pkce.new().verifier, PKCE_FAILED),
    "missing_verifier": (lambda pkce: None, VERIFIER_REQUIRED),
    "challenge_sent_as_verifier": (lambda pkce: pkce.challenge, PKCE_FAILED),
    "verifier_too_short": (lambda pkce: pkce.verifier[:20], VERIFIER_REQUIRED),
    "verifier_with_bad_characters": (lambda pkce: pkce.verifier[:-1] + "/", VERIFIER_REQUIRED),
}


@pytest.mark.parametrize("attack", PKCE_ATTACKS, ids=list(PKCE_ATTACKS))
def test_pkce_attacks_are_invalid_grant(idp: DevIdp, attack: str) -> None:
    pkce = Pkce.new()
    code = code_for(idp, pkce=pkce)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    make_verifier, says = PKCE_ATTACKS[attack]
    verifier = make_verifier(pkce)
    if verifier is not None:
        data["code_verifier"] = verifier
    response = token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET))
    oauth_error(response, 400, "invalid_grant", says)
    # The right verifier works no more: the code was spent by the failed attempt.
    data["code_verifier"] = pkce.verifier
    oauth_error(token(idp, data, auth=(CLIENT_ID, CLIENT_SECRET)), 400, "invalid_grant",
                CODE_UNUSABLE)  # fmt: skip


def test_unsupported_grant_type(idp: DevIdp) -> None:
    response = token(
        idp, {"grant_type": "password", "username": "alice", "password": "demo"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )  # fmt: skip
    oauth_error(response, 400, "unsupported_grant_type", "use authorization_code or refresh_token")


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
    oauth_error(stolen, 400, "invalid_grant", "the refresh token is invalid or expired")


BEARER_REQUIRED = ("invalid_request", "a Bearer access token is required")
USERINFO_ATTACKS = {  # headers -> (OAuth error, its description)
    "no_token": ({}, BEARER_REQUIRED),
    "made_up_token": ({"Authorization": "Bearer made-up"},
                      ("invalid_token", "the access token is invalid or expired")),
    "basic_instead_of_bearer": ({"Authorization": "Basic dmljdGltOnNlY3JldA=="}, BEARER_REQUIRED),
}  # fmt: skip


@pytest.mark.parametrize("attack", USERINFO_ATTACKS, ids=list(USERINFO_ATTACKS))
def test_userinfo_without_a_valid_access_token_is_401(idp: DevIdp, attack: str) -> None:
    headers, (error, says) = USERINFO_ATTACKS[attack]
    response = HTTP.get(idp.url + "/oidc/userinfo", headers=headers)
    oauth_error(response, 401, error, says)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "email" not in response.text


LOGOUT_UNREGISTERED = "post_logout_redirect_uri is not registered for this client"
LOGOUT_ATTACKS = {  # parameters -> the refusal page's reason
    "open_redirect_unregistered": ({
        "client_id": CLIENT_ID, "post_logout_redirect_uri": "https://attacker.test/",
    }, LOGOUT_UNREGISTERED),
    "open_redirect_without_client": ({"post_logout_redirect_uri": "http://127.0.0.1:8765/"},
        "post_logout_redirect_uri needs a client_id or id_token_hint naming a client"),
    "forged_id_token_hint": ({
        "id_token_hint": "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ2aWN0aW0tYXBwIn0.",
        "post_logout_redirect_uri": "http://127.0.0.1:8765/",
    }, "id_token_hint was not issued by this provider"),
    "other_clients_logout_uri": ({
        "client_id": OTHER_ID, "post_logout_redirect_uri": "http://127.0.0.1:8765/",
    }, LOGOUT_UNREGISTERED),
}  # fmt: skip


@pytest.mark.parametrize("attack", LOGOUT_ATTACKS, ids=list(LOGOUT_ATTACKS))
def test_end_session_never_redirects_to_unregistered_uris(idp: DevIdp, attack: str) -> None:
    params, says = LOGOUT_ATTACKS[attack]
    refused_page(HTTP.get(idp.url + "/oidc/logout", params=params), says)


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
    refused_page(replay, "this sign-in has expired or was already used; start again")
