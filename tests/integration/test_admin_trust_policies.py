"""The trust policies admin writes, judged by the local STS (which evaluates them).

Q Business refuses an OIDC provider ARN with a port, so the OIDC half of a full stack
cannot use a loopback issuer; here the *same* document from
:func:`qbizfed.policies.oidc_trust_policy` is put on a plain role and exercised with
real ID tokens from a loopback issuer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed import policies
from qbizfed.local.stack import LocalAws
from tests.support.oidc_issuer import OidcIssuer, ensure_oidc_provider, running_oidc_issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


def _role(admin_client: Callable[..., Any], issuer: OidcIssuer, name: str,
          *, require_email_tag: bool) -> str:
    iam = admin_client("iam")
    provider_arn = ensure_oidc_provider(iam, issuer)
    trust = policies.oidc_trust_policy(provider_arn=provider_arn,
                                       provider_path=issuer.host_path,
                                       client_id=issuer.client_id,
                                       require_email_tag=require_email_tag)
    return str(iam.create_role(RoleName=name,
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def _assume(url: str, role_arn: str, token: str) -> dict[str, Any]:
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url,
                       config=Config(signature_version=UNSIGNED))
    return dict(sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="ada",
                                                  WebIdentityToken=token))


# (case, token claims knobs, require_email_tag, expected error code or None for success)
CASES: list[tuple[str, dict[str, Any], bool, str | None]] = [
    ("user-with-email-tag", {}, True, None),
    ("token-without-email-tag-refused-by-sts", {"email": None}, True, "AccessDenied"),
    ("token-without-email-tag-allowed-when-not-required", {"email": None}, False, None),
    ("token-for-another-client-id", {"aud": "someone-else"}, True, "InvalidIdentityToken"),
]


@pytest.mark.parametrize(("case", "knobs", "require_email", "error"), CASES,
                         ids=[c[0] for c in CASES])
def test_oidc_trust_policy_at_sts(local_aws: LocalAws, admin_client: Callable[..., Any],
                                  issuer: OidcIssuer, unique_name: str, case: str,
                                  knobs: dict[str, Any], require_email: bool,
                                  error: str | None) -> None:
    role_arn = _role(admin_client, issuer, unique_name, require_email_tag=require_email)
    token = issuer.mint(**knobs)
    if error is None:
        answer = _assume(local_aws.url, role_arn, token)
        assert answer["Credentials"]["AccessKeyId"]
        return
    with pytest.raises(ClientError) as info:
        _assume(local_aws.url, role_arn, token)
    assert info.value.response["Error"]["Code"] == error
