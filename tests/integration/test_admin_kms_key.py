"""``oidc.secret_kms_key`` (``AWS_SECRET_ENCRYPTION_KEY``) as the AWS CLI accepts it.

A key id, key ARN, alias name or alias ARN all end as the key's ARN in the secrets
role's ``kms:Decrypt`` statement (IAM evaluates KMS requests against the key ARN, so
a statement naming an alias would never match), resolved with ``kms:DescribeKey``
against ``qbizfed local aws``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from qbizfed.aws.provision import AwsClients, apply_stack, observe
from qbizfed.aws.provision.desired import secrets_role_permission_policy
from qbizfed.aws.provision.export.cloudformation import cloudformation_template
from qbizfed.aws.provision.names import StackNames
from qbizfed.errors import ConfigError
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import StackConfig, config_from_mapping

REGION = "us-east-1"


def _config(name: str, secret_arn: str, kms_key: str) -> StackConfig:
    return config_from_mapping({
        "name": name, "mode": "oidc", "region": REGION,
        "oidc": {"issuer_url": f"https://{name}.idp.example.test/oauth2/default",
                 "client_id": f"client-{name}", "secret_id": secret_arn,
                 "secret_kms_key": kms_key},
    })


def _decrypt_resources(policy: dict[str, Any]) -> list[str]:
    return [resource for statement in policy["Statement"]
            if "kms:Decrypt" in statement["Action"] for resource in statement["Resource"]]


@pytest.fixture
def key(admin_client: Callable[..., Any], unique_name: str) -> dict[str, str]:
    kms = admin_client("kms")
    metadata = kms.create_key(Description="qbizfed test: IdP client secret")["KeyMetadata"]
    alias = f"alias/{unique_name}"
    kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    alias_arn = metadata["Arn"].split(":key/")[0] + f":{alias}"
    return {"id": metadata["KeyId"], "arn": metadata["Arn"], "alias": alias,
            "alias-arn": alias_arn}


@pytest.fixture
def secret_arn(admin_client: Callable[..., Any], unique_name: str) -> str:
    sm = admin_client("secretsmanager")
    return str(sm.create_secret(Name=f"{unique_name}-idp",
                                SecretString='{"client_secret": "not-a-real-secret"}')["ARN"])


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias-arn"])
def test_every_form_of_the_key_becomes_its_arn_in_the_policy(
    form: str, key: dict[str, str], secret_arn: str, unique_name: str, local_aws: LocalAws
) -> None:
    config = _config(unique_name, secret_arn, key[form])
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    observed = observe(config, clients)
    assert observed.secret_kms_key_arn == key["arn"]
    assert _decrypt_resources(secrets_role_permission_policy(config, observed)) == [key["arn"]]


def test_apply_with_an_alias_name_writes_the_key_arn(
    key: dict[str, str], secret_arn: str, unique_name: str, local_aws: LocalAws,
    admin_client: Callable[..., Any],
) -> None:
    config = _config(unique_name, secret_arn, key["alias"])
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    apply_stack(config, clients=clients)
    names = StackNames(config.name)
    document = admin_client("iam").get_role_policy(
        RoleName=names.secrets_role, PolicyName=names.secrets_policy)["PolicyDocument"]
    policy = json.loads(document) if isinstance(document, str) else document
    assert _decrypt_resources(policy) == [key["arn"]]


def test_an_unknown_alias_is_refused_naming_the_setting(
    secret_arn: str, unique_name: str, local_aws: LocalAws
) -> None:
    config = _config(unique_name, secret_arn, f"alias/{unique_name}-missing")
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    with pytest.raises(ConfigError) as refused:
        observe(config, clients)
    assert "AWS_SECRET_ENCRYPTION_KEY" in refused.value.message
    assert "no such KMS key or alias" in refused.value.message


def test_export_builds_the_arn_of_a_key_id_and_asks_for_an_alias_target() -> None:
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:idp-AbCdEf"
    by_id = json.dumps(cloudformation_template(_config("by-id", secret, key_id)))
    assert f"arn:${{AWS::Partition}}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/{key_id}" in by_id
    by_alias = cloudformation_template(_config("by-alias", secret, "alias/idp-secret"))
    assert "SecretKmsKeyArn" in by_alias["Parameters"]
    assert "${SecretKmsKeyArn}" in json.dumps(by_alias["Resources"]["SecretsRole"])
