"""Fuzz target: the local stack's request parsing in front of the Q Business emulator.

Input (NUL-separated): method, request target (path and query, percent-encoded as
sent), ``Authorization`` header, JSON body. The request goes through the edge's
service detection, the SigV4 header parser, the router built from botocore's model,
then input parsing and validation against the model's shapes. Allowed outcomes: an
answer or the typed refusals the emulator turns into AWS error responses
(:class:`SignatureError`, :class:`DataPlaneError`).
"""

from __future__ import annotations

import contextlib
import io
import json
from urllib.parse import unquote

from werkzeug.wrappers import Request

from qbizfed.local.edge import service_of
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError
from qbizfed.local.qbusiness.protocol import parse_input, validate_input
from qbizfed.local.qbusiness.routing import Router
from qbizfed.local.sigv4 import SignatureError, parse_authorization, raw_path_and_query
from tests.fuzz.targets.base import join_fields, split_fields

APP = "a1b2c3d4-0000-4000-8000-000000000001"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=ASIAFAKE/20261126/us-east-1/qbusiness/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


def _wsgi(text: str) -> str:
    """A request-line string as werkzeug's server puts it into the WSGI environ (PEP 3333)."""
    return text.encode("utf-8").decode("latin-1")


def request_of(method: str, target: str, authorization: str, body: bytes) -> Request:
    """The environ werkzeug's server builds from a request line read as latin-1."""
    path, _, query = target.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": _wsgi(unquote(path)),
        "QUERY_STRING": _wsgi(query),
        "RAW_URI": _wsgi(target),
        "REQUEST_URI": _wsgi(target),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4566",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": authorization,
    }
    return Request(environ)


class QBusinessRequestTarget:
    name = "qbusiness_request"

    def __init__(self) -> None:
        self.router = Router()

    def seeds(self) -> list[bytes]:
        chat = json.dumps({"userMessage": "hello", "clientToken": "t-1"}).encode()
        return [
            join_fields(b"POST", f"/applications/{APP}/conversations?sync".encode(),
                        AUTH.encode(), chat),
            join_fields(b"GET", f"/applications/{APP}/conversations?maxResults=10".encode(),
                        AUTH.encode(), b""),
            join_fields(b"PUT", f"/applications/{APP}/conversations/c1/messages/m1/feedback"
                        .encode(), AUTH.encode(),
                        b'{"messageUsefulness":{"usefulness":"USEFUL","submittedAt":1700000000}}'),
            join_fields(b"POST", b"/applications", AUTH.encode(),
                        b'{"displayName":"x","identityType":"AWS_IAM_IDP_OIDC","tags":[]}'),
        ]  # fmt: skip

    def check(self, data: bytes) -> None:
        method, target, authorization, body = split_fields(data, 4)
        request = request_of(
            method.decode("latin-1"),
            target.decode("latin-1"),
            authorization.decode("latin-1"),
            body,
        )
        service_of(request)
        with contextlib.suppress(SignatureError):
            parse_authorization(authorization.decode("latin-1"))
        path, query = raw_path_and_query(request)
        found = self.router.resolve(request.method, path, query)
        if found is None:
            return
        operation, labels = found
        with contextlib.suppress(DataPlaneError):
            validate_input(operation, parse_input(operation, request, labels))
