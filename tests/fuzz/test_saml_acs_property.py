"""Property: a response changed anywhere and re-signed by the trusted IdP never gets a 5xx.

Over HTTP to ``serve``'s ACS (uvicorn on loopback): each example starts a real login
(so ``InResponseTo`` names a request the broker issued), takes the IdP's genuine
response, applies one random change to its content (drop, duplicate or re-text an
element, set or drop an attribute) and only then signs the assertion with the trusted
key. Every check before the signature passes by construction, so whatever the change
breaks is found by the checks after it: the answer must be the sign-in (303) or a
refusal page (4xx) with its reason, never a server error.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.adversarial.test_web_saml_refusals import (
    IDP,
    Browser,
    Served,
    _browser,
    _serve,
    signed,
)

OPERATIONS = ("drop", "duplicate", "text", "set_attribute", "drop_attribute")
ATTRIBUTE_NAMES = ("ID", "Format", "SPNameQualifier", "NameQualifier", "Method", "Recipient",
                   "NotOnOrAfter", "NotBefore", "Name", "Version", "InResponseTo",
                   "SessionNotOnOrAfter", "Destination")  # fmt: skip
TEXTS = st.one_of(
    st.sampled_from(["", " ", "alice@example.com", "2000-01-01T00:00:00Z", "_x", "not a date",
                     IDP.entity_id, "urn:oasis:names:tc:SAML:2.0:status:Requester"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40),
)  # fmt: skip


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server, info = _serve(allow_unsolicited=False)
    yield info
    server.stop()


def _change(operation: str, index: int, name: str, text: str) -> Any:
    def edit(root: Any) -> None:
        assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
        # Anything but the assertion itself and its Issuer (the signature goes after it).
        elements = [e for e in root.iter() if e is not assertion and e is not assertion[0]]
        target = elements[index % len(elements)]
        if operation == "drop" and target.getparent() is not None:
            target.getparent().remove(target)
        elif operation == "duplicate" and target.getparent() is not None:
            target.addnext(copy.deepcopy(target))
        elif operation == "text":
            target.text = text
        elif operation == "set_attribute":
            target.set(name, text)
        elif operation == "drop_attribute":
            target.attrib.pop(name, None)

    return edit


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    operation=st.sampled_from(OPERATIONS),
    index=st.integers(min_value=0, max_value=200),
    name=st.sampled_from(ATTRIBUTE_NAMES),
    text=TEXTS,
)  # fmt: skip
def test_any_resigned_change_ends_in_sign_in_or_a_refusal_never_a_5xx(
    served: Served, operation: str, index: int, name: str, text: str
) -> None:
    assume(all(ch.isprintable() or ch == " " for ch in text))
    with httpx.Client(base_url=served.url, timeout=20) as client:
        browser = Browser(served, client)
        request_id, relay = browser.start_login()
        try:
            xml = signed(browser, request_id, edit=_change(operation, index, name, text))
        except (ValueError, etree.LxmlError):
            assume(False)  # the change made the document unsignable: no such response
            raise
        response = browser.post_acs(xml, relay)
    assert response.status_code < 500, (operation, index, name, text, response.text[:600])
    if response.status_code != 303:
        assert 400 <= response.status_code < 500
        assert 'id="error-remedy"' in response.text


def test_the_property_reaches_the_checks_after_the_signature(served: Served) -> None:
    """Control: an unchanged response signs in, so refusals above are the changes' doing."""
    for browser in _browser(served):
        request_id, relay = browser.start_login()
        acs = browser.post_acs(signed(browser, request_id), relay)
        assert acs.status_code == 303, acs.text[:800]
