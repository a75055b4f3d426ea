"""``qbizfed login`` (SAML, loopback ACS) facing validly signed responses that fail later checks.

A loopback server publishes the test IdP's metadata; the "browser" answers the
AuthnRequest by posting to the loopback ACS a response signed by the trusted key, for
the request the login issued, to the right ACS and audience, but changed (before
signing) so that only a check after the signature can refuse it. Before the fix
python3-saml's own exception escaped the login (a traceback); now it is a
``SamlResponseError`` naming the check, STS is never called and nothing is cached.
"""

from __future__ import annotations

import base64
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lxml import etree

from qbizfed.creds import cache
from qbizfed.creds.login import login
from qbizfed.errors import ConfigError
from qbizfed.identity.errors import SamlResponseError
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.settings.profiles import Profile
from tests.adversarial.test_web_saml_refusals import (
    IDP,
    duplicated_attribute_name,
    foreign_sp_name_qualifier,
    no_name_id,
)
from tests.integration.test_creds_login import free_port

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/TestIdp"


@pytest.fixture(scope="module")
def metadata_url() -> Iterator[str]:
    body = IDP.metadata_xml().encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metadata"
    server.shutdown()
    server.server_close()


def never_called(identity: FederatedIdentity, profile: Profile) -> Any:
    raise AssertionError("STS must not be called with a refused assertion")


@pytest.mark.parametrize(
    ("attack", "edit", "reason", "says"),
    [
        ("missing_name_id", no_name_id, "name_id", "NameID not found"),
        ("name_id_for_another_sp", foreign_sp_name_qualifier, "name_id", "SPNameQualifier"),
        ("duplicated_attribute_name", duplicated_attribute_name, "attributes",
         "duplicated Name"),
    ],
)  # fmt: skip
def test_saml_login_refuses_a_signed_response_failing_a_later_check(
    metadata_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    attack: str, edit: Callable[[Any], None], reason: str, says: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    port = free_port()
    acs = f"http://127.0.0.1:{port}/saml/acs"
    profile = Profile(
        name="saml-attacked", protocol="saml", role_arn=ROLE, redirect_port=port,
        allow_insecure_loopback_http=True, idp_metadata_url=metadata_url, provider_arn=PROVIDER,
    )  # fmt: skip

    def open_browser(url: str) -> bool:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"]), -15))
        spec = IDP.spec(sp_entity_id=acs, acs_url=acs, in_response_to=request.get("ID"),
                        roles=(f"{ROLE},{PROVIDER}",))  # fmt: skip
        xml = IDP.signed_response(spec, edit=edit)
        fields = {"SAMLResponse": base64.b64encode(xml).decode(), "RelayState": query["RelayState"]}
        httpx.post(acs, data=fields, timeout=10)
        return True

    with pytest.raises(SamlResponseError) as refused:
        login(profile, announce=lambda _: None, open_browser=open_browser,
              exchange=never_called, timeout=20)  # fmt: skip
    assert refused.value.reason == reason
    assert says in refused.value.message
    assert refused.value.remedy
    assert cache.load("saml-attacked") is None


def test_saml_login_refuses_idp_metadata_larger_than_iam_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The IdP's real metadata, then whitespace (well-formed XML all the same) past IAM's
    # 10,000,000-byte limit, sent in chunks without a Content-Length: only the limit,
    # applied while reading, can refuse it before the login goes on to the browser.
    from qbizfed.identity.saml_metadata import MAX_METADATA_BYTES

    metadata = IDP.metadata_xml().encode()
    padding = b" " * (1 << 20)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in [metadata] + [padding] * (MAX_METADATA_BYTES // len(padding) + 1):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client stopped reading: what the limit is for

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("QBIZFED_CACHE_DIR", str(tmp_path / "cache"))
    profile = Profile(
        name="saml-huge-metadata", protocol="saml", role_arn=ROLE, redirect_port=free_port(),
        allow_insecure_loopback_http=True, provider_arn=PROVIDER,
        idp_metadata_url=f"http://127.0.0.1:{server.server_address[1]}/metadata",
    )  # fmt: skip

    def no_browser(url: str) -> bool:
        raise AssertionError("metadata over IAM's limit must be refused before the browser")

    try:
        with pytest.raises(ConfigError) as refused:
            login(profile, announce=lambda _: None, open_browser=no_browser,
                  exchange=never_called, timeout=20)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert f"larger than {MAX_METADATA_BYTES:,} bytes" in refused.value.message
    assert "idp_metadata_url" in refused.value.remedy
    assert cache.load("saml-huge-metadata") is None
