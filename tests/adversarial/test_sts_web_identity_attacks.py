"""Hostile web identity tokens and misconfigured trust, each refused as AWS refuses it.

Every case is a row of ``ATTACKS``, named after the attack; each runs through boto3
against the running endpoint with a fresh role, and must fail with AWS's error code
(and a telling message) without issuing a session.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc.jwk import RSAKey

from qbizfed.local.stack import LocalAws
from tests.conftest import REGION
from tests.support.oidc_issuer import (
    OidcIssuer,
    ensure_oidc_provider,
    new_rsa_key,
    oidc_trust_policy,
    register_oidc_role,
    running_oidc_issuer,
)

TokenMaker = Callable[[OidcIssuer], str]
TrustMaker = Callable[[str, OidcIssuer], dict[str, Any]]


def _tamper_payload(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _without_alg(key: RSAKey) -> RSAKey:
    """The same key pair, not bound to RS256, so it can sign with another algorithm."""
    fields = {name: value for name, value in key.as_dict(private=True).items() if name != "alg"}
    return RSAKey.import_key(fields)


def _with_deny(provider_arn: str, issuer: OidcIssuer) -> dict[str, Any]:
    policy = oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id)
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{issuer.host_path}:sub": "user-0001"}},
        }
    )
    return policy


def _other_principal(provider_arn: str, issuer: OidcIssuer) -> dict[str, Any]:
    other = provider_arn.rsplit("/", 1)[0] + "/someone-else.example.test"
    return oidc_trust_policy(other, issuer.host_path, issuer.client_id)


def _no_tag_session(provider_arn: str, issuer: OidcIssuer) -> dict[str, Any]:
    return oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id, tag_session=False)


def _tag_session_explicitly_denied(provider_arn: str, issuer: OidcIssuer) -> dict[str, Any]:
    policy = oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id)
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:TagSession",
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Dept"]}},
        }
    )
    return policy


def _malformed_trust(provider_arn: str, issuer: OidcIssuer) -> dict[str, Any]:
    policy = oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id)
    policy["Statement"][0]["Condition"] = {"StringEqualz": {"x": "y"}}
    return policy


@dataclass(frozen=True)
class Attack:
    name: str
    token: TokenMaker
    code: str
    message: str
    trust: TrustMaker | None = None
    call: Mapping[str, Any] = field(default_factory=dict)


ATTACKS = [
    Attack(
        "forged_signature_same_kid",
        lambda i: i.mint(key=new_rsa_key(i.signing_key.kid or "")),
        "InvalidIdentityToken",
        "signature",
    ),
    Attack(
        "payload_tampered_after_signing",
        lambda i: _tamper_payload(i.mint(), sub="admin"),
        "InvalidIdentityToken",
        "signature",
    ),
    Attack(
        "tags_tampered_after_signing",
        lambda i: _tamper_payload(
            i.mint(), **{"https://aws.amazon.com/tags": {"principal_tags": {"Email": ["x@y.z"]}}}
        ),
        "InvalidIdentityToken",
        "signature",
    ),
    Attack("unsigned_alg_none", lambda i: i.mint_unsigned(), "InvalidIdentityToken", "algorithm"),
    Attack(
        "hs256_key_confusion_with_public_key",
        lambda i: i.mint_hs256_with_public_key(),
        "InvalidIdentityToken",
        "algorithm",
    ),
    Attack(
        "header_alg_differs_from_jwk_alg",
        lambda i: i.mint(key=_without_alg(i.signing_key), header={"alg": "RS384"}),
        "InvalidIdentityToken",
        "algorithm",
    ),
    Attack(
        "unknown_kid",
        lambda i: i.mint(key=new_rsa_key("attacker-key")),
        "InvalidIdentityToken",
        "kid",
    ),
    Attack(
        "expired",
        lambda i: i.mint(issued_offset=-7200, lifetime=3600),
        "ExpiredTokenException",
        "Token expired",
    ),
    Attack("no_exp", lambda i: i.mint(exp=None), "InvalidIdentityToken", "exp"),
    Attack(
        "nbf_in_future",
        lambda i: i.mint(nbf=i.claims()["iat"] + 3600),
        "InvalidIdentityToken",
        "nbf",
    ),
    Attack(
        "iat_in_future",
        lambda i: i.mint(issued_offset=3600),
        "InvalidIdentityToken",
        "iat",
    ),
    Attack(
        "wrong_issuer_no_provider",
        lambda i: i.mint(iss="https://evil.example.test"),
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://evil.example.test",
    ),
    Attack(
        "issuer_with_trailing_slash",
        lambda i: i.mint(iss=i.url + "/"),
        "InvalidIdentityToken",
        "No OpenIDConnect provider found",
    ),
    Attack(
        "wrong_audience",
        lambda i: i.mint(aud="some-other-client"),
        "InvalidIdentityToken",
        "Incorrect token audience",
    ),
    Attack("no_sub", lambda i: i.mint(sub=None), "InvalidIdentityToken", "sub"),
    Attack("garbage_token", lambda i: "not-a-jwt-at-all", "InvalidIdentityToken", "parse"),
    Attack(
        "untagged_token_when_email_required",
        lambda i: i.mint(email=None),
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    ),
    Attack(
        "tag_session_missing_from_trust_policy",
        lambda i: i.mint(),
        "AccessDenied",
        "is not authorized to perform: sts:TagSession",
        trust=_no_tag_session,
    ),
    Attack(
        "tag_session_explicitly_denied_for_a_tag",
        lambda i: i.mint(tags={"principal_tags": {"Email": ["ada@example.com"], "Dept": ["eng"]}}),
        "AccessDenied",
        "sts:TagSession",
        trust=_tag_session_explicitly_denied,
    ),
    Attack(
        "source_identity_without_set_source_identity",
        lambda i: i.mint(extra_claims={"https://aws.amazon.com/source_identity": "ada"}),
        "AccessDenied",
        "sts:SetSourceIdentity",
    ),
    Attack(
        "explicit_deny_beats_allow",
        lambda i: i.mint(sub="user-0001"),
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        trust=_with_deny,
    ),
    Attack(
        "wrong_role_principal",
        lambda i: i.mint(),
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        trust=_other_principal,
    ),
    Attack(
        "unknown_condition_operator_fails_closed",
        lambda i: i.mint(),
        "AccessDenied",
        "Not authorized",
        trust=_malformed_trust,
    ),
    Attack(
        "multivalued_principal_tag",
        lambda i: i.mint(tags={"principal_tags": {"Email": ["a@example.com", "b@example.com"]}}),
        "InvalidIdentityToken",
        "exactly one value",
    ),
    Attack(
        "too_many_session_tags",
        lambda i: i.mint(
            tags={"principal_tags": {"Email": ["a@x.io"], **{f"K{n}": ["v"] for n in range(50)}}}
        ),
        "PackedPolicyTooLarge",
        "50",
    ),
    Attack(
        "tag_value_too_long",
        lambda i: i.mint(tags={"principal_tags": {"Email": ["a" * 257]}}),
        "ValidationError",
        "256",
    ),
    Attack(
        "tag_key_with_aws_prefix",
        lambda i: i.mint(tags={"principal_tags": {"Email": ["a@x.io"], "aws:Role": ["x"]}}),
        "ValidationError",
        "aws:",
    ),
    Attack(
        "transitive_key_not_a_session_tag",
        lambda i: i.mint(
            tags={"principal_tags": {"Email": ["a@x.io"]}, "transitive_tag_keys": ["Dept"]}
        ),
        "ValidationError",
        "Transitive",
    ),
    Attack(
        "duration_above_role_maximum",
        lambda i: i.mint(),
        "ValidationError",
        "MaxSessionDuration",
        call={"DurationSeconds": 7200},
    ),
    Attack(
        "duration_below_minimum",
        lambda i: i.mint(),
        "ValidationError",
        "greater than or equal to 900",
        call={"DurationSeconds": 899},
    ),
    Attack(
        "session_name_too_short",
        lambda i: i.mint(),
        "ValidationError",
        "roleSessionName",
        call={"RoleSessionName": "a"},
    ),
    Attack(
        "session_name_with_space",
        lambda i: i.mint(),
        "ValidationError",
        "regular expression",
        call={"RoleSessionName": "ada lovelace"},
    ),
    Attack(
        "session_name_too_long",
        lambda i: i.mint(),
        "ValidationError",
        "between 2 and 64",
        call={"RoleSessionName": "x" * 65},
    ),
]


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


@pytest.fixture(scope="module")
def iam(local_aws: LocalAws) -> Any:
    return boto3.client("iam", endpoint_url=local_aws.url, region_name=REGION)


@pytest.fixture(scope="module")
def raw_sts(local_aws: LocalAws) -> Any:
    """An unsigned client with client-side validation off, so the server's checks are hit."""
    return boto3.session.Session(region_name=REGION).client(
        "sts",
        endpoint_url=local_aws.url,
        config=Config(
            signature_version=botocore.UNSIGNED,
            parameter_validation=False,
            retries={"max_attempts": 1},
        ),
    )


def _count_sessions(local_aws: LocalAws) -> int:
    return len(local_aws.registry)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused(
    attack: Attack,
    local_aws: LocalAws,
    iam: Any,
    raw_sts: Any,
    issuer: OidcIssuer,
    unique_name: str,
) -> None:
    provider_arn = ensure_oidc_provider(iam, issuer)
    trust = attack.trust(provider_arn, issuer) if attack.trust else None
    role = register_oidc_role(iam, issuer, unique_name, trust_policy=trust)
    params = {
        "RoleArn": role.role_arn,
        "RoleSessionName": "attacker",
        "WebIdentityToken": attack.token(issuer),
        **attack.call,
    }
    before = _count_sessions(local_aws)
    with pytest.raises(ClientError) as info:
        raw_sts.assume_role_with_web_identity(**params)
    error = info.value.response["Error"]
    assert error["Code"] == attack.code, error
    assert attack.message in error["Message"]
    assert _count_sessions(local_aws) == before


def test_role_that_does_not_exist(raw_sts: Any, issuer: OidcIssuer, iam: Any) -> None:
    ensure_oidc_provider(iam, issuer)
    with pytest.raises(ClientError) as info:
        raw_sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/no-such-role-anywhere",
            RoleSessionName="ghost",
            WebIdentityToken=issuer.mint(),
        )
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert info.value.response["Error"]["Message"] == (
        "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    )


def test_idp_outage_is_an_idp_communication_error(raw_sts: Any, iam: Any, unique_name: str) -> None:
    with running_oidc_issuer() as down:
        role = register_oidc_role(iam, down, unique_name)
        token = down.mint()
        down.fail_with_status = 503
        with pytest.raises(ClientError) as info:
            raw_sts.assume_role_with_web_identity(
                RoleArn=role.role_arn, RoleSessionName="outage", WebIdentityToken=token
            )
    assert info.value.response["Error"]["Code"] == "IDPCommunicationError"
    assert "Couldn't retrieve the OpenID configuration from" in (
        info.value.response["Error"]["Message"]
    )
    assert "(HTTP 503)" in info.value.response["Error"]["Message"]


def test_plain_http_issuer_off_loopback_is_never_fetched(
    raw_sts: Any, iam: Any, unique_name: str, issuer: OidcIssuer
) -> None:
    remote = f"http://idp.example.test/{unique_name}"
    provider_arn = iam.create_open_id_connect_provider(
        Url=remote, ClientIDList=[issuer.client_id], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    role_arn = iam.create_role(
        RoleName=unique_name,
        AssumeRolePolicyDocument=json.dumps(
            oidc_trust_policy(provider_arn, remote.split("://")[1], issuer.client_id)
        ),
    )["Role"]["Arn"]
    with pytest.raises(ClientError) as info:
        raw_sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName="plain-http", WebIdentityToken=issuer.mint(iss=remote)
        )
    assert info.value.response["Error"]["Code"] == "InvalidIdentityToken"
    # A plain-http issuer off loopback never even matches a provider (the local STS would
    # have to fetch its keys over plain http): refused before any request is made.
    assert info.value.response["Error"]["Message"] == (
        f"No OpenIDConnect provider found in your account for {remote}"
    )
