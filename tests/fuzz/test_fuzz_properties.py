"""Hypothesis property tests over the attacker-facing parsers (bounded: CI-sized).

Two kinds of property per target:
- *robustness*: any input ends in a result or the target's typed refusal, never in
  another exception (``FuzzTarget.check`` on arbitrary bytes and on mutated seeds);
- *soundness*: whatever is accepted satisfies the checks the protocol demands (an
  accepted ID token names our issuer and client, has a nonce that matches and a
  finite, future ``exp``; a signed SAML assertion changed anywhere outside its
  signature is refused; a callback without our state never reaches the token endpoint).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import time
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from qbizfed.errors import QbizfedError
from qbizfed.identity.errors import AuthorizationError
from qbizfed.identity.id_token import validate_id_token
from qbizfed.identity.jwks import JwksCache
from qbizfed.local.qbusiness.api_errors import ValidationError
from qbizfed.local.qbusiness.protocol import parse_input, validate_input
from qbizfed.local.sts.refusal import StsRefusalError
from qbizfed.local.sts.saml_response import validate_saml_response
from qbizfed.local.sts.web_identity import validate_web_identity_token
from tests.fuzz.known_findings import check_skipping_known, known_finding
from tests.fuzz.targets import TARGETS
from tests.fuzz.targets.base import FuzzTarget
from tests.fuzz.targets.id_token import CLIENT_ID, ISSUER, NONCE, IdTokenTarget, good_claims
from tests.fuzz.targets.oidc_callback import OidcCallbackTarget
from tests.fuzz.targets.qbusiness_request import APP, QBusinessRequestTarget, request_of
from tests.fuzz.targets.saml_sp import ACS, SP_ENTITY, SamlSpTarget
from tests.fuzz.targets.sts_saml import ROLE_ARN, SIGN_IN, StsSamlTarget
from tests.fuzz.targets.sts_web_identity import PROVIDER, StsWebIdentityTarget
from tests.support.rp_idp import NS

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DS = "{http://www.w3.org/2000/09/xmldsig#}"


@cache
def target(name: str) -> FuzzTarget:
    return TARGETS[name]()


def must_refuse(target_name: str, call: Any, refusal: type[Exception]) -> None:
    """``call()`` must raise ``refusal`` (or crash exactly as a known open finding)."""
    try:
        call()
    except refusal:
        return
    except Exception as exc:
        if known_finding(target_name, exc) is None:
            raise
        return
    pytest.fail("the mutated input was accepted")


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("name", sorted(TARGETS))
@BOUNDED
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_end_in_a_typed_refusal(name: str, data: bytes) -> None:
    check_skipping_known(name, target(name).check, data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@BOUNDED
@given(
    choice=st.integers(min_value=0),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.binary(min_size=0, max_size=8)), max_size=6
    ),
)
def test_mutated_seeds_end_in_a_typed_refusal(
    name: str, choice: int, edits: list[tuple[int, bytes]]
) -> None:  # fmt: skip
    seeds = target(name).seeds()
    data = bytearray(seeds[choice % len(seeds)])
    for position, replacement in edits:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    check_skipping_known(name, target(name).check, bytes(data))


# --------------------------------------------------------------------------- ID tokens

# Any float, NaN and ±Infinity included: an exp of NaN or Infinity never expires (a
# fixed finding, see known_findings.py), so they are drawn often, on their own too.
FLOATS = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf])
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | FLOATS
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip


def non_finite_times(test: Any) -> Any:
    """Every run also tries each time claim as NaN, +Infinity and -Infinity (explicit
    examples: drawn at random they would be found only now and then)."""
    for name in ("exp", "nbf", "iat"):
        for value in (math.nan, math.inf, -math.inf):
            test = example(changes={name: value}, dropped=[])(test)
    return test


CLAIM_NAMES = st.sampled_from(["iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce"])
CLAIM_VALUES = (
    JSON_VALUES
    | st.sampled_from([ISSUER, ISSUER + "/", CLIENT_ID, NONCE, [CLIENT_ID, "other"]])
    | FLOATS
    | st.integers(min_value=-(2**63), max_value=2**70)
)


def _changed_claims(changes: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {**good_claims(), **changes}
    for name in dropped:
        claims.pop(name, None)
    return claims


def _accepted_claims_are_sound(claims: Any, *, now: float, leeway: float) -> None:
    assert claims["iss"] == ISSUER
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    assert CLIENT_ID in audiences
    azp = claims.get("azp")  # null and absent are the same (OIDC Core §5.3.2)
    assert azp in (None, CLIENT_ID)
    assert len(audiences) == 1 or azp == CLIENT_ID
    exp = claims["exp"]
    assert isinstance(exp, int | float)
    assert not isinstance(exp, bool)
    assert math.isfinite(exp), f"accepted exp={exp!r}"
    assert exp + leeway > now, f"accepted exp={exp!r}"
    iat = claims["iat"]
    assert math.isfinite(iat), f"accepted iat={iat!r}"
    assert iat <= now + leeway, f"accepted iat={iat!r}"


@BOUNDED
@given(changes=st.dictionaries(CLAIM_NAMES, CLAIM_VALUES, max_size=3),
       dropped=st.lists(CLAIM_NAMES, max_size=2))  # fmt: skip
@non_finite_times
def test_an_accepted_id_token_satisfies_every_oidc_check(
    changes: dict[str, Any], dropped: list[str]
) -> None:
    fuzz: IdTokenTarget = target("id_token")  # type: ignore[assignment]
    claims = _changed_claims(changes, dropped)
    token = fuzz.key.sign_rs256({}, claims)
    jwks = JwksCache(ISSUER + "/jwks")
    try:
        validated = fuzz.loop.run_until_complete(validate_id_token(
            token, expected=fuzz.expected, nonce=NONCE, jwks=jwks, http=fuzz.http))  # fmt: skip
    except QbizfedError:
        return
    _accepted_claims_are_sound(validated.claims, now=time.time(), leeway=60)
    assert validated.claims["nonce"] == NONCE


@BOUNDED
@given(changes=st.dictionaries(CLAIM_NAMES, CLAIM_VALUES, max_size=3),
       dropped=st.lists(CLAIM_NAMES, max_size=2))  # fmt: skip
@non_finite_times
def test_the_local_sts_accepts_only_sound_web_identity_tokens(
    changes: dict[str, Any], dropped: list[str]
) -> None:
    from datetime import UTC, datetime

    fuzz: StsWebIdentityTarget = target("sts_web_identity")  # type: ignore[assignment]
    claims = _changed_claims(changes, dropped)
    token = fuzz.key.sign_rs256({}, claims)
    try:
        identity = validate_web_identity_token(
            token, providers=[PROVIDER], keys=fuzz.keys, now=datetime.now(UTC)
        )
    except StsRefusalError:
        return
    assert identity.audience in PROVIDER.client_ids
    exp = claims["exp"]
    assert math.isfinite(exp), f"accepted exp={exp!r}"
    assert exp > time.time(), f"accepted exp={exp!r}"


# --------------------------------------------------------------------------- OIDC callback


@BOUNDED
@given(params=st.dictionaries(
    st.sampled_from(["state", "code", "iss", "error", "error_description", "id_token",
                     "access_token"]) | st.text(max_size=10),
    st.text(max_size=40), max_size=6))  # fmt: skip
def test_a_callback_without_our_state_never_reaches_the_token_endpoint(
    params: dict[str, str],
) -> None:
    fuzz: OidcCallbackTarget = target("oidc_callback")  # type: ignore[assignment]
    pending = fuzz.rp.authorization_request()
    assume(params.get("state") != pending.state)
    fuzz.token_body = b"must not be requested"
    calls: list[str] = []
    original = fuzz._answer

    def spy(request: Any) -> Any:
        calls.append(request.url.path)
        return original(request)

    fuzz.http._transport = __import__("httpx").MockTransport(spy)
    try:
        with pytest.raises(AuthorizationError):
            fuzz.loop.run_until_complete(fuzz.rp.complete(pending, params))
    finally:
        fuzz.http._transport = __import__("httpx").MockTransport(original)
    assert calls == []


# --------------------------------------------------------------------------- SAML


def _text_nodes_outside_signatures(root: Any) -> list[tuple[Any, str | None]]:
    """(element, attribute name or None for text) inside the assertion, off ds:Signature."""
    assertion = root.find("saml:Assertion", NS)
    spots: list[tuple[Any, str | None]] = []
    for element in assertion.iter():
        if (
            not isinstance(element.tag, str)
            or any(a.tag == DS + "Signature" for a in element.iterancestors())
            or element.tag == DS + "Signature"
        ):
            continue
        if element.text and element.text.strip():
            spots.append((element, None))
        spots.extend((element, name) for name in element.attrib)
    return spots


def _mutate_signed(xml: bytes, choice: int, replacement: str) -> bytes | None:
    root = etree.fromstring(xml)
    spots = _text_nodes_outside_signatures(root)
    element, attribute = spots[choice % len(spots)]
    old = element.text if attribute is None else element.get(attribute)
    if replacement == old or (attribute == "ID"):
        return None  # no change, or the reference itself (refused, but not a content change)
    if attribute is None:
        element.text = replacement
    else:
        element.set(attribute, replacement)
    return bytes(etree.tostring(root))


XML_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")), max_size=30
)


@BOUNDED
@given(choice=st.integers(min_value=0), replacement=XML_TEXT)
def test_a_signed_assertion_changed_outside_its_signature_is_refused_by_the_sp(
    choice: int, replacement: str
) -> None:
    fuzz: SamlSpTarget = target("saml_sp")  # type: ignore[assignment]
    request_id = fuzz.sp.authn_request().request_id
    spec = fuzz.idp.spec(sp_entity_id=SP_ENTITY, acs_url=ACS, in_response_to=request_id)
    mutated = _mutate_signed(fuzz.idp.signed_response(spec), choice, replacement)
    assume(mutated is not None)
    assert mutated is not None
    encoded = base64.b64encode(mutated).decode()
    must_refuse("saml_sp", lambda: fuzz.sp.validate_response(encoded), QbizfedError)


@BOUNDED
@given(choice=st.integers(min_value=0), replacement=XML_TEXT)
def test_a_signed_assertion_changed_outside_its_signature_is_refused_by_the_local_sts(
    choice: int, replacement: str
) -> None:
    from datetime import UTC, datetime

    fuzz: StsSamlTarget = target("sts_saml")  # type: ignore[assignment]
    spec = fuzz.idp.spec(sp_entity_id="urn:amazon:webservices", acs_url=SIGN_IN)
    mutated = _mutate_signed(fuzz.idp.signed_response(spec), choice, replacement)
    assume(mutated is not None)
    assert mutated is not None
    encoded = base64.b64encode(mutated).decode()
    must_refuse(
        "sts_saml",
        lambda: validate_saml_response(
            encoded, provider=fuzz.provider, role_arn=ROLE_ARN, now=datetime.now(UTC)
        ),
        StsRefusalError,
    )


# --------------------------------------------------------------------------- Q Business


@BOUNDED
@given(body=st.dictionaries(
    st.sampled_from(["userMessage", "conversationId", "parentMessageId", "clientToken",
                     "attachments", "attributeFilter", "chatMode", "userGroups"]),
    JSON_VALUES, max_size=5))  # fmt: skip
def test_chat_sync_bodies_are_validated_or_refused_with_a_validation_exception(
    body: dict[str, Any],
) -> None:
    fuzz: QBusinessRequestTarget = target("qbusiness_request")  # type: ignore[assignment]
    request = request_of("POST", f"/applications/{APP}/conversations?sync", "",
                         json.dumps(body).encode())  # fmt: skip
    found = fuzz.router.resolve("POST", f"/applications/{APP}/conversations", "sync")
    assert found is not None
    operation, labels = found
    assert operation.name == "ChatSync"
    with contextlib.suppress(ValidationError):
        validate_input(operation, parse_input(operation, request, labels))


@BOUNDED
@given(path=st.text(max_size=60), query=st.text(max_size=30),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))  # fmt: skip
def test_any_path_resolves_to_one_operation_or_none(path: str, method: str, query: str) -> None:
    fuzz: QBusinessRequestTarget = target("qbusiness_request")  # type: ignore[assignment]
    found = fuzz.router.resolve(method, "/" + path, query)
    if found is not None:
        operation, labels = found
        assert operation.http["method"] == method
        assert all(isinstance(v, str) for v in labels.values())


def test_seeds_include_an_accepted_input() -> None:
    """Without this the soundness tests above could be vacuous (everything refused)."""
    fuzz: IdTokenTarget = target("id_token")  # type: ignore[assignment]
    token = fuzz.key.sign_rs256({}, good_claims())
    validated = asyncio.run(_validate(fuzz, token))
    assert validated == "a@example.com"


async def _validate(fuzz: IdTokenTarget, token: str) -> str:
    import httpx

    from tests.fuzz.targets.id_token import jwks_transport

    async with httpx.AsyncClient(transport=jwks_transport(fuzz.key)) as http:
        result = await validate_id_token(token, expected=fuzz.expected, nonce=NONCE,
                                         jwks=JwksCache(ISSUER + "/jwks"), http=http)  # fmt: skip
    return str(result.claims["email"])
