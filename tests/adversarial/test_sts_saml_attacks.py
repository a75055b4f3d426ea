"""Hostile SAML responses and misconfigured trust, each refused as AWS refuses it.

Three tables: ``ATTACKS`` are built per run (they need fresh times and real
signatures) by a named transformation of a legitimate response; ``HOSTILE_PROLOGS``
(XXE, billion laughs, external DTDs, parameter entities, ...) are grafted onto a
response the trusted IdP signed with the right issuer, so that only the XML gate can
refuse them; ``HOSTILE_FILES`` are fixture files under ``data/sts/``. Every case goes
through boto3 against the running endpoint and must fail with an AWS error code and
the reason, never a crash, and issue no session.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from lxml import etree

from qbizfed.local.stack import LocalAws
from tests.adversarial.hostile_xml import HOSTILE_PROLOGS, HostileProlog, with_prolog
from tests.conftest import REGION
from tests.support.saml_assertions import (
    DS,
    SAML,
    SAMLP,
    SamlIdp,
    SamlRole,
    build_response,
    encode,
    make_idp,
    register_saml_role,
    saml_trust_policy,
)

DATA = Path(__file__).parent / "data" / "sts"
Maker = Callable[[SamlIdp, SamlRole, SamlIdp], str]
"""(idp, role, attacker idp) -> the SAMLAssertion parameter."""
TrustMaker = Callable[[str], dict[str, Any]]


def _parse(response: bytes) -> Any:
    return etree.fromstring(response, parser=etree.XMLParser(resolve_entities=False))


def _serialise(root: Any) -> str:
    return encode(etree.tostring(root))


def _assertion(root: Any) -> Any:
    return root.find(f"{{{SAML}}}Assertion")


def _tamper_email(idp: SamlIdp, role: SamlRole, _: SamlIdp) -> str:
    root = _parse(build_response(idp, role.spec()))
    for value in root.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == "ada@example.com":
            value.text = "ceo@example.com"
    return _serialise(root)


def _transplant_signature(idp: SamlIdp, role: SamlRole, _: SamlIdp) -> str:
    """A valid signature from Ada's assertion pasted into an unsigned one for the CEO."""
    signed = _parse(build_response(idp, role.spec()))
    evil = _parse(build_response(idp, role.spec(email="ceo@example.com"), sign="none"))
    signature = _assertion(signed).find(f"{{{DS}}}Signature")
    evil_assertion = _assertion(evil)
    evil_assertion.insert(1, copy.deepcopy(signature))
    return _serialise(evil)


def _evil_assertion_first(idp: SamlIdp, role: SamlRole, _: SamlIdp) -> str:
    """Wrapping: an unsigned assertion placed before the validly signed one."""
    root = _parse(build_response(idp, role.spec()))
    evil = _assertion(_parse(build_response(idp, role.spec(email="ceo@example.com"), sign="none")))
    root.insert(list(root).index(_assertion(root)), evil)
    return _serialise(root)


def _signed_assertion_hidden_in_extensions(idp: SamlIdp, role: SamlRole, _: SamlIdp) -> str:
    """Wrapping: the signed assertion moved into samlp:Extensions, an evil one (same ID)
    put where a naive reader looks."""
    root = _parse(build_response(idp, role.spec()))
    signed = _assertion(root)
    evil = _assertion(_parse(build_response(idp, role.spec(email="ceo@example.com"), sign="none")))
    evil.set("ID", signed.get("ID"))
    root.remove(signed)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(signed)
    root.insert(1, extensions)
    root.append(evil)
    return _serialise(root)


def _response_signature_over_other_response(idp: SamlIdp, role: SamlRole, _: SamlIdp) -> str:
    """A whole signed Response for Ada, with its assertion swapped for the CEO's."""
    root = _parse(build_response(idp, role.spec(), sign="response"))
    evil = _assertion(_parse(build_response(idp, role.spec(email="ceo@example.com"), sign="none")))
    root.replace(_assertion(root), evil)
    return _serialise(root)


def _two_signed_assertions(idp: SamlIdp, role: SamlRole, _: SamlIdp) -> str:
    root = _parse(build_response(idp, role.spec()))
    other = _assertion(_parse(build_response(idp, role.spec(email="ceo@example.com"))))
    root.append(other)
    return _serialise(root)


def _spec(**knobs: Any) -> Maker:
    return lambda idp, role, _: encode(build_response(idp, role.spec(**knobs)))


def _deny_ceo(provider_arn: str) -> dict[str, Any]:
    policy = saml_trust_policy(provider_arn)
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:sub": "ada@example.com"}},
        }
    )
    return policy


@dataclass(frozen=True)
class Attack:
    name: str
    assertion: Maker
    code: str
    message: str = ""
    trust: TrustMaker | None = None
    call: Mapping[str, Any] = field(default_factory=dict)


SIGNATURE = "Response signature invalid"
ATTACKS = [
    Attack(
        "unsigned",
        lambda i, r, _: encode(build_response(i, r.spec(), sign="none")),
        "InvalidIdentityToken",
        SIGNATURE,
    ),
    Attack(
        "signed_with_wrong_key",
        lambda i, r, evil: encode(build_response(i, r.spec(), signing_idp=evil)),
        "InvalidIdentityToken",
        SIGNATURE,
    ),
    Attack(
        "response_signed_with_wrong_key",
        lambda i, r, evil: encode(build_response(i, r.spec(), sign="response", signing_idp=evil)),
        "InvalidIdentityToken",
        SIGNATURE,
    ),
    Attack("attribute_tampered_after_signing", _tamper_email, "InvalidIdentityToken", SIGNATURE),
    Attack(
        "signature_transplanted_to_other_assertion",
        _transplant_signature,
        "InvalidIdentityToken",
        SIGNATURE,
    ),
    Attack(
        "wrapping_evil_assertion_before_signed_one",
        _evil_assertion_first,
        "InvalidIdentityToken",
        "exactly one Assertion",
    ),
    Attack(
        "wrapping_signed_assertion_hidden_in_extensions",
        _signed_assertion_hidden_in_extensions,
        "InvalidIdentityToken",
        "exactly one Assertion",
    ),
    Attack(
        "response_signature_with_swapped_assertion",
        _response_signature_over_other_response,
        "InvalidIdentityToken",
        SIGNATURE,
    ),
    Attack("two_assertions", _two_signed_assertions, "InvalidIdentityToken", "exactly one"),
    Attack(
        "no_subject_confirmation",
        _spec(subject_confirmations=0),
        "InvalidIdentityToken",
        "SubjectConfirmation",
    ),
    Attack(
        "two_subject_confirmations",
        _spec(subject_confirmations=2),
        "InvalidIdentityToken",
        "SubjectConfirmation",
    ),
    Attack(
        "confirmation_without_not_on_or_after",
        _spec(confirmation_not_on_or_after_offset=None),
        "InvalidIdentityToken",
        "NotOnOrAfter",
    ),
    Attack(
        "confirmation_without_recipient",
        _spec(recipient=None),
        "InvalidIdentityToken",
        "Recipient",
    ),
    Attack(
        "recipient_not_matching_saml_aud",
        _spec(recipient="https://evil.example.test/saml"),
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithSAML",
    ),
    Attack(
        "expired",
        _spec(not_on_or_after_offset=-600, confirmation_not_on_or_after_offset=-600),
        "ExpiredTokenException",
        "expired",
    ),
    Attack(
        "conditions_expired_confirmation_fresh",
        _spec(not_on_or_after_offset=-600),
        "ExpiredTokenException",
        "expired",
    ),
    Attack(
        "not_yet_valid",
        _spec(not_before_offset=3600),
        "InvalidIdentityToken",
        "not yet valid",
    ),
    Attack(
        "session_not_on_or_after_passed",
        _spec(session_not_on_or_after_offset=-60),
        "ExpiredTokenException",
        "SessionNotOnOrAfter",
    ),
    Attack(
        "role_pair_for_another_role",
        lambda i, r, _: encode(
            build_response(i, r.spec(role_values=[f"{r.role_arn}-admin,{r.provider_arn}"]))
        ),
        "InvalidIdentityToken",
        "Role attribute",
    ),
    Attack(
        "role_pair_in_reversed_order",
        lambda i, r, _: encode(
            build_response(i, r.spec(role_values=[f"{r.provider_arn},{r.role_arn}"]))
        ),
        "InvalidIdentityToken",
        "Role attribute",
    ),
    Attack(
        "no_role_attribute",
        _spec(role_values=[]),
        "InvalidIdentityToken",
        "Role attribute",
    ),
    Attack(
        "missing_role_session_name",
        _spec(session_name=None),
        "InvalidIdentityToken",
        "RoleSessionName",
    ),
    Attack(
        "bad_role_session_name",
        _spec(session_name="ada lovelace"),
        "InvalidIdentityToken",
        "RoleSessionName in AuthnResponse must match",
    ),
    Attack(
        "issuer_not_the_metadata_entity",
        _spec(issuer="https://evil.example.test/saml"),
        "InvalidIdentityToken",
        "Issuer",
    ),
    Attack(
        "status_not_success",
        _spec(status="urn:oasis:names:tc:SAML:2.0:status:Responder"),
        "InvalidIdentityToken",
        "Success",
    ),
    Attack(
        "multivalued_principal_tag",
        _spec(
            extra_attributes={
                "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Team": ["a", "b"]
            }
        ),
        "InvalidIdentityToken",
        "exactly one value",
    ),
    Attack(
        "tag_session_missing_from_trust_policy",
        _spec(),
        "AccessDenied",
        "is not authorized to perform: sts:TagSession",
        trust=lambda arn: saml_trust_policy(arn, tag_session=False),
    ),
    Attack(
        "explicit_deny_beats_allow",
        _spec(),
        "AccessDenied",
        "Not authorized",
        trust=_deny_ceo,
    ),
    Attack(
        "wrong_role_principal",
        _spec(),
        "AccessDenied",
        "Not authorized",
        trust=lambda arn: saml_trust_policy(arn + "-other"),
    ),
    Attack(
        "duration_above_role_maximum",
        _spec(),
        "ValidationError",
        "MaxSessionDuration",
        call={"DurationSeconds": 7200},
    ),
    Attack(
        "garbage_base64",
        lambda i, r, _: "!!! this is not base64 !!!",
        "InvalidIdentityToken",
        "base64",
    ),
    Attack(
        "base64_of_not_xml",
        lambda i, r, _: base64.b64encode(b"\x00\x01 definitely not xml").decode(),
        "InvalidIdentityToken",
        "XML",
    ),
]

NOT_SAFE_XML = "Invalid SAML response: it is not a safe, well-formed XML document."
HOSTILE_FILES: dict[str, str] = {  # fixture file -> the reason it is refused
    "saml_encrypted_assertion.xml": "encrypted assertions are not supported",
    "saml_not_a_response.xml": "the document is not a samlp:Response",
    "saml_truncated.xml": NOT_SAFE_XML,
}


@pytest.fixture(scope="module")
def idp() -> SamlIdp:
    return make_idp()


@pytest.fixture(scope="module")
def attacker_idp() -> SamlIdp:
    return make_idp()  # same entity ID, different key


@pytest.fixture(scope="module")
def iam(local_aws: LocalAws) -> Any:
    return boto3.client("iam", endpoint_url=local_aws.url, region_name=REGION)


@pytest.fixture(scope="module")
def raw_sts(local_aws: LocalAws) -> Any:
    return boto3.session.Session(region_name=REGION).client(
        "sts",
        endpoint_url=local_aws.url,
        config=Config(
            signature_version=botocore.UNSIGNED,
            parameter_validation=False,
            retries={"max_attempts": 1},
        ),
    )


def _refused(sts: Any, role: SamlRole, assertion: str, **call: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as info:
        sts.assume_role_with_saml(
            RoleArn=role.role_arn,
            PrincipalArn=role.provider_arn,
            SAMLAssertion=assertion,
            **call,
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    error: dict[str, str] = info.value.response["Error"]
    return error


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused(
    attack: Attack,
    local_aws: LocalAws,
    iam: Any,
    raw_sts: Any,
    idp: SamlIdp,
    attacker_idp: SamlIdp,
    unique_name: str,
) -> None:
    provider_arn = f"arn:aws:iam::123456789012:saml-provider/{unique_name}"
    trust = attack.trust(provider_arn) if attack.trust else None
    role = register_saml_role(iam, idp, unique_name, trust_policy=trust)
    assert role.provider_arn == provider_arn
    before = len(local_aws.registry)
    error = _refused(raw_sts, role, attack.assertion(idp, role, attacker_idp), **attack.call)
    assert error["Code"] == attack.code, error
    assert attack.message in error["Message"]
    assert len(local_aws.registry) == before


@pytest.mark.parametrize("prolog", HOSTILE_PROLOGS, ids=[p.name for p in HOSTILE_PROLOGS])
def test_hostile_xml_in_a_trusted_signed_response_is_refused_by_the_xml_gate(
    prolog: HostileProlog,
    local_aws: LocalAws,
    iam: Any,
    raw_sts: Any,
    idp: SamlIdp,
    unique_name: str,
) -> None:
    role = register_saml_role(iam, idp, unique_name)
    before = len(local_aws.registry)
    hostile = with_prolog(build_response(idp, role.spec()), prolog)
    error = _refused(raw_sts, role, encode(hostile))
    assert (error["Code"], error["Message"]) == ("InvalidIdentityToken", NOT_SAFE_XML)
    assert "root:" not in error["Message"]  # nothing from /etc/passwd leaks back
    assert len(local_aws.registry) == before


def test_control_the_signed_response_behind_the_hostile_prologs_is_accepted(
    local_aws: LocalAws, iam: Any, raw_sts: Any, idp: SamlIdp, unique_name: str
) -> None:
    """Without its prolog, the document every case above starts from signs in."""
    role = register_saml_role(iam, idp, unique_name)
    answer = raw_sts.assume_role_with_saml(
        RoleArn=role.role_arn, PrincipalArn=role.provider_arn,
        SAMLAssertion=encode(build_response(idp, role.spec())),
    )  # fmt: skip
    assert local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"]) is not None


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_xml_file_is_refused(
    name: str, iam: Any, raw_sts: Any, idp: SamlIdp, unique_name: str
) -> None:
    role = register_saml_role(iam, idp, unique_name)
    error = _refused(raw_sts, role, encode((DATA / name).read_bytes()))
    assert error["Code"] == "InvalidIdentityToken"
    assert HOSTILE_FILES[name] in error["Message"]


def test_unknown_saml_provider(raw_sts: Any, iam: Any, idp: SamlIdp, unique_name: str) -> None:
    role = register_saml_role(iam, idp, unique_name)
    ghost = SamlRole(
        provider_arn=role.provider_arn + "-ghost", role_arn=role.role_arn, role_name=unique_name
    )
    error = _refused(raw_sts, ghost, encode(build_response(idp, ghost.spec())))
    assert error["Code"] == "InvalidIdentityToken"
    assert ghost.provider_arn in error["Message"]


def test_comment_injection_cannot_truncate_a_value(
    local_aws: LocalAws, iam: Any, raw_sts: Any, idp: SamlIdp, unique_name: str
) -> None:
    """CVE-2017-11427 class: a comment inside a signed value (comments are outside the
    signature) must not make STS read only the text before it."""
    role = register_saml_role(iam, idp, unique_name)
    long_email = "ada@example.com.evil.test"
    root = _parse(build_response(idp, role.spec(email=long_email, session_name="ada-evil")))
    for value in root.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == long_email:
            value.text = "ada@example.com"
            comment = etree.Comment("")
            comment.tail = ".evil.test"
            value.append(comment)
    answer = raw_sts.assume_role_with_saml(
        RoleArn=role.role_arn, PrincipalArn=role.provider_arn, SAMLAssertion=_serialise(root)
    )
    session = local_aws.registry.lookup(answer["Credentials"]["AccessKeyId"])
    assert session is not None
    assert session.email == long_email
