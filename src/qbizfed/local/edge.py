"""One loopback endpoint for every AWS service the local stack serves.

Like LocalStack's edge port: a request is routed by the service name in its SigV4
credential scope (``Authorization`` header or presigned ``X-Amz-Credential``);
unsigned STS federation calls (AssumeRoleWithWebIdentity, AssumeRoleWithSAML) by
their ``Action``. qbizfed's own handlers (the federation STS, the Q Business
emulator) see a request first; what they decline goes to moto.

Control endpoints live under ``/_qbizfed/`` (health, faults, reset); presigned URLs
handed out by the emulator (GetDocumentContent) under ``/_qbizfed/presigned/``, where
the URL itself is the credential, as with S3's.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from qbizfed.errors import ConfigError
from qbizfed.local.faults import FaultInjector, FaultKind, FaultRule
from qbizfed.local.moto_backend import WsgiApp
from qbizfed.local.sigv4 import request_credential_scope
from qbizfed.local.wire import error_response, server_error_response, throttling_response

MOTO_SERVICES = ("iam", "sts", "secretsmanager", "kms", "s3")
UNSIGNED_STS_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
CONTROL_PREFIX = "/_qbizfed/"
PRESIGNED_PREFIX = "/_qbizfed/presigned/"


class ServiceHandler(Protocol):
    """A qbizfed-implemented service (or the part of one moto gets wrong)."""

    def operation_name(self, request: Request) -> str | None:
        """The API operation a request calls, for fault rules; None if unknown."""

    def handle(self, request: Request) -> Response | None:
        """Answer the request, or return None to let moto answer it."""


def _keep_raw_uri(environ: dict[str, Any]) -> None:
    """Signatures and ``{resourceARN}`` labels need the path as sent (``%2F`` intact);
    under ASGI it is the scope's ``raw_path``."""
    scope = environ.get("asgi.scope")
    if scope is None or "RAW_URI" in environ:
        return
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    environ["RAW_URI"] = raw_path.decode("latin-1") + (
        "?" + query.decode("latin-1") if query else ""
    )


MAX_UNSIZED_BODY_BYTES = 64 * 1024 * 1024
"""Most read from a body without Content-Length (HTTP/2 may omit it)."""


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body: Content-Length bytes, or under ASGI (where an HTTP/2 request
    may carry no Content-Length) everything the client sent, up to a limit."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return bytes(environ["wsgi.input"].read(int(length)))
    if "asgi.scope" in environ:
        return bytes(environ["wsgi.input"].read(MAX_UNSIZED_BODY_BYTES))
    return b""


def service_of(request: Request) -> str | None:
    """Which AWS service a request is for, as AWS's front door decides it."""
    signed = request_credential_scope(request).service.lower()
    if signed:
        return signed
    if request.values.get("Action") in UNSIGNED_STS_ACTIONS:
        return "sts"
    return None


def _query_or_json_operation(request: Request) -> str | None:
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    action = request.values.get("Action")
    return str(action) if action else None


class Edge:
    """The WSGI application behind ``qbizfed local aws``."""

    def __init__(
        self,
        *,
        moto_app: WsgiApp,
        handlers: Mapping[str, ServiceHandler],
        faults: FaultInjector,
        on_reset: Callable[[], None],
        sleep: Callable[[float], None] = time.sleep,
        presigned: Callable[[Request], Response] | None = None,
    ) -> None:
        self._moto_app = moto_app
        self._handlers = dict(handlers)
        self._faults = faults
        self._on_reset = on_reset
        self._sleep = sleep
        self._presigned = presigned

    @property
    def services(self) -> list[str]:
        return sorted(set(MOTO_SERVICES) | set(self._handlers))

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        _keep_raw_uri(environ)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        request = Request(environ)
        request.get_data(cache=True)  # body stays readable for handlers that parse forms
        response = self._respond(request)
        if response is None:  # moto answers
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return self._call_moto(request, environ, start_response)
        return response(environ, start_response)

    def _call_moto(
        self, request: Request, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Let moto answer; its HTML crash page for an unimplemented action becomes an
        AWS-style error that SDKs can parse."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        try:
            chunks = self._moto_app(environ, capture)
        except NotImplementedError:
            return self._not_implemented(request)(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status = str(captured.get("status", "500"))
        headers: list[tuple[str, str]] = captured.get("headers", [])
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if status.startswith("500") and "html" in content_type:
            return self._not_implemented(request)(environ, start_response)
        start_response(status, headers)
        return [body]

    @staticmethod
    def _not_implemented(request: Request) -> Response:
        service = service_of(request) or "iam"
        operation = _query_or_json_operation(request) or "this operation"
        return error_response(
            service,
            status=501,
            code="NotImplemented",
            message=f"{operation} is not implemented by qbizfed local (moto {service})",
            sender_fault=False,
        )

    def _respond(self, request: Request) -> Response | None:
        if request.path.startswith(PRESIGNED_PREFIX) and self._presigned is not None:
            if request.method not in ("GET", "HEAD"):
                return Response("Method not allowed", status=405)
            return self._presigned(request)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        service = service_of(request)
        if service is None:
            return error_response(
                "qbusiness",
                status=403,
                code="MissingAuthenticationTokenException",
                message="Missing Authentication Token. The request is not signed with SigV4, "
                "so qbizfed local cannot tell which "
                "AWS service it is for. Sign it (any fake credentials work) or call "
                "AssumeRoleWithWebIdentity/AssumeRoleWithSAML.",
            )
        handler = self._handlers.get(service)
        if handler is None and service not in MOTO_SERVICES:
            return error_response(
                service,
                status=400,
                code="UnknownService",
                message=f"qbizfed local does not serve {service!r}; it serves "
                + ", ".join(self.services),
            )
        operation = (
            handler.operation_name(request) if handler else _query_or_json_operation(request)
        )
        decision = self._faults.decide(service, operation)
        if decision.delay_seconds:
            self._sleep(decision.delay_seconds)
        if decision.outcome is FaultKind.THROTTLE:
            return throttling_response(service)
        if decision.outcome is FaultKind.ERROR:
            return server_error_response(service)
        return handler.handle(request) if handler else None

    def _control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        if action == "health":
            return _json({"status": "ok", "services": self.services})
        if action == "faults" and request.method == "GET":
            return _json({"rules": [_rule_json(rule) for rule in self._faults.rules()]})
        if action == "faults" and request.method in ("POST", "PUT"):
            try:
                payload = json.loads(request.get_data() or b"{}")
                rules = [FaultRule.from_mapping(item) for item in payload.get("rules", [])]
            except (ValueError, AttributeError, ConfigError) as exc:
                return _json({"error": str(exc)}, status=400)
            self._faults.replace_rules(rules)
            return _json({"rules": [_rule_json(rule) for rule in rules]})
        if action == "reset" and request.method == "POST":
            self._on_reset()
            return _json({"status": "reset"})
        return _json({"error": f"unknown control endpoint {request.path}"}, status=404)


def _rule_json(rule: FaultRule) -> dict[str, Any]:
    return {
        "kind": rule.kind.value,
        "service": rule.service,
        "operation": rule.operation,
        "rate": rule.rate,
        "latency_ms": rule.latency_ms,
        "count": rule.remaining,
        "after_events": rule.after_events,
        "stall_seconds": rule.stall_seconds,
        "exception_type": rule.exception_type,
    }


def _json(payload: Mapping[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
