"""The rest-json codec: input parsing and validation, output botocore can parse."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from qbizfed.local.qbusiness.api_errors import NotFoundError, ValidationError
from qbizfed.local.qbusiness.pagination import page
from qbizfed.local.qbusiness.protocol import (
    error_response,
    output_response,
    parse_input,
    validate_input,
)
from qbizfed.local.qbusiness.routing import service_model

MODEL = service_model()
APP = "a" * 36
INDEX = "b" * 36


def request(method: str, path: str, body: Any = None, query: str = "") -> Request:
    data = json.dumps(body).encode() if body is not None else b""
    environ = EnvironBuilder(method=method, path=path, query_string=query, data=data).get_environ()
    return Request(environ)


def botocore_parse(operation: str, response: Response) -> dict[str, Any]:
    parser = create_parser("rest-json")
    parsed: dict[str, Any] = parser.parse(
        {
            "status_code": response.status_code,
            "headers": HeadersDict(dict(response.headers)),
            "body": response.get_data(),
        },
        MODEL.operation_model(operation).output_shape,
    )
    return parsed


def test_blob_is_base64_decoded_and_timestamp_parsed() -> None:
    op = MODEL.operation_model("BatchPutDocument")
    body = {
        "documents": [
            {
                "id": "d1",
                "content": {"blob": base64.b64encode(b"hello").decode()},
                "attributes": [{"name": "_last_updated_at", "value": {"dateValue": 1767225600}}],
            }
        ]
    }
    params = parse_input(op, request("POST", "/x", body), {"applicationId": APP, "indexId": INDEX})
    doc = params["documents"][0]
    assert doc["content"]["blob"] == b"hello"
    assert doc["attributes"][0]["value"]["dateValue"] == datetime(2026, 1, 1, tzinfo=UTC)
    validate_input(op, params)


def test_invalid_base64_is_a_validation_error() -> None:
    op = MODEL.operation_model("BatchPutDocument")
    body = {"documents": [{"id": "d1", "content": {"blob": "***not base64***"}}]}
    with pytest.raises(ValidationError) as refused:
        parse_input(op, request("POST", "/x", body), {"applicationId": APP, "indexId": INDEX})
    assert "documents.1.content.blob" in refused.value.message


def test_querystring_members_are_typed() -> None:
    op = MODEL.operation_model("ListGroups")
    params = parse_input(
        op,
        request("GET", "/x", query="updatedEarlierThan=2026-01-01T00:00:00Z&maxResults=3"),
        {"applicationId": APP, "indexId": INDEX},
    )
    assert params["maxResults"] == 3
    assert params["updatedEarlierThan"] == datetime(2026, 1, 1, tzinfo=UTC)


def test_non_numeric_query_value_refused() -> None:
    op = MODEL.operation_model("ListApplications")
    with pytest.raises(ValidationError):
        parse_input(op, request("GET", "/applications", query="maxResults=ten"), {})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
    ids=["truncated_json", "json_array_body"],
)
def test_bad_bodies_refused(body: str, expected: str) -> None:
    op = MODEL.operation_model("CreateApplication")
    environ = EnvironBuilder(method="POST", path="/applications", data=body).get_environ()
    with pytest.raises(ValidationError) as refused:
        parse_input(op, Request(environ), {})
    assert expected in refused.value.message


def test_sensitive_values_are_not_echoed() -> None:
    op = MODEL.operation_model("CreateApplication")
    secret_key_id = "k" * 3000
    params = {"displayName": "ok", "encryptionConfiguration": {"kmsKeyId": secret_key_id}}
    with pytest.raises(ValidationError) as refused:
        validate_input(op, params)
    assert "encryptionConfiguration.kmsKeyId" in refused.value.message
    assert secret_key_id not in refused.value.message


def test_output_is_parsed_by_botocore_with_types() -> None:
    when = datetime(2026, 11, 26, 9, 30, 15, 250000, tzinfo=UTC)
    response = output_response(
        MODEL.operation_model("GetApplication"),
        {"applicationId": APP, "status": "ACTIVE", "createdAt": when, "clientIdsForOIDC": ["c"]},
    )
    parsed = botocore_parse("GetApplication", response)
    assert parsed["applicationId"] == APP
    assert parsed["createdAt"] == when
    assert parsed["clientIdsForOIDC"] == ["c"]
    assert response.headers["x-amzn-RequestId"]


def test_errors_are_parsed_by_botocore_with_extra_members() -> None:
    error = NotFoundError("gone", resource_id=APP, resource_type="AWS::QBusiness::Application")
    response = error_response(error)
    parsed = botocore_parse("GetApplication", response)
    assert parsed["Error"]["Code"] == "ResourceNotFoundException"
    assert parsed["Error"]["Message"] == "gone"
    # botocore's client adds these from the error shape; on the wire they are body members.
    body = json.loads(response.get_data())
    assert body["resourceId"] == APP
    assert body["resourceType"] == "AWS::QBusiness::Application"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_pagination_walks_all_items_and_rejects_foreign_tokens() -> None:
    items = list(range(7))
    seen: list[int] = []
    token: str | None = None
    while True:
        chunk, token = page(items, scope="s1", next_token=token, max_results=3, default_max=10)
        seen.extend(chunk)
        if token is None:
            break
    assert seen == items
    _, foreign = page(items, scope="s2", next_token=None, max_results=3, default_max=10)
    assert foreign is not None
    with pytest.raises(ValidationError):
        page(items, scope="s1", next_token=foreign, max_results=3, default_max=10)
