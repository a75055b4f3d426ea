"""Tests written because mutants of the SAML service provider and the AWS tags reader survived.

``make mutate`` (area ``identity``) found behaviour of ``identity/saml.py`` and
``identity/aws_tags.py`` that only the web, creds and STS tests pinned, outside the fast
identity selection. Each test here names the behaviour an IdP or a user relies on; the
README's "Mutation testing" section lists what is still open and why. Responses are built
and signed by the trusted test IdP (``tests/support/rp_idp.py``), so a refusal asserted
here can only come from the check the test names.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from qbizfed.identity.aws_tags import AWS_TAGS_CLAIM, session_tags_from_claims
from qbizfed.identity.errors import (
    MissingEmailClaimError,
    SamlResponseError,
    TooManySessionTagsError,
)
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from tests.adversarial.hostile_xml import HOSTILE_PROLOGS, HostileProlog, with_prolog
from tests.support.rp_idp import SamlIdp, b64

SP_ENTITY = "https://app.rp-test.example/saml/metadata"
ACS = "https://app.rp-test.example/saml/acs"
LOOPBACK_ACS = "http://127.0.0.1:8080/saml/acs"


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return SamlIdp()


SpFactory = Callable[..., SamlServiceProvider]


@pytest.fixture
def make_sp(idp: SamlIdp) -> SpFactory:
    """The one place these tests build SP settings (keyword overrides per test)."""

    def build(**overrides: Any) -> SamlServiceProvider:
        values: dict[str, Any] = {
            "sp_entity_id": SP_ENTITY,
            "acs_url": ACS,
            "idp_entity_id": idp.entity_id,
            "idp_sso_url": idp.entity_id + "/sso",
            "idp_certificates": (idp.key.cert_pem,),
        }
        values.update(overrides)
        return SamlServiceProvider(
            SamlSpSettings(**values), requests=MemoryRequestIdStore(), replay=MemoryReplayCache()
        )

    return build


def signed_response(idp: SamlIdp, sp: SamlServiceProvider) -> bytes:
    """A genuine response to a fresh AuthnRequest of ``sp``, signed by the trusted key."""
    spec = idp.spec(
        sp_entity_id=sp.settings.sp_entity_id,
        acs_url=sp.settings.acs_url,
        in_response_to=sp.authn_request().request_id,
    )
    return idp.signed_response(spec)


def refusal(sp: SamlServiceProvider, raw: str) -> SamlResponseError:
    with pytest.raises(SamlResponseError) as info:
        sp.validate_response(raw)
    return info.value


# -- the AuthnRequest redirect ----------------------------------------------------------


def test_login_redirect_carries_the_callers_relay_state_and_returns_it(
    make_sp: SpFactory,
) -> None:
    redirect = make_sp().authn_request(relay_state="k-7f3a")
    assert redirect.relay_state == "k-7f3a"
    assert parse_qs(urlsplit(redirect.url).query)["RelayState"] == ["k-7f3a"]


def test_login_redirect_without_relay_state_gives_the_idp_nothing_to_echo(
    make_sp: SpFactory,
) -> None:
    # RelayState is an opaque key chosen by the caller, never a URL: without one the IdP
    # gets an empty value (python3-saml's fallback would be this SP's own ACS URL).
    redirect = make_sp().authn_request()
    query = parse_qs(urlsplit(redirect.url).query, keep_blank_values=True)
    assert query["RelayState"] == [""]
    assert redirect.relay_state is None
    request = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    assert f'AssertionConsumerServiceURL="{ACS}"'.encode() in request


# -- an ACS served over plain http on loopback (the local stack) ------------------------


def test_sp_on_a_plain_http_loopback_acs_accepts_a_response_addressed_to_it(
    idp: SamlIdp, make_sp: SpFactory
) -> None:
    sp = make_sp(acs_url=LOOPBACK_ACS)
    identity = sp.validate_response(b64(signed_response(idp, sp)))
    assert identity.email == "alice@example.com"


# -- what is refused before (or by) the XML parser --------------------------------------


def test_saml_response_cut_off_mid_base64_is_refused_as_not_base64(
    idp: SamlIdp, make_sp: SpFactory
) -> None:
    sp = make_sp()
    raw = b64(signed_response(idp, sp))
    error = refusal(sp, raw[:-1])  # one character short: the padding no longer adds up
    assert error.reason == "malformed"
    assert "SAML response is not base64" in str(error)


def test_saml_response_with_non_ascii_characters_is_refused_as_not_base64(
    make_sp: SpFactory,
) -> None:
    error = refusal(make_sp(), "PHNhbWxwOlJlc3BvbnNlLz4=é")
    assert error.reason == "malformed"
    assert "SAML response is not base64" in str(error)


def test_saml_response_that_is_not_well_formed_xml_is_refused_as_such(
    idp: SamlIdp, make_sp: SpFactory
) -> None:
    sp = make_sp()
    error = refusal(sp, b64(signed_response(idp, sp)[:-20]))
    assert error.reason == "malformed"
    assert "SAML response is not well-formed XML" in str(error)


@pytest.fixture
def parser_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every document handed to python3-saml's XML parser (which still parses it)."""
    calls: list[bytes] = []
    parse = OneLogin_Saml2_XML.to_etree

    def recording(xml: Any) -> Any:
        calls.append(xml)
        return parse(xml)

    monkeypatch.setattr(OneLogin_Saml2_XML, "to_etree", staticmethod(recording))
    return calls


@pytest.mark.parametrize("prolog", HOSTILE_PROLOGS, ids=[p.name for p in HOSTILE_PROLOGS])
def test_hostile_prolog_is_refused_before_any_xml_parser_reads_it(
    idp: SamlIdp, make_sp: SpFactory, parser_calls: list[bytes], prolog: HostileProlog
) -> None:
    sp = make_sp()
    raw = b64(with_prolog(signed_response(idp, sp), prolog))
    error = refusal(sp, raw)
    assert error.reason == "dtd"
    assert "declares a DTD or entities" in str(error)
    assert parser_calls == []


def test_lowercase_doctype_is_refused_for_its_dtd_before_parsing(
    idp: SamlIdp, make_sp: SpFactory, parser_calls: list[bytes]
) -> None:
    # XML itself only knows <!DOCTYPE; a lowercase one is still refused as a DTD, not
    # handed to the parser as merely malformed.
    sp = make_sp()
    raw = b64(b"<!doctype samlp:Response>\n" + signed_response(idp, sp))
    error = refusal(sp, raw)
    assert error.reason == "dtd"
    assert parser_calls == []


def test_dtd_in_a_utf16_response_is_refused_by_the_hardened_parser(
    idp: SamlIdp, make_sp: SpFactory, parser_calls: list[bytes]
) -> None:
    # The byte scan cannot see "<!DOCTYPE" in UTF-16; python3-saml's parser (no DTDs, no
    # entities) is the second gate, and its refusal keeps the same reason.
    sp = make_sp()
    document = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<!DOCTYPE samlp:Response [<!ENTITY e "x">]>\n' + signed_response(idp, sp).decode()
    ).encode("utf-16")
    assert b"<!DOCTYPE" not in document.upper()
    error = refusal(sp, b64(document))
    assert error.reason == "dtd"
    assert "SAML response declares a DTD or entities" in str(error)
    assert len(parser_calls) == 1


# -- replay ---------------------------------------------------------------------------


def test_second_use_of_an_assertion_says_it_was_already_used(
    idp: SamlIdp, make_sp: SpFactory
) -> None:
    sp = make_sp(allow_unsolicited=True)
    raw = b64(idp.signed_response(idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS)))
    sp.validate_response(raw)
    error = refusal(sp, raw)
    assert error.reason == "replay"
    assert "SAML assertion was already used" in str(error)
    assert error.remedy == "start the login again"


# -- AWS session tags from an ID token's https://aws.amazon.com/tags claim -------------


def tags_claim(principal: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {AWS_TAGS_CLAIM: {"principal_tags": principal, **rest}}


def tags_refusal(claims: dict[str, Any]) -> MissingEmailClaimError:
    with pytest.raises(MissingEmailClaimError) as info:
        session_tags_from_claims(claims, issuer="https://idp.example.test")
    return info.value


def test_email_tag_as_a_bare_string_is_accepted() -> None:
    tags = session_tags_from_claims(
        tags_claim({"Email": "alice@example.com", "Dept": ["eng"]}), issuer="https://idp"
    )
    assert tags.principal_tags == (("Email", "alice@example.com"), ("Dept", "eng"))
    assert tags.email == "alice@example.com"


@pytest.mark.parametrize(
    "value",
    [[], ["eng", "ops"], [7], 7, None],
    ids=["empty_list", "two_values", "list_of_a_number", "number", "null"],
)
def test_tag_value_that_is_not_one_string_is_refused_naming_the_tag(value: object) -> None:
    error = tags_refusal(tags_claim({"Email": ["alice@example.com"], "Dept": value}))
    assert "session tag 'Dept'" in str(error)
    assert "is not a string or one-string list" in str(error)
    assert "principal_tags.Email" in error.remedy


def test_tag_value_of_256_characters_is_accepted_and_257_refused() -> None:
    longest = "v" * 256
    tags = session_tags_from_claims(
        tags_claim({"Email": ["alice@example.com"], "Dept": [longest]}), issuer="https://idp"
    )
    assert ("Dept", longest) in tags.principal_tags
    error = tags_refusal(tags_claim({"Email": ["alice@example.com"], "Dept": [longest + "v"]}))
    assert "session tag 'Dept' is longer than 256 characters" in str(error)


def test_fifty_tags_are_accepted_and_fifty_one_refused() -> None:
    principal: dict[str, Any] = {f"T{i:02}": ["v"] for i in range(49)}
    principal["Email"] = ["alice@example.com"]
    assert len(session_tags_from_claims(tags_claim(principal), issuer="i").principal_tags) == 50
    principal["T49"] = ["v"]
    with pytest.raises(TooManySessionTagsError) as info:
        session_tags_from_claims(tags_claim(principal), issuer="https://idp.example.test")
    assert "asks for 51 session tags" in str(info.value)
    assert "at most 50" in str(info.value)


@pytest.mark.parametrize("key", ["D", "K" * 128], ids=["one_character", "128_characters"])
def test_tag_keys_of_one_to_128_characters_are_accepted(key: str) -> None:
    tags = session_tags_from_claims(
        tags_claim({"Email": ["alice@example.com"], key: ["v"]}), issuer="https://idp"
    )
    assert (key, "v") in tags.principal_tags


@pytest.mark.parametrize("key", ["", "K" * 129], ids=["empty", "129_characters"])
def test_tag_key_that_is_empty_or_too_long_is_refused(key: str) -> None:
    error = tags_refusal(tags_claim({"Email": ["alice@example.com"], key: ["v"]}))
    assert "session tag key is empty or too long" in str(error)
    assert "principal_tags.Email" in error.remedy


def test_transitive_tag_keys_are_read_in_claim_order() -> None:
    tags = session_tags_from_claims(
        tags_claim(
            {"Email": ["alice@example.com"], "Dept": ["eng"]},
            transitive_tag_keys=["Dept", "Email"],
        ),
        issuer="https://idp",
    )
    assert tags.transitive_tag_keys == ("Dept", "Email")


def test_no_transitive_tag_keys_means_none() -> None:
    tags = session_tags_from_claims(tags_claim({"Email": ["a@x.com"]}), issuer="https://idp")
    assert tags.transitive_tag_keys == ()


@pytest.mark.parametrize(
    "transitive",
    ["Dept", {"Dept": True}, ["Dept", 7], None],
    ids=["a_string", "an_object", "a_list_with_a_number", "null"],
)
def test_transitive_tag_keys_that_are_not_a_list_of_strings_are_ignored(
    transitive: object,
) -> None:
    tags = session_tags_from_claims(
        tags_claim(
            {"Email": ["alice@example.com"], "Dept": ["eng"]}, transitive_tag_keys=transitive
        ),
        issuer="https://idp",
    )
    assert tags.transitive_tag_keys == ()
    assert tags.email == "alice@example.com"
