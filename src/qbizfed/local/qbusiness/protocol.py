"""The rest-json wire protocol of Q Business, driven by botocore's shapes.

Input: URI labels, querystring, headers and the JSON body are read per the
operation's input shape into plain Python values (blobs base64-decoded to bytes,
timestamps to aware datetimes), then validated: types and required members with
botocore's ``ParamValidator``, and the model's constraints (enum, length, range,
pattern) the way AWS's front end checks them, answering ``ValidationException``
naming the field. Values of sensitive shapes are never echoed.

Output: a handler's dict is serialised per the output shape (timestamps as epoch
seconds, blobs base64, ``location: header``/``statusCode`` members outside the
body) so botocore parses it; errors become rest-json errors.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator
from werkzeug.wrappers import Request, Response

from qbizfed.local.loopback import is_loopback_host
from qbizfed.local.qbusiness.api_errors import ValidationError
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError

_NUMERIC = ("integer", "long", "float", "double")


def _json_name(name: str, shape: Shape) -> str:
    return str(shape.serialization.get("name", name))


def _parse_timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, bool):
        raise ValidationError(f"Value at '{path}' is not a valid timestamp.", fields=[(path, "")])
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), UTC)
            except ValueError:
                pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValidationError(
        f"Value at '{path}' is not a valid timestamp.",
        fields=[(path, "Member must be a timestamp")],
    )


MAX_DEPTH = 48
"""Deepest JSON nesting accepted (the model's deepest legitimate input is far shallower)."""


def decode_json_value(value: Any, shape: Shape, path: str, depth: int = 0) -> Any:
    """A JSON value as the Python value the shape stands for."""
    kind = shape.type_name
    if value is None:
        return None
    if depth > MAX_DEPTH:
        raise ValidationError(
            f"The request is nested more than {MAX_DEPTH} levels deep.", reason="CANNOT_PARSE"
        )
    if kind == "structure" and isinstance(value, dict):
        assert isinstance(shape, StructureShape)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = _json_name(name, member)
            if key in value:
                out[name] = decode_json_value(value[key], member, _join(path, name), depth + 1)
        return out
    if kind == "list" and isinstance(value, list):
        assert isinstance(shape, ListShape)
        return [
            decode_json_value(item, shape.member, f"{path}.{i + 1}", depth + 1)
            for i, item in enumerate(value)
        ]
    if kind == "map" and isinstance(value, dict):
        assert isinstance(shape, MapShape)
        return {
            k: decode_json_value(v, shape.value, f"{path}.{k}", depth + 1) for k, v in value.items()
        }
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(
                f"Value at '{path}' failed to satisfy constraint: Member must be valid base64.",
                fields=[(path, "Member must be valid base64")],
            ) from exc
    if kind == "timestamp":
        return _parse_timestamp(value, path)
    return value  # scalars and documents; types are checked by ParamValidator


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _scalar_from_text(text: str, shape: Shape, path: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError as exc:
        raise ValidationError(
            f"Value '{text}' at '{path}' failed to satisfy constraint: Member must be a number.",
            fields=[(path, "Member must be a number")],
        ) from exc
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValidationError(
                f"Value '{text}' at '{path}' failed to satisfy constraint: "
                "Member must be a boolean.",
                fields=[(path, "Member must be a boolean")],
            )
        return text.lower() == "true"
    if kind == "timestamp":
        return _parse_timestamp(text, path)
    return text


def parse_input(
    operation: OperationModel, request: Request, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The operation's input parameters as Python values (not yet validated)."""
    shape = operation.input_shape
    if shape is None:
        return {}
    assert isinstance(shape, StructureShape)
    params: dict[str, Any] = {}
    body: dict[str, Any] | None = None
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = str(member.serialization.get("name", name))
        if location == "uri":
            if wire_name in labels:
                params[name] = _scalar_from_text(labels[wire_name], member, name)
        elif location == "querystring":
            if member.type_name == "list":
                assert isinstance(member, ListShape)
                values = request.args.getlist(wire_name)
                if values:
                    params[name] = [_scalar_from_text(v, member.member, name) for v in values]
            elif wire_name in request.args:
                params[name] = _scalar_from_text(request.args[wire_name], member, name)
        elif location == "header":
            if wire_name in request.headers:
                params[name] = _scalar_from_text(request.headers[wire_name], member, name)
        elif location is None:
            if member.serialization.get("eventstream"):
                continue  # an event-stream payload is not JSON (streaming Chat)
            if body is None:
                body = _json_body(request)
            key = _json_name(name, member)
            if key in body:
                params[name] = decode_json_value(body[key], member, name)
    return params


def _json_body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationError("The request body is not valid JSON.", reason="CANNOT_PARSE") from exc
    if not isinstance(decoded, dict):
        raise ValidationError("The request body must be a JSON object.", reason="CANNOT_PARSE")
    return decoded


# ---------------------------------------------------------------------------- validation

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "a boolean",
    "float": "a number",
    "double": "a number",
    "blob": "a blob",
    "timestamp": "a timestamp",
    "structure": "an object",
    "list": "a list",
    "map": "a map",
}


def _describe(value: Any, shape: Shape) -> str:
    if shape.metadata.get("sensitive") or shape.type_name in ("blob", "structure", "map"):
        return "Value"
    if shape.type_name == "list":
        return "Value"
    text = str(value)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"Value '{text}'"


def _check_constraints(value: Any, shape: Shape, path: str, out: list[tuple[str, str]]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        assert isinstance(shape, StructureShape)
        for required in shape.required_members:
            if value.get(required) is None:
                out.append((_join(path, required), "Member must not be null"))
        if shape.metadata.get("union") and path:
            chosen = [name for name in shape.members if value.get(name) is not None]
            if len(chosen) != 1:
                out.append((path, "Member must have exactly one member set"))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check_constraints(value[name], member, _join(path, name), out)
        return
    if kind == "list" and isinstance(value, list):
        assert isinstance(shape, ListShape)
        _check_length(len(value), meta, path, out, noun="length")
        for i, item in enumerate(value):
            if item is not None:
                _check_constraints(item, shape.member, f"{path}.{i + 1}.member", out)
        return
    if kind == "map" and isinstance(value, dict):
        assert isinstance(shape, MapShape)
        _check_length(len(value), meta, path, out, noun="length")
        for key, item in value.items():
            _check_constraints(key, shape.key, f"{path}.{key}.key", out)
            if item is not None:
                _check_constraints(item, shape.value, f"{path}.{key}.value", out)
        return
    if kind == "string" and isinstance(value, str):
        enum = shape.enum
        if enum and value not in enum:
            out.append((path, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
            return
        _check_length(len(value), meta, path, out, noun="length")
        pattern = meta.get("pattern")
        value = with_loopback_concessions(shape.name, value)
        if pattern and not _pattern_matches(str(pattern), value):
            out.append((path, f"Member must satisfy regular expression pattern: {pattern}"))
        return
    if kind == "blob" and isinstance(value, bytes | bytearray):
        _check_length(len(value), meta, path, out, noun="length")
        return
    if kind in _NUMERIC and isinstance(value, int | float) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            out.append((path, f"Member must have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            out.append((path, f"Member must have value less than or equal to {meta['max']}"))


def _check_length(
    length: int, meta: Mapping[str, Any], path: str, out: list[tuple[str, str]], *, noun: str
) -> None:
    if "min" in meta and length < meta["min"]:
        out.append((path, f"Member must have {noun} greater than or equal to {meta['min']}"))
    if "max" in meta and length > meta["max"]:
        out.append((path, f"Member must have {noun} less than or equal to {meta['max']}"))


_PROVIDER_HOST_PORT = re.compile(r"(:oidc-provider/([^/:]+)):\d{1,5}(?=/|$)")
_HTTP_HOST = re.compile(r"http://([^/:@?#]+)(?::\d{1,5})?(?=/|$)")


def _without_loopback_port(match: re.Match[str]) -> str:
    return match.group(1) if is_loopback_host(match.group(2)) else match.group(0)


def with_loopback_concessions(shape_name: str, value: str) -> str:
    """The local stack's only concessions to the dev IdP, which runs on a loopback port
    over plain http: AWS's pattern for identity-provider ARNs has no ``:`` (so an OIDC
    issuer with a port could never back a real application), and a SAML sign-in URL
    must be https. For loopback hosts only, the value is checked as if it had no port
    and used https; everything else is held to AWS's patterns."""
    if shape_name == "IAMIdentityProviderArn":
        return _PROVIDER_HOST_PORT.sub(_without_loopback_port, value)
    http = _HTTP_HOST.match(value) if shape_name == "SamlAuthenticationUrl" else None
    if http is not None and is_loopback_host(http.group(1)):
        return "https://" + value[len("http://") :]
    return value


_PATTERN_CACHE: dict[str, re.Pattern[str] | None] = {}


def _pattern_matches(pattern: str, value: str) -> bool:
    if pattern not in _PATTERN_CACHE:
        try:
            _PATTERN_CACHE[pattern] = re.compile(pattern, re.DOTALL)
        except re.error:
            _PATTERN_CACHE[pattern] = None  # a Java-only construct: leave it to the handler
    compiled = _PATTERN_CACHE[pattern]
    return compiled is None or compiled.fullmatch(value) is not None


def _type_errors(params: dict[str, Any], shape: StructureShape) -> list[tuple[str, str]]:
    report: Any = ParamValidator().validate(params, shape)
    errors: list[tuple[str, str]] = []
    for error_type, name, additional in getattr(report, "_errors", []):
        path = str(name).removeprefix("input").lstrip(".")
        if error_type == "invalid type":
            words = " or ".join(_TYPE_WORDS.get(t, t) for t in additional.get("valid_types", []))
            errors.append((path, f"Member must be {words}" if words else "Member has wrong type"))
        elif error_type == "missing required field":
            errors.append((_join(path, additional["required_name"]), "Member must not be null"))
    return errors


def validate_input(operation: OperationModel, params: dict[str, Any]) -> None:
    """Raise ``ValidationException`` naming every field that breaks the model."""
    shape = operation.input_shape
    if shape is None:
        return
    assert isinstance(shape, StructureShape)
    problems = _type_errors(params, shape)
    if not problems:
        _check_constraints(params, shape, "", problems)
    if not problems:
        return
    count = len(problems)
    detail = "; ".join(
        f"{_describe_path_value(params, shape, path)} at '{path}' failed to satisfy constraint: "
        f"{message}"
        for path, message in problems
    )
    raise ValidationError(
        f"{count} validation error{'s' if count > 1 else ''} detected: {detail}",
        fields=problems,
    )


def _describe_path_value(params: dict[str, Any], shape: StructureShape, path: str) -> str:
    value: Any = params
    current: Shape = shape
    for part in path.split("."):
        if value is None:
            return "Value null"
        if part == "member" and isinstance(current, ListShape):
            current = current.member
            continue
        if isinstance(current, StructureShape) and isinstance(value, dict):
            if part not in current.members:
                return "Value"
            current = current.members[part]
            value = value.get(part)
        elif isinstance(current, ListShape) and isinstance(value, list):
            try:
                value = value[int(part) - 1]
            except (ValueError, IndexError):
                return "Value"
        else:
            return "Value"
    return "Value null" if value is None else _describe(value, current)


# ---------------------------------------------------------------------------- output


def encode_json_value(value: Any, shape: Shape) -> Any:
    """A Python value as the JSON the shape's clients expect."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[_json_name(name, member)] = encode_json_value(value[name], member)
        return out
    if kind == "list":
        assert isinstance(shape, ListShape)
        return [encode_json_value(item, shape.member) for item in value]
    if kind == "map":
        assert isinstance(shape, MapShape)
        return {k: encode_json_value(v, shape.value) for k, v in value.items()}
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if kind == "timestamp":
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return round(moment.timestamp(), 3)
        return value
    return value


def _header_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def output_response(operation: OperationModel, result: Mapping[str, Any]) -> Response:
    """Serialise a handler's result per the operation's output shape."""
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    status = int(operation.http.get("responseCode", 200))
    body: dict[str, Any] = {}
    shape = operation.output_shape
    if shape is not None:
        assert isinstance(shape, StructureShape)
        for name, member in shape.members.items():
            value = result.get(name)
            if value is None:
                continue
            location = member.serialization.get("location")
            if location == "header":
                headers[str(member.serialization.get("name", name))] = _header_text(value)
            elif location == "statusCode":
                status = int(value)
            else:
                body[_json_name(name, member)] = encode_json_value(value, member)
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(error: DataPlaneError) -> Response:
    """A refusal as rest-json: ``x-amzn-ErrorType`` header and ``{"message": ...}``."""
    payload: dict[str, Any] = {"message": error.message}
    payload.update(getattr(error, "extra", {}))
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": error.code}
    return Response(
        json.dumps(payload), status=error.status, headers=headers, content_type="application/json"
    )


def plain_error(code: str, status: int, message: str) -> Response:
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": code}
    return Response(
        json.dumps({"message": message}),
        status=status,
        headers=headers,
        content_type="application/json",
    )
