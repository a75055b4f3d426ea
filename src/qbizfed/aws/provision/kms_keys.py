"""The KMS key that encrypts the IdP client secret, named as the AWS CLI accepts it.

``oidc.secret_kms_key`` (``AWS_SECRET_ENCRYPTION_KEY``) may be a key id, a key ARN, an
alias name (``alias/NAME``) or an alias ARN. The secrets role's ``kms:Decrypt``
statement needs the key's ARN: IAM evaluates a KMS request against the key's ARN, so a
statement naming an alias never matches. ``apply`` resolves the reference with
``kms:DescribeKey`` (read-only); ``export`` builds the ARN in the template where it can
(a key id) and asks for it as a template parameter where it cannot (an alias).
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from qbizfed.errors import ConfigError

SETTING = "oidc.secret_kms_key (AWS_SECRET_ENCRYPTION_KEY)"
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/")
_ALIAS = re.compile(r"^(alias/|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:alias/)")


def is_key_arn(reference: str) -> bool:
    return bool(_KEY_ARN.match(reference))


def is_alias(reference: str) -> bool:
    return bool(_ALIAS.match(reference))


def resolve_key_arn(kms: Any, reference: str) -> str:
    """The key ARN ``reference`` names (no call when it already is one)."""
    if is_key_arn(reference):
        return reference
    try:
        return str(kms.describe_key(KeyId=reference)["KeyMetadata"]["Arn"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
        raise ConfigError(
            f"{SETTING} = {reference!r}: no such KMS key or alias in this account and region",
            remedy="give the key id, key ARN, alias name (alias/NAME) or alias ARN of the key "
            "that encrypts the secret (aws kms list-aliases shows them)",
        ) from err


def template_key_arn(reference: str) -> str | None:
    """The key ARN as a CloudFormation ``Fn::Sub`` string, or None for an alias (which a
    template cannot resolve: the caller asks for the ARN as a parameter)."""
    if is_key_arn(reference):
        return reference
    if is_alias(reference):
        return None
    return f"arn:${{AWS::Partition}}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/{reference}"
