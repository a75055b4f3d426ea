"""AWS error responses in each wire protocol the local stack speaks.

Clients parse errors by protocol: the query protocol (STS, IAM) wants an XML
``ErrorResponse``, the JSON protocols (KMS, Secrets Manager, Q Business) a
``__type``/``message`` body and an ``x-amzn-ErrorType`` header, rest-xml (S3) an
``Error`` element. A fault or refusal that botocore cannot parse would be a bug of
ours showing up as someone else's.
"""

from __future__ import annotations

import json
import uuid
from enum import Enum
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response


class Protocol(Enum):
    QUERY = "query"
    JSON = "json"
    REST_JSON = "rest-json"
    REST_XML = "rest-xml"


SERVICE_PROTOCOLS: dict[str, Protocol] = {
    "sts": Protocol.QUERY,
    "iam": Protocol.QUERY,
    "kms": Protocol.JSON,
    "secretsmanager": Protocol.JSON,
    "s3": Protocol.REST_XML,
    "qbusiness": Protocol.REST_JSON,
}


def request_id() -> str:
    return str(uuid.uuid4())


def error_response(
    service: str, *, status: int, code: str, message: str, sender_fault: bool = True
) -> Response:
    """An error as ``service``'s clients expect to read it."""
    protocol = SERVICE_PROTOCOLS.get(service, Protocol.REST_JSON)
    rid = request_id()
    headers = {"x-amzn-RequestId": rid}
    if protocol is Protocol.QUERY:
        kind = "Sender" if sender_fault else "Receiver"
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        )
        return Response(body, status=status, headers=headers, content_type="text/xml")
    if protocol is Protocol.REST_XML:
        body = (
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{rid}</RequestId></Error>"
        )
        return Response(body, status=status, headers=headers, content_type="application/xml")
    headers["x-amzn-ErrorType"] = code
    payload = {"__type": code, "message": message}
    content_type = "application/x-amz-json-1.1" if protocol is Protocol.JSON else "application/json"
    return Response(json.dumps(payload), status=status, headers=headers, content_type=content_type)


THROTTLING_CODES: dict[str, tuple[int, str]] = {
    "sts": (400, "Throttling"),
    "iam": (400, "Throttling"),
    "kms": (400, "ThrottlingException"),
    "secretsmanager": (400, "ThrottlingException"),
    "s3": (503, "SlowDown"),
    "qbusiness": (429, "ThrottlingException"),
}

SERVER_ERROR_CODES: dict[str, tuple[int, str]] = {
    "sts": (500, "InternalFailure"),
    "iam": (500, "ServiceFailure"),
    "kms": (500, "KMSInternalException"),
    "secretsmanager": (500, "InternalServiceError"),
    "s3": (500, "InternalError"),
    "qbusiness": (500, "InternalServerException"),
}


def throttling_response(service: str) -> Response:
    status, code = THROTTLING_CODES.get(service, (429, "ThrottlingException"))
    return error_response(
        service, status=status, code=code, message="Rate exceeded (injected by qbizfed local)"
    )


def server_error_response(service: str) -> Response:
    status, code = SERVER_ERROR_CODES.get(service, (500, "InternalFailure"))
    return error_response(
        service,
        status=status,
        code=code,
        message="Internal error (injected by qbizfed local)",
        sender_fault=False,
    )
