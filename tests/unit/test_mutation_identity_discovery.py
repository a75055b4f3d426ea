"""identity/discovery.py, pinned so that each surviving mutant fails a test (issue #14).

The documents come over real HTTP from a loopback server (127.0.0.1, port 0) that
answers each path with a chosen status, body, delay or redirect; the async functions
run in ``asyncio.run`` with the test's own ``httpx.AsyncClient``, the blocking wrapper
with its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest

from qbizfed.identity.discovery import (
    MAX_DOCUMENT_BYTES,
    discover,
    fetch_blocking,
    fetch_json,
    parse_provider_metadata,
    well_known_url,
)
from qbizfed.identity.errors import DiscoveryDocumentError, IdpUnreachableError
from qbizfed.url_policy import InsecureEndpointError

T = TypeVar("T")
ISSUER = "https://idp.example.test/tenant"
WELL_KNOWN = "/.well-known/openid-configuration"
URL_KEYS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
            "end_session_endpoint", "device_authorization_endpoint", "revocation_endpoint")
REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")
OPTIONAL = tuple(k for k in URL_KEYS if k not in REQUIRED)
LISTS = {  # list field -> its default when absent
    "id_token_signing_alg_values_supported": ("RS256",),
    "token_endpoint_auth_methods_supported": ("client_secret_basic",),
    "code_challenge_methods_supported": (),
    "scopes_supported": (),
}


def full_document(issuer: str = ISSUER, base: str = "https://idp.example.test") -> dict[str, Any]:
    """Every field the relying party reads, each with a value of its own."""
    return {
        "issuer": issuer,
        **{key: f"{base}/{key}" for key in URL_KEYS},
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email"],
    }


@dataclass
class Route:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Documents:
    """A loopback HTTP server answering each path with its :class:`Route`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Accept header)
        documents = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                documents.requests.append((self.path, self.headers.get("Accept")))
                route = documents.routes.get(self.path, Route(404, b'{"error": "not_found"}'))
                time.sleep(route.delay)
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, path: str, body: Any = None, *, raw: bytes | None = None,
              **route: Any) -> str:
        data = raw if raw is not None else json.dumps(body).encode()
        self.routes[path] = Route(body=data, **route)
        return self.base + path

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[Documents]:
    running = Documents()
    yield running
    running.stop()


@pytest.fixture
def documents(server: Documents) -> Documents:
    server.routes.clear()
    server.requests.clear()
    return server


def run(fetch: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """An async fetch in the test's own client (not through :func:`fetch_blocking`)."""

    async def go() -> T:
        async with httpx.AsyncClient(timeout=5) as http:
            return await fetch(http)

    return asyncio.run(go())


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- well_known_url ------------------------------------------------------------------------


@pytest.mark.parametrize(("issuer", "url"), [
    ("https://idp.example.test/tenant", "https://idp.example.test/tenant" + WELL_KNOWN),
    ("https://idp.example.test/tenant/", "https://idp.example.test/tenant" + WELL_KNOWN),
    ("https://idp.example.test/AX/", "https://idp.example.test/AX" + WELL_KNOWN),
    ("https://idp.example.test", "https://idp.example.test" + WELL_KNOWN),
])
def test_well_known_url_is_the_issuer_without_trailing_slash_plus_the_path(
    issuer: str, url: str
) -> None:
    assert well_known_url(issuer) == url


# -- parse_provider_metadata ---------------------------------------------------------------


def test_every_field_is_kept_as_published() -> None:
    meta = parse_provider_metadata(full_document(), expected_issuer=ISSUER)
    assert meta.issuer == ISSUER
    for key in URL_KEYS:
        assert getattr(meta, key) == f"https://idp.example.test/{key}"
    assert meta.id_token_signing_alg_values_supported == ("ES256", "RS256")
    assert meta.token_endpoint_auth_methods_supported == ("private_key_jwt",)
    assert meta.code_challenge_methods_supported == ("S256",)
    assert meta.scopes_supported == ("openid", "email")


def test_absent_lists_and_optional_endpoints_take_their_defaults() -> None:
    doc = full_document()
    for key in (*LISTS, *OPTIONAL):
        del doc[key]
    meta = parse_provider_metadata(doc, expected_issuer=ISSUER)
    for key, default in LISTS.items():
        assert getattr(meta, key) == default
    for key in OPTIONAL:
        assert getattr(meta, key) is None


@pytest.mark.parametrize("key", OPTIONAL)
def test_an_optional_endpoint_given_as_null_is_absent(key: str) -> None:
    doc = {**full_document(), key: None}
    assert getattr(parse_provider_metadata(doc, expected_issuer=ISSUER), key) is None


@pytest.mark.parametrize("key", sorted(LISTS))
def test_an_empty_list_is_kept_empty(key: str) -> None:
    doc = {**full_document(), key: []}
    assert getattr(parse_provider_metadata(doc, expected_issuer=ISSUER), key) == ()


@pytest.mark.parametrize("key", sorted(LISTS))
@pytest.mark.parametrize("value", ["RS256", ["RS256", 5], {"RS256": True}, 0],
                         ids=["string", "mixed-list", "object", "number"])
def test_a_list_field_that_is_not_a_list_of_strings_is_refused(key: str, value: Any) -> None:
    doc = {**full_document(), key: value}
    with pytest.raises(DiscoveryDocumentError) as info:
        parse_provider_metadata(doc, expected_issuer=ISSUER)
    assert info.value.message == f"discovery document field {key!r} is not a list of strings"


@pytest.mark.parametrize("key", REQUIRED)
@pytest.mark.parametrize("value", ["<absent>", None, "", 123, ["https://idp.example.test/x"]])
def test_a_required_endpoint_missing_or_not_a_string_is_refused(key: str, value: Any) -> None:
    doc = full_document()
    if value == "<absent>":
        del doc[key]
    else:
        doc[key] = value
    with pytest.raises(DiscoveryDocumentError) as info:
        parse_provider_metadata(doc, expected_issuer=ISSUER)
    assert info.value.message == f"discovery document lacks {key!r}"


@pytest.mark.parametrize("key", OPTIONAL)
@pytest.mark.parametrize("value", ["", 123])
def test_an_optional_endpoint_present_but_unusable_is_refused(key: str, value: Any) -> None:
    doc = {**full_document(), key: value}
    with pytest.raises(DiscoveryDocumentError) as info:
        parse_provider_metadata(doc, expected_issuer=ISSUER)
    assert info.value.message == f"discovery document lacks {key!r}"


@pytest.mark.parametrize("key", URL_KEYS)
def test_each_endpoint_must_be_https_and_the_refusal_names_it(key: str) -> None:
    doc = {**full_document(), key: f"http://idp.example.test/{key}"}
    with pytest.raises(InsecureEndpointError) as info:
        parse_provider_metadata(doc, expected_issuer=ISSUER, allow_insecure_loopback_http=True)
    assert info.value.message.startswith(f"the {key} URL ")
    assert "is not https" in info.value.message


@pytest.mark.parametrize("key", URL_KEYS)
def test_the_loopback_switch_reaches_each_endpoint(key: str) -> None:
    doc = {**full_document(), key: f"http://127.0.0.1:9/{key}"}
    meta = parse_provider_metadata(doc, expected_issuer=ISSUER, allow_insecure_loopback_http=True)
    assert getattr(meta, key) == f"http://127.0.0.1:9/{key}"
    with pytest.raises(InsecureEndpointError) as info:
        parse_provider_metadata(doc, expected_issuer=ISSUER)
    assert info.value.message.startswith(f"the {key} URL ")
    assert "uses plain http" in info.value.message


def test_the_loopback_switch_reaches_the_issuer_check() -> None:
    issuer = "http://127.0.0.1:9/tenant"
    doc = full_document(issuer=issuer)
    assert parse_provider_metadata(
        doc, expected_issuer=issuer, allow_insecure_loopback_http=True).issuer == issuer
    with pytest.raises(InsecureEndpointError) as info:
        parse_provider_metadata(doc, expected_issuer=issuer)
    assert info.value.message.startswith("the issuer URL ")


def test_a_plain_http_issuer_naming_itself_is_still_refused() -> None:
    issuer = "http://idp.example.test/tenant"
    with pytest.raises(InsecureEndpointError) as info:
        parse_provider_metadata(full_document(issuer=issuer), expected_issuer=issuer,
                                allow_insecure_loopback_http=True)
    assert info.value.message == f"the issuer URL {issuer!r} is not https"


@pytest.mark.parametrize("published", [ISSUER + "/", "https://other.example.test/tenant", None])
def test_another_issuer_is_refused_with_both_names(published: str | None) -> None:
    doc = {**full_document(), "issuer": published}
    with pytest.raises(DiscoveryDocumentError) as info:
        parse_provider_metadata(doc, expected_issuer=ISSUER)
    assert info.value.message == (
        f"the discovery document names issuer {published!r}, expected {ISSUER!r}")
    assert "byte for byte" in info.value.remedy


# -- fetch_json ----------------------------------------------------------------------------


def test_fetch_json_returns_the_decoded_document_and_asks_for_json(
    documents: Documents,
) -> None:
    url = documents.serve("/keys", [{"kid": "a"}])
    assert run(lambda http: fetch_json(http, url, what="JWKS")) == [{"kid": "a"}]
    assert documents.requests == [("/keys", "application/json")]


@pytest.mark.parametrize("status", [201, 204, 302, 404, 503])
def test_fetch_json_refuses_any_status_but_200(documents: Documents, status: int) -> None:
    url = documents.serve("/doc", {"issuer": ISSUER}, status=status)
    with pytest.raises(IdpUnreachableError) as info:
        run(lambda http: fetch_json(http, url, what="JWKS"))
    assert info.value.status == status
    assert info.value.answer == f"answered HTTP {status}"
    assert info.value.message == f"the IdP's JWKS at {url} answered HTTP {status}"


def test_fetch_json_size_limit_is_exact(documents: Documents) -> None:
    at_limit = json.dumps("x" * (MAX_DOCUMENT_BYTES - 2)).encode()
    assert len(at_limit) == MAX_DOCUMENT_BYTES
    url = documents.serve("/big", raw=at_limit)
    assert run(lambda http: fetch_json(http, url, what="JWKS")) == "x" * (MAX_DOCUMENT_BYTES - 2)
    documents.serve("/big", raw=at_limit + b" ")
    with pytest.raises(IdpUnreachableError) as info:
        run(lambda http: fetch_json(http, url, what="JWKS"))
    assert info.value.status == 200
    assert info.value.answer == "answered more than 512 KiB"
    assert info.value.message == f"the IdP's JWKS at {url} is larger than 524288 bytes"


def test_fetch_json_refuses_what_is_not_json(documents: Documents) -> None:
    url = documents.serve("/page", raw=b"<html>sign in</html>")
    with pytest.raises(IdpUnreachableError) as info:
        run(lambda http: fetch_json(http, url, what="JWKS"))
    assert info.value.status == 200
    assert info.value.answer == "did not answer JSON"
    assert info.value.message == f"the IdP's JWKS at {url} is not JSON"
    assert isinstance(info.value.__cause__, ValueError)


def test_fetch_json_without_an_answer_has_no_status() -> None:
    url = f"http://127.0.0.1:{unused_port()}/doc"
    with pytest.raises(IdpUnreachableError) as info:
        run(lambda http: fetch_json(http, url, what="JWKS"))
    assert info.value.status is None
    assert info.value.answer == "cannot be reached (ConnectError)"
    assert info.value.message == f"the IdP's JWKS at {url} cannot be reached (ConnectError)"
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_an_unreachable_error_built_elsewhere_answers_with_its_message() -> None:
    error = IdpUnreachableError("the token endpoint is down", remedy="wait")
    assert (error.status, error.answer, error.remedy) == (None, "the token endpoint is down",
                                                          "wait")
    bare = IdpUnreachableError("down")
    assert (bare.message, bare.remedy, bare.status, bare.answer) == ("down", "", None, "down")


# -- discover ------------------------------------------------------------------------------


def test_discover_reads_the_well_known_document_of_the_issuer(documents: Documents) -> None:
    issuer = documents.base + "/tenant/"
    documents.serve("/tenant" + WELL_KNOWN, full_document(issuer, base=documents.base))
    meta = run(lambda http: discover(issuer, http=http, allow_insecure_loopback_http=True))
    assert meta.issuer == issuer
    assert meta.jwks_uri == documents.base + "/jwks_uri"
    assert documents.requests == [("/tenant" + WELL_KNOWN, "application/json")]


def test_discover_refuses_an_insecure_issuer_before_any_request(documents: Documents) -> None:
    issuer = documents.base + "/tenant"
    documents.serve("/tenant" + WELL_KNOWN, full_document(issuer, base=documents.base))
    with pytest.raises(InsecureEndpointError) as info:
        run(lambda http: discover(issuer, http=http))
    assert info.value.message.startswith("the issuer URL ")
    assert documents.requests == []


def test_discover_names_the_discovery_document_when_it_fails(documents: Documents) -> None:
    issuer = documents.base + "/nowhere"
    with pytest.raises(IdpUnreachableError) as info:
        run(lambda http: discover(issuer, http=http, allow_insecure_loopback_http=True))
    assert info.value.message == (
        f"the IdP's discovery document at {issuer}{WELL_KNOWN} answered HTTP 404")


@pytest.mark.parametrize("body", [[], "issuer", 1, None])
def test_discover_refuses_a_document_that_is_not_an_object(
    documents: Documents, body: Any
) -> None:
    issuer = documents.base + "/tenant"
    documents.serve("/tenant" + WELL_KNOWN, body)
    with pytest.raises(DiscoveryDocumentError) as info:
        run(lambda http: discover(issuer, http=http, allow_insecure_loopback_http=True))
    assert info.value.message == "the discovery document is not a JSON object"


# -- fetch_blocking ------------------------------------------------------------------------


def test_fetch_blocking_runs_the_fetch_and_returns_its_value(documents: Documents) -> None:
    issuer = documents.base + "/tenant"
    documents.serve("/tenant" + WELL_KNOWN, full_document(issuer, base=documents.base))
    meta = fetch_blocking(
        lambda http: discover(issuer, http=http, allow_insecure_loopback_http=True))
    assert meta.token_endpoint == documents.base + "/token_endpoint"


def test_fetch_blocking_does_not_follow_redirects(documents: Documents) -> None:
    target = documents.serve("/real", {"keys": []})
    url = documents.serve("/moved", raw=b"", status=302, headers={"Location": target})
    with pytest.raises(IdpUnreachableError) as info:
        fetch_blocking(lambda http: fetch_json(http, url, what="JWKS"))
    assert info.value.status == 302
    assert [path for path, _ in documents.requests] == ["/moved"]


def test_fetch_blocking_honours_the_timeout(documents: Documents) -> None:
    url = documents.serve("/slow", {"keys": []}, delay=1.5)
    started = time.monotonic()
    with pytest.raises(IdpUnreachableError) as info:
        fetch_blocking(lambda http: fetch_json(http, url, what="JWKS"), timeout=0.3)
    assert info.value.answer == "cannot be reached (ReadTimeout)"
    assert time.monotonic() - started < 1.5
