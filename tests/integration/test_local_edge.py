"""The edge of ``qbizfed local aws``: routing, moto services, fault injection, control."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.errors import LocalStackError
from qbizfed.local.stack import LocalAws, LocalAwsSettings
from tests.conftest import FAKE_ADMIN_KEY, FAKE_ADMIN_SECRET, REGION

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def _client(stack: LocalAws, service: str, config: Config | None = None) -> Any:
    return boto3.session.Session(
        aws_access_key_id=FAKE_ADMIN_KEY,
        aws_secret_access_key=FAKE_ADMIN_SECRET,
        region_name=REGION,
    ).client(service, endpoint_url=stack.url, config=config)


def _post_json(url: str, payload: object) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_moto_services_answer_through_the_edge(local_aws: LocalAws, unique_name: str) -> None:
    role = _client(local_aws, "iam").create_role(
        RoleName=unique_name, AssumeRolePolicyDocument="{}"
    )["Role"]
    assert role["Arn"].endswith(f":role/{unique_name}")
    secret = _client(local_aws, "secretsmanager").create_secret(Name=unique_name, SecretString="x")
    assert unique_name in secret["ARN"]
    assert _client(local_aws, "kms").create_key()["KeyMetadata"]["KeyId"]
    s3 = _client(local_aws, "s3")
    s3.create_bucket(Bucket=unique_name)
    assert unique_name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert _client(local_aws, "sts").get_caller_identity()["Account"] == "123456789012"


def test_health_lists_the_services(local_aws: LocalAws) -> None:
    with urllib.request.urlopen(f"{local_aws.url}/_qbizfed/health", timeout=5) as response:
        health = json.loads(response.read())
    assert health["services"] == ["iam", "kms", "qbusiness", "s3", "secretsmanager", "sts"]


def test_a_service_it_does_not_serve_is_refused_by_name(local_aws: LocalAws) -> None:
    with pytest.raises(ClientError) as info:
        _client(local_aws, "sqs", NO_RETRY).list_queues()
    assert "does not serve 'sqs'" in str(info.value)


def test_unsigned_non_federation_request_is_refused(local_aws: LocalAws) -> None:
    request = urllib.request.Request(f"{local_aws.url}/", data=b"Action=ListRoles", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 403
    assert b"MissingAuthenticationTokenException" in info.value.read()


def test_throttling_fault_is_parsed_and_retried_by_botocore(fresh_local_aws: LocalAws) -> None:
    _post_json(
        f"{fresh_local_aws.url}/_qbizfed/faults",
        {"rules": [{"kind": "throttle", "service": "iam", "operation": "ListRoles", "count": 1}]},
    )
    retrying = _client(
        fresh_local_aws, "iam", Config(retries={"max_attempts": 3, "mode": "standard"})
    )
    assert "Roles" in retrying.list_roles()  # first attempt throttled, second served

    _post_json(
        f"{fresh_local_aws.url}/_qbizfed/faults",
        {"rules": [{"kind": "throttle", "service": "iam"}]},
    )
    with pytest.raises(ClientError) as info:
        _client(fresh_local_aws, "iam", NO_RETRY).list_roles()
    assert info.value.response["Error"]["Code"] == "Throttling"


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("kms", "list_keys", "KMSInternalException"),
        ("secretsmanager", "list_secrets", "InternalServiceError"),
        ("sts", "get_caller_identity", "InternalFailure"),
        ("qbusiness", "list_applications", "InternalServerException"),
    ],
)
def test_server_error_fault_in_each_protocol(
    fresh_local_aws: LocalAws, service: str, call: str, code: str
) -> None:
    fresh_local_aws.faults.replace_rules([])
    _post_json(
        f"{fresh_local_aws.url}/_qbizfed/faults", {"rules": [{"kind": "error", "service": service}]}
    )
    with pytest.raises(ClientError) as info:
        getattr(_client(fresh_local_aws, service, NO_RETRY), call)()
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500


def test_bad_fault_rule_is_refused_with_400(fresh_local_aws: LocalAws) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _post_json(f"{fresh_local_aws.url}/_qbizfed/faults", {"rules": [{"kind": "boom"}]})
    assert info.value.code == 400


def test_latency_fault_delays_requests(fresh_local_aws: LocalAws) -> None:
    slept: list[float] = []
    fresh_local_aws.edge._sleep = slept.append
    _post_json(
        f"{fresh_local_aws.url}/_qbizfed/faults",
        {"rules": [{"kind": "latency", "service": "kms", "latency_ms": 250}]},
    )
    _client(fresh_local_aws, "kms").list_keys()
    assert slept == [0.25]


def test_refuses_to_bind_beyond_loopback_without_the_flag() -> None:
    with pytest.raises(LocalStackError) as info:
        LocalAws(LocalAwsSettings(host="0.0.0.0", port=0))
    assert "--allow-non-loopback" in info.value.remedy


def test_port_in_use_is_a_clear_error(local_aws: LocalAws) -> None:
    with pytest.raises(LocalStackError) as info:
        LocalAws(LocalAwsSettings(port=local_aws.port)).start()
    assert "--port" in info.value.remedy


def test_an_action_moto_lacks_is_a_parsable_not_implemented_error(
    local_aws: LocalAws, unique_name: str
) -> None:
    iam = _client(local_aws, "iam", NO_RETRY)
    arn = iam.create_open_id_connect_provider(
        Url=f"https://{unique_name}.example.test", ClientIDList=["a"], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    assert arn
    with pytest.raises(ClientError) as info:
        iam.simulate_custom_policy(PolicyInputList=["{}"], ActionNames=["s3:GetObject"])
    error = info.value.response["Error"]
    assert error["Code"] == "NotImplemented"
    assert "SimulateCustomPolicy is not implemented by qbizfed local" in error["Message"]


def test_client_ids_can_be_added_to_and_removed_from_an_oidc_provider(
    local_aws: LocalAws, unique_name: str
) -> None:
    iam = _client(local_aws, "iam", NO_RETRY)
    arn = iam.create_open_id_connect_provider(
        Url=f"https://{unique_name}.example.test", ClientIDList=["first"]
    )["OpenIDConnectProviderArn"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="second")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="second")
    listed = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]
    assert listed == ["first", "second"]
    iam.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, ClientID="first"
    )
    listed = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]
    assert listed == ["second"]
    with pytest.raises(ClientError) as info:
        iam.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=arn + "-missing", ClientID="x"
        )
    assert info.value.response["Error"]["Code"] == "NoSuchEntity"
