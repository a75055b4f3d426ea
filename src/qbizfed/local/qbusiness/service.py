"""The Q Business emulator behind ``qbizfed local aws``: one request in, one response out.

Order of work for each request, as AWS's front door does it:

1. route by the botocore model's HTTP bindings (unknown path: ``UnknownOperationException``);
2. verify the SigV4 signature and the session (``qbizfed.local.sigv4``);
3. authorize: a local STS session's IAM policies must allow the operation's actions on
   its resources (``authorization``); then identity-aware operations need the
   session's ``Email`` tag;
4. parse and validate the input against the model's shapes (``protocol``);
5. run the registered handler; an operation nobody registered answers HTTP 501
   "<Operation> is not implemented by qbizfed local" — never a silent success;
6. serialise the result per the output shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from werkzeug.wrappers import Request, Response

from qbizfed.local.qbusiness import (
    chat_controls,
    control_plane,
    data_plane,
    document_content,
    subscriptions,
)
from qbizfed.local.qbusiness.api_errors import AccessDeniedError, NotImplementedByLocalError
from qbizfed.local.qbusiness.authorization import IamAuthorizer
from qbizfed.local.qbusiness.dataplane_errors import DataPlaneError
from qbizfed.local.qbusiness.operations import (
    Access,
    Operation,
    OperationContext,
    OperationRegistry,
)
from qbizfed.local.qbusiness.protocol import (
    error_response,
    output_response,
    parse_input,
    plain_error,
    validate_input,
)
from qbizfed.local.qbusiness.routing import Router
from qbizfed.local.qbusiness.state import DEFAULT_APPLICATION_QUOTA, EmulatorState
from qbizfed.local.sessions import SessionRegistry
from qbizfed.local.sigv4 import (
    Caller,
    SignatureError,
    SigV4Verifier,
    moto_sts_lookup,
    raw_path_and_query,
)

logger = logging.getLogger(__name__)

NOT_AUTHORIZED = "User is not authorized for this service call."


def default_operations() -> OperationRegistry:
    """Every operation the emulator implements."""
    operations = OperationRegistry()
    operations.include(control_plane.registry)
    operations.include(subscriptions.registry)
    operations.include(data_plane.registry)
    operations.include(chat_controls.registry)
    return operations


class QBusinessEmulator:
    """The ``qbusiness`` service of the local stack (werkzeug Request -> Response)."""

    def __init__(
        self,
        *,
        registry: SessionRegistry,
        active_delay_seconds: float,
        corpus_dir: Path | None,
        application_quota: int = DEFAULT_APPLICATION_QUOTA,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._router = Router()
        self._verifier = SigV4Verifier(registry=registry, moto_lookup=moto_sts_lookup, clock=clock)
        self.iam = IamAuthorizer(clock=clock)
        """IAM policy evaluation; the streaming chat endpoint calls ``iam.authorize``."""
        self._operations = default_operations()
        self.state = EmulatorState(
            active_delay_seconds=active_delay_seconds, application_quota=application_quota
        )
        self.corpus_dir = corpus_dir
        data_plane.install(self.state, corpus_dir=corpus_dir)

    @property
    def operations(self) -> OperationRegistry:
        return self._operations

    def operation_name(self, request: Request) -> str | None:
        path, query = raw_path_and_query(request)
        found = self._router.resolve(request.method, path, query)
        return found[0].name if found else None

    def handle(self, request: Request) -> Response | None:
        try:
            return self._handle(request)
        except SignatureError as exc:
            return plain_error(exc.code, exc.status, exc.message)
        except DataPlaneError as exc:
            return error_response(exc)
        except Exception:
            logger.exception("qbusiness emulator failed on %s %s", request.method, request.path)
            return plain_error(
                "InternalServerException",
                500,
                "An internal error occurred in the qbizfed local Q Business emulator.",
            )

    def _handle(self, request: Request) -> Response:
        path, query = raw_path_and_query(request)
        found = self._router.resolve(request.method, path, query)
        if found is None:
            # AWS checks the signature before routing; so do we, then say what is unknown.
            self._verifier.verify(request)
            return plain_error(
                "UnknownOperationException",
                404,
                f"No Q Business operation at {request.method} {request.path}",
            )
        model, labels = found
        caller = self._verifier.verify(request)
        operation = self._operations.get(model.name)
        self._authorize(model.name, operation, caller, labels, request.remote_addr)
        params = parse_input(model, request, labels)
        validate_input(model, params)
        if operation is None:
            raise NotImplementedByLocalError(model.name)
        ctx = OperationContext(
            operation=model.name,
            caller=caller,
            now=self._clock(),
            state=self.state,
            endpoint_url=request.host_url,
        )
        result = operation.handler(ctx, params)
        return output_response(model, result)

    def open_stream(
        self,
        request: Request,
        operation_name: str,
        labels: Callable[[], Mapping[str, str]],
    ) -> OperationContext:
        """Verify and authorize a streaming call's upgrade request exactly as a request
        of that operation (``labels`` gives the URI labels its input names, read once the
        signature holds); its turns then run in the returned context. Raises
        ``SignatureError`` or ``DataPlaneError``."""
        caller = self._verifier.verify(request)
        operation = self._operations.get(operation_name)
        if operation is None:
            raise NotImplementedByLocalError(operation_name)
        self._authorize(operation_name, operation, caller, dict(labels()), request.remote_addr)
        return OperationContext(
            operation=operation_name, caller=caller, now=self._clock(), state=self.state
        )

    def _authorize(
        self,
        name: str,
        operation: Operation | None,
        caller: Caller,
        labels: dict[str, str],
        source_ip: str | None,
    ) -> None:
        evaluated = caller.session is not None and self.iam.enabled
        if evaluated:
            self.iam.authorize_operation(caller, name, labels, source_ip=source_ip)
        if operation is None:
            return
        if operation.access is Access.USER:
            if caller.session is None or caller.email is None:
                raise AccessDeniedError(NOT_AUTHORIZED)
            return
        if evaluated or operation.access is Access.READ or caller.is_admin:
            return
        # Authorization off (the benchmark's baseline): the coarse rule of old.
        session = caller.session
        who = session.assumed_role_arn if session else caller.access_key_id
        raise AccessDeniedError(
            f"User: {who} is not authorized to perform: qbusiness:{operation.name} "
            "because no identity-based policy allows the qbusiness action"
        )

    def serve_presigned(self, request: Request) -> Response:
        """A GET of a presigned URL GetDocumentContent handed out (no SigV4: the link
        itself is the credential)."""
        return document_content.serve_link(
            request,
            state=self.state,
            now=self._clock(),
            lookup=lambda claims: data_plane.document_for(self.state, claims),
        )

    def reset(self) -> None:
        self.state.reset()
