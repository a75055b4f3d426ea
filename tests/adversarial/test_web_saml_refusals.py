"""Hostile SAML responses posted to the broker's ACS, one named attack per case.

Responses are built as data by ``tests.support.rp_idp.SamlIdp`` (signed with signxml)
and then tampered with; the broker runs under uvicorn on loopback and must answer each
with an error page, no session and no STS call.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lxml import etree

from qbizfed.settings.saml import SamlRegistration
from qbizfed.settings.serve import WebSettings
from qbizfed.web.app import create_app
from tests.adversarial.hostile_xml import HOSTILE_PROLOGS, with_prolog
from tests.integration.test_serve_harness import RecordingIssuer, UvicornServer
from tests.support.rp_idp import NS, CertifiedKey, SamlIdp, SamlResponseSpec

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"
OTHER_ROLE = "arn:aws:iam::123456789012:role/QBizAnalyst"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/TestIdp"
IDP = SamlIdp()
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Served:
    url: str
    issuer: RecordingIssuer

    @property
    def acs(self) -> str:
        return self.url + "/saml"


def _serve(*, allow_unsolicited: bool) -> tuple[UvicornServer, Served]:
    server = UvicornServer()
    settings = WebSettings(
        saml=SamlRegistration(
            idp_sso_url="https://idp.rp-test.example/sso",
            idp_issuer=IDP.entity_id,
            acs_url=server.url + "/saml",
            idp_certificate=IDP.key.cert_pem,
            allow_unsolicited=allow_unsolicited,
        ),
    )
    issuer = RecordingIssuer()
    server.start(create_app(settings, sts=issuer))
    return server, Served(server.url, issuer)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server, info = _serve(allow_unsolicited=False)
    yield info
    server.stop()


@pytest.fixture(scope="module")
def served_unsolicited() -> Iterator[Served]:
    server, info = _serve(allow_unsolicited=True)
    yield info
    server.stop()


@dataclass
class Browser:
    served: Served
    client: httpx.Client

    def start_login(self, next_path: str | None = None) -> tuple[str, str]:
        """GET /login/saml; the AuthnRequest's ID and the RelayState."""
        params = {"next": next_path} if next_path else None
        response = self.client.get("/login/saml", params=params)
        assert response.status_code == 302, response.text[:300]
        query = parse_qs(urlsplit(response.headers["location"]).query)
        request_xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
        request_id = etree.fromstring(request_xml).get("ID")
        assert request_id
        return request_id, query["RelayState"][0]

    def post_acs(self, xml: bytes, relay_state: str | None) -> httpx.Response:
        data = {"SAMLResponse": base64.b64encode(xml).decode()}
        if relay_state is not None:
            data["RelayState"] = relay_state
        return self.client.post("/saml", data=data)

    def finish(self, acs: httpx.Response) -> httpx.Response:
        assert acs.status_code == 303, acs.text[:1500]
        return self.client.get(acs.headers["location"])


def _browser(served: Served) -> Iterator[Browser]:
    served.issuer.calls.clear()
    with httpx.Client(base_url=served.url, timeout=10) as client:
        yield Browser(served, client)


@pytest.fixture
def browser(served: Served) -> Iterator[Browser]:
    yield from _browser(served)


@pytest.fixture
def unsolicited_browser(served_unsolicited: Served) -> Iterator[Browser]:
    yield from _browser(served_unsolicited)


def spec_for(browser: Browser, request_id: str | None, **changes: Any) -> SamlResponseSpec:
    changes.setdefault("roles", (f"{ROLE},{PROVIDER}",))
    return IDP.spec(
        sp_entity_id=browser.served.acs, acs_url=browser.served.acs,
        in_response_to=request_id, **changes,
    )  # fmt: skip


def refused(response: httpx.Response, *, says: str) -> None:
    assert response.status_code in (400, 401, 403), (response.status_code, response.text[:800])
    assert says in response.text, response.text[:2000]
    assert 'id="error-remedy"' in response.text


# --- tampering helpers (XML surgery on a validly signed response) ---------------------------

def _tree(xml: bytes) -> Any:
    return etree.fromstring(xml)


def _evil_copy(assertion: Any) -> Any:
    evil = copy.deepcopy(assertion)
    evil.set("ID", "_evil" + evil.get("ID"))
    signature = evil.find("ds:Signature", NS)
    if signature is not None:
        evil.remove(signature)
    for value in evil.iter(f"{{{NS['saml']}}}NameID", f"{{{NS['saml']}}}AttributeValue"):
        if value.text and "alice@example.com" in value.text:
            value.text = value.text.replace("alice@example.com", "admin@example.com")
    return evil


def xsw_evil_assertion_first(xml: bytes) -> bytes:
    root = _tree(xml)
    signed = root.find("saml:Assertion", NS)
    signed.addprevious(_evil_copy(signed))
    return bytes(etree.tostring(root))


def xsw_signed_assertion_hidden_in_extensions(xml: bytes) -> bytes:
    root = _tree(xml)
    signed = root.find("saml:Assertion", NS)
    evil = _evil_copy(signed)
    extensions = etree.SubElement(root, f"{{{NS['samlp']}}}Extensions")
    root.find("saml:Issuer", NS).addnext(extensions)
    root.remove(signed)
    extensions.append(signed)
    root.append(evil)
    return bytes(etree.tostring(root))


def xsw_evil_assertion_wraps_signed_one(xml: bytes) -> bytes:
    root = _tree(xml)
    signed = root.find("saml:Assertion", NS)
    evil = _evil_copy(signed)
    root.replace(signed, evil)
    evil.find("saml:Subject", NS).append(signed)
    return bytes(etree.tostring(root))


def doctype_entity_expansion(xml: bytes) -> bytes:
    dtd = b'<!DOCTYPE r [<!ENTITY x "alice@example.com">]>'
    return dtd + xml.replace(b"alice@example.com</saml:NameID>", b"&x;</saml:NameID>", 1)


def signed(browser: Browser, request_id: str | None, *, sign_assertion: bool = True,
           sign_response: bool = False, key: CertifiedKey | None = None,
           tamper: Callable[[bytes], bytes] | None = None,
           edit: Callable[[Any], None] | None = None, **changes: Any) -> bytes:  # fmt: skip
    xml = IDP.signed_response(spec_for(browser, request_id, **changes),
                              sign_assertion=sign_assertion, sign_response=sign_response,
                              key=key, edit=edit)  # fmt: skip
    return tamper(xml) if tamper else xml


DECLARES_A_DTD = "the SAML response declares a DTD or entities"
Case = tuple[str, dict[str, Any], str]
ATTACKS: list[Case] = [
    ("unsigned_assertion", {"sign_assertion": False}, "is not signed"),
    ("signed_by_another_key",
     {"key": CertifiedKey.generate("attacker")}, "Signature validation failed"),
    ("xsw_evil_assertion_before_the_signed_one",
     {"tamper": xsw_evil_assertion_first}, "exactly one assertion"),
    ("xsw_signed_assertion_hidden_in_extensions",
     {"tamper": xsw_signed_assertion_hidden_in_extensions}, "exactly one assertion"),
    ("xsw_evil_assertion_wrapping_the_signed_one",
     {"tamper": xsw_evil_assertion_wraps_signed_one}, "exactly one assertion"),
    ("wrong_audience", {"audience": "https://evil.test/saml"}, "not meant for"),
    ("wrong_recipient", {"recipient": "https://evil.test/saml"}, "Recipient is"),
    ("wrong_destination", {"destination": "https://evil.test/saml"}, "addressed to"),
    ("expired_assertion",
     {"issued_at": NOW - dt.timedelta(hours=2),
      "not_on_or_after": NOW - dt.timedelta(hours=1)}, "expired"),
    ("not_yet_valid_assertion", {"not_before": NOW + dt.timedelta(hours=1)}, "not yet valid"),
    ("doctype_with_entity_expansion", {"tamper": doctype_entity_expansion}, DECLARES_A_DTD),
    *((prolog.name, {"tamper": functools.partial(with_prolog, prolog=prolog)}, DECLARES_A_DTD)
      for prolog in HOSTILE_PROLOGS),
]  # fmt: skip


def test_a_genuine_response_signs_in(browser: Browser) -> None:
    """The control case for every refusal below."""
    request_id, relay = browser.start_login()
    done = browser.finish(browser.post_acs(signed(browser, request_id), relay))
    assert done.status_code == 303, done.text[:1500]
    assert 'id="email">alice@example.com<' in browser.client.get("/").text
    assert [c[2] for c in browser.served.issuer.calls] == [ROLE]


@pytest.mark.parametrize(("attack", "knobs", "says"), ATTACKS, ids=[a for a, _, _ in ATTACKS])
def test_hostile_response_is_refused(
    browser: Browser, attack: str, knobs: dict[str, Any], says: str
) -> None:
    request_id, relay = browser.start_login()
    refused(browser.post_acs(signed(browser, request_id, **knobs), relay), says=says)
    assert browser.served.issuer.calls == []
    assert "admin@example.com" not in browser.client.get("/").text


def test_response_to_a_request_never_issued_is_refused(browser: Browser) -> None:
    _, relay = browser.start_login()
    refused(browser.post_acs(signed(browser, "_forged-request-id"), relay), says="did not issue")


def test_unsolicited_response_is_refused_unless_allowed(browser: Browser) -> None:
    refused(browser.post_acs(signed(browser, None), None), says="unsolicited")


def test_unsolicited_response_signs_in_when_allowed(unsolicited_browser: Browser) -> None:
    acs = unsolicited_browser.post_acs(signed(unsolicited_browser, None), None)
    assert unsolicited_browser.finish(acs).status_code == 303


def test_assertion_replay_is_refused(unsolicited_browser: Browser) -> None:
    xml = signed(unsolicited_browser, None)
    assert unsolicited_browser.finish(unsolicited_browser.post_acs(xml, None)).status_code == 303
    refused(unsolicited_browser.post_acs(xml, None), says="already used")
    assert len(unsolicited_browser.served.issuer.calls) == 1


def test_response_replay_to_a_consumed_request_is_refused(browser: Browser) -> None:
    request_id, relay = browser.start_login()
    first = signed(browser, request_id)
    assert browser.finish(browser.post_acs(first, relay)).status_code == 303
    refused(browser.post_acs(signed(browser, request_id), relay), says="did not issue")


def test_login_csrf_posting_an_attackers_response_in_the_victims_browser_is_refused(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as attacker_client:
        attacker = Browser(served, attacker_client)
        request_id, relay = attacker.start_login()
        xml = signed(attacker, request_id)
    served.issuer.calls.clear()
    with httpx.Client(base_url=served.url, timeout=10) as victim_client:
        victim = Browser(served, victim_client)
        victim.client.get("/")  # the victim has a session of their own
        refused(victim.finish(victim.post_acs(xml, relay)), says="not started in this browser")
    assert served.issuer.calls == []


def test_the_user_picks_one_of_several_offered_roles(browser: Browser) -> None:
    request_id, relay = browser.start_login()
    xml = signed(browser, request_id, roles=(f"{ROLE},{PROVIDER}", f"{OTHER_ROLE},{PROVIDER}"))
    page = browser.finish(browser.post_acs(xml, relay))
    assert page.status_code == 200
    assert OTHER_ROLE in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    ticket = re.search(r'name="ticket" value="([^"]+)"', page.text)
    assert csrf is not None
    assert ticket is not None
    chosen = browser.client.post("/saml/choose-role", data={
        "csrf_token": csrf.group(1), "ticket": ticket.group(1), "role": "1"})  # fmt: skip
    assert chosen.status_code == 303, chosen.text[:1000]
    assert [c[2] for c in browser.served.issuer.calls] == [OTHER_ROLE]


@pytest.mark.parametrize(
    ("attack", "role", "with_csrf", "says"),
    [
        ("role_index_out_of_range", "7", True, "not one the IdP offered"),
        ("role_choice_without_csrf_token", "0", False, "security token"),
    ],
)
def test_forged_role_choice_is_refused(
    browser: Browser, attack: str, role: str, with_csrf: bool, says: str
) -> None:
    request_id, relay = browser.start_login()
    xml = signed(browser, request_id, roles=(f"{ROLE},{PROVIDER}", f"{OTHER_ROLE},{PROVIDER}"))
    page = browser.finish(browser.post_acs(xml, relay))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    ticket = re.search(r'name="ticket" value="([^"]+)"', page.text)
    assert csrf is not None
    assert ticket is not None
    data = {"ticket": ticket.group(1), "role": role}
    if with_csrf:
        data["csrf_token"] = csrf.group(1)
    refused(browser.client.post("/saml/choose-role", data=data), says=says)
    assert browser.served.issuer.calls == []


def test_open_redirect_via_relay_state_is_refused(browser: Browser) -> None:
    """RelayState is an opaque server-side key: a URL in it is never followed."""
    request_id, _ = browser.start_login()
    acs = browser.post_acs(signed(browser, request_id), "https://evil.test/")
    assert acs.status_code == 303
    assert acs.headers["location"].startswith("/saml/finish?ticket=")
    finish = browser.client.get(acs.headers["location"])
    assert "evil.test" not in finish.headers.get("location", "")
    refused(finish, says="not started in this browser")


def test_open_redirect_via_next_parameter_is_refused_for_saml(browser: Browser) -> None:
    request_id, relay = browser.start_login(next_path="//evil.test/")
    done = browser.finish(browser.post_acs(signed(browser, request_id), relay))
    assert done.status_code == 303
    assert done.headers["location"] == "/"


# --- validly signed, refused after the signature (never a 500) --------------------------------
# Each edit is made before the trusted key signs, so the signature, issuer, audience,
# recipient and time checks all pass and only the named check can refuse.

def _name_id(root: Any) -> Any:
    return root.find("saml:Assertion/saml:Subject/saml:NameID", NS)


def no_name_id(root: Any) -> None:
    name_id = _name_id(root)
    name_id.getparent().remove(name_id)


def empty_name_id(root: Any) -> None:
    _name_id(root).text = ""


def encrypted_name_id(root: Any) -> None:
    """An EncryptedID where the NameID was: this SP has no decryption key."""
    name_id = _name_id(root)
    encrypted = etree.Element(f"{{{NS['saml']}}}EncryptedID")
    data = etree.SubElement(encrypted, "{http://www.w3.org/2001/04/xmlenc#}EncryptedData")
    etree.SubElement(data, "{http://www.w3.org/2001/04/xmlenc#}CipherData")
    name_id.getparent().replace(name_id, encrypted)


def foreign_sp_name_qualifier(root: Any) -> None:
    _name_id(root).set("SPNameQualifier", "https://another-sp.example/saml")


def duplicated_attribute_name(root: Any) -> None:
    statement = root.find("saml:Assertion/saml:AttributeStatement", NS)
    statement.append(copy.deepcopy(statement[0]))


def no_attribute_statement(root: Any) -> None:
    statement = root.find("saml:Assertion/saml:AttributeStatement", NS)
    statement.getparent().remove(statement)


SIGNED_BUT_INVALID: list[tuple[str, Callable[[Any], None], str]] = [
    ("missing_name_id", no_name_id, "NameID not found"),
    ("empty_name_id", empty_name_id, "empty NameID"),
    ("encrypted_name_id_without_sp_key", encrypted_name_id, "refused"),
    ("name_id_for_another_sp", foreign_sp_name_qualifier, "SPNameQualifier"),
    ("duplicated_attribute_name", duplicated_attribute_name, "duplicated Name"),
    ("no_attribute_statement", no_attribute_statement, "no AttributeStatement"),
]


@pytest.mark.parametrize(("attack", "edit", "says"), SIGNED_BUT_INVALID,
                         ids=[a for a, _, _ in SIGNED_BUT_INVALID])  # fmt: skip
def test_signed_response_failing_a_later_check_is_refused_not_an_error(
    browser: Browser, attack: str, edit: Callable[[Any], None], says: str
) -> None:
    """Before the fix these ended in 500 "Something went wrong" (python3-saml raised
    while the identity was read, after the request and assertion IDs were spent)."""
    request_id, relay = browser.start_login()
    response = browser.post_acs(signed(browser, request_id, edit=edit), relay)
    assert response.status_code == 403, (response.status_code, response.text[:800])
    refused(response, says=says)
    assert "Sign-in refused" in response.text
    assert browser.served.issuer.calls == []


def test_a_refused_response_does_not_spend_the_login_request(browser: Browser) -> None:
    """The refusal happens before the request ID is consumed: the IdP's next, genuine
    answer to the same request still signs the user in."""
    request_id, relay = browser.start_login()
    refused(browser.post_acs(signed(browser, request_id, edit=no_name_id), relay),
            says="NameID not found")  # fmt: skip
    done = browser.finish(browser.post_acs(signed(browser, request_id), relay))
    assert done.status_code == 303, done.text[:1500]


def test_credential_process_json_before_sign_in_is_403_not_401(browser: Browser) -> None:
    """A session that holds no credentials yet (here: waiting for the role choice, whose
    page carries the session's CSRF token) gets 403: a 401 would need WWW-Authenticate."""
    request_id, relay = browser.start_login()
    xml = signed(browser, request_id, roles=(f"{ROLE},{PROVIDER}", f"{OTHER_ROLE},{PROVIDER}"))
    page = browser.finish(browser.post_acs(xml, relay))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    answer = browser.client.post("/credentials/credential-process",
                                 headers={"X-CSRF-Token": csrf.group(1)})  # fmt: skip
    assert answer.status_code == 403
    assert answer.json() == {"error": "not signed in"}
    assert "www-authenticate" not in answer.headers
