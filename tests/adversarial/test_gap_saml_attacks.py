"""The SAML Role attribute naming another account, against the local STS over the wire.

The Role attribute is a ``<role arn>,<saml-provider arn>`` pair (AWS docs). A signed
assertion from a trusted IdP must only let a user into the role *and* provider of this
very call, in this account: never a role or provider of another account, never a pair
smuggled next to the genuine one. Each case calls ``AssumeRoleWithSAML`` with boto3
against ``qbizfed local aws`` and must be refused with a 4xx and AWS's code, with no
credentials issued. A control proves the genuine pair is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from qbizfed.local.stack import LocalAws
from tests.support.saml_assertions import (
    AssertionSpec,
    SamlRole,
    build_response,
    encode,
    make_idp,
    register_saml_role,
)

THEIRS = "999999999999"


def their(arn: str) -> str:
    parts = arn.split(":")
    parts[4] = THEIRS
    return ":".join(parts)


def call(local_aws: LocalAws, admin_client: Any, role: SamlRole, assertion: str,
         role_arn: str, principal_arn: str) -> dict[str, Any]:  # fmt: skip
    return dict(admin_client("sts").assume_role_with_saml(
        RoleArn=role_arn, PrincipalArn=principal_arn, SAMLAssertion=assertion))  # fmt: skip


@pytest.fixture
def role(admin_client: Any, unique_name: str) -> tuple[SamlRole, Any]:
    idp = make_idp(f"https://{unique_name}.idp.example.test/saml")
    return register_saml_role(admin_client("iam"), idp, unique_name), idp


def test_control_the_genuine_role_pair_is_accepted(
    local_aws: LocalAws, admin_client: Any, role: tuple[SamlRole, Any]
) -> None:
    saml_role, idp = role
    assertion = encode(build_response(idp, saml_role.spec()))
    answer = call(local_aws, admin_client, saml_role, assertion, saml_role.role_arn,
                  saml_role.provider_arn)  # fmt: skip
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")


# (role pair(s) in the assertion, RoleArn asked for, PrincipalArn given), from our role r.
NOT_IN_ROLE_ATTRIBUTE = "The SAML assertion's Role attribute does not contain"
ROLE_ATTACKS = {  # role values, role asked for, principal, the refusal's message
    "role_attribute_names_another_accounts_role":
        (lambda r: [f"{their(r.role_arn)},{r.provider_arn}"], "ours", "ours",
         NOT_IN_ROLE_ATTRIBUTE),
    "role_attribute_names_another_accounts_provider":
        (lambda r: [f"{r.role_arn},{their(r.provider_arn)}"], "ours", "ours",
         NOT_IN_ROLE_ATTRIBUTE),
    "role_attribute_names_another_account_entirely":
        (lambda r: [f"{their(r.role_arn)},{their(r.provider_arn)}"], "ours", "ours",
         NOT_IN_ROLE_ATTRIBUTE),
    "call_for_another_accounts_role_with_its_pair":
        (lambda r: [f"{their(r.role_arn)},{their(r.provider_arn)}"], "theirs", "theirs",
         "does not exist in this account"),
    "call_for_another_accounts_role_through_our_provider":
        (lambda r: [f"{their(r.role_arn)},{r.provider_arn}"], "theirs", "ours",
         "The SAML provider must be in the same account as the role."),
    "role_pair_smuggled_with_a_third_field":
        (lambda r: [f"{their(r.role_arn)},{r.provider_arn},{r.role_arn}"], "ours", "ours",
         NOT_IN_ROLE_ATTRIBUTE),
    "role_pair_with_wildcard_role":
        (lambda r: [f"{r.role_arn.rsplit('/', 1)[0]}/*,{r.provider_arn}"], "ours", "ours",
         NOT_IN_ROLE_ATTRIBUTE),
}  # fmt: skip


@pytest.mark.parametrize(("pairs", "asked", "principal", "says"), list(ROLE_ATTACKS.values()),
                         ids=list(ROLE_ATTACKS))  # fmt: skip
def test_role_attribute_for_another_account_is_refused(
    local_aws: LocalAws, admin_client: Any, role: tuple[SamlRole, Any],
    pairs: Any, asked: str, principal: str, says: str,
) -> None:  # fmt: skip
    saml_role, idp = role
    spec = AssertionSpec(role_arn=saml_role.role_arn, provider_arn=saml_role.provider_arn,
                         role_values=pairs(saml_role))  # fmt: skip
    role_arn = saml_role.role_arn if asked == "ours" else their(saml_role.role_arn)
    principal_arn = (saml_role.provider_arn if principal == "ours"
                     else their(saml_role.provider_arn))  # fmt: skip
    with pytest.raises(ClientError) as refusal:
        call(local_aws, admin_client, saml_role, encode(build_response(idp, spec)), role_arn,
             principal_arn)  # fmt: skip
    status = refusal.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert 400 <= status < 500, refusal.value.response
    error = refusal.value.response["Error"]
    assert error["Code"] == "InvalidIdentityToken", error
    assert says in error["Message"], error


def _corrupt_certificate(response: bytes) -> bytes:
    """The signed assertion with a non-base64 character inside its ds:X509Certificate."""
    head, marker, tail = response.partition(b"X509Certificate>")
    assert marker, "the assertion carries its signing certificate"
    return head + marker + tail[:100] + b"*" + tail[101:]  # one base64 character replaced


def test_corrupt_certificate_in_the_signature_is_refused_without_a_server_error(
    local_aws: LocalAws, admin_client: Any, role: tuple[SamlRole, Any]
) -> None:
    saml_role, idp = role
    assertion = encode(_corrupt_certificate(build_response(idp, saml_role.spec())))
    with pytest.raises(ClientError) as refusal:
        call(local_aws, admin_client, saml_role, assertion, saml_role.role_arn,
             saml_role.provider_arn)  # fmt: skip
    status = refusal.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert 400 <= status < 500, refusal.value.response["Error"]
    assert refusal.value.response["Error"] == {
        "Type": "Sender", "Code": "InvalidIdentityToken", "Message": "Response signature invalid"
    }
