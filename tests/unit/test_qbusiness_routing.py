"""The router finds every operation of the model from requests botocore itself serialises."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.model import OperationModel, Shape, StructureShape
from botocore.serialize import create_serializer

from qbizfed.local.qbusiness.routing import Router, service_model

MODEL = service_model()
ROUTER = Router(MODEL)


def _filler(shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        return datetime(2026, 1, 1, tzinfo=UTC)
    if kind == "list":
        return ["k"]
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return True
    return "a" * 36


def minimal_params(operation: OperationModel) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    assert isinstance(shape, StructureShape)
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if location == "uri" or (location == "querystring" and name in shape.required_members):
            params[name] = _filler(member)
    return params


def serialised(operation: OperationModel, params: dict[str, Any]) -> tuple[str, str, str]:
    serializer = create_serializer("rest-json", include_validation=False)
    request = serializer.serialize_to_request(params, operation)
    path, _, literal = request["url_path"].partition("?")
    query = "&".join(
        f"{k}={v}" if not isinstance(v, list) else "&".join(f"{k}={i}" for i in v)
        for k, v in request["query_string"].items()
    )
    return request["method"], path, "&".join(q for q in (literal, query) if q)


@pytest.mark.parametrize("name", MODEL.operation_names)
def test_every_operation_routes_to_itself(name: str) -> None:
    operation = MODEL.operation_model(name)
    method, path, query = serialised(operation, minimal_params(operation))
    found = ROUTER.resolve(method, path, query)
    assert found is not None, f"{method} {path}?{query}"
    assert found[0].name == name


def test_chat_sync_is_told_from_chat_by_the_literal_query() -> None:
    chat_sync = ROUTER.resolve("POST", "/applications/" + "a" * 36 + "/conversations", "sync")
    chat = ROUTER.resolve("POST", "/applications/" + "a" * 36 + "/conversations", "")
    assert chat_sync is not None
    assert chat_sync[0].name == "ChatSync"
    assert chat is not None
    assert chat[0].name == "Chat"


def test_encoded_arn_label_stays_one_segment_and_is_decoded() -> None:
    raw = "/v1/tags/arn%3Aaws%3Aqbusiness%3Aus-east-1%3A123456789012%3Aapplication%2Fabc"
    found = ROUTER.resolve("GET", raw, "")
    assert found is not None
    operation, labels = found
    assert operation.name == "ListTagsForResource"
    assert labels == {"resourceARN": "arn:aws:qbusiness:us-east-1:123456789012:application/abc"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("PATCH", "/applications"),
        ("GET", "/applications/a/b/c/d/e/f/g/h"),
        ("GET", "/v1/tags/arn/with/raw/slashes"),
    ],
    ids=["unknown_path", "wrong_method", "too_deep", "unencoded_slashes_in_label"],
)
def test_unknown_requests_do_not_route(method: str, path: str) -> None:
    assert ROUTER.resolve(method, path, "") is None
