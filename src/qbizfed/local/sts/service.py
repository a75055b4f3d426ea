"""PLACEHOLDER replaced by the federation STS (issue 2)."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from qbizfed.local.moto_backend import IamView
from qbizfed.local.sessions import SessionRegistry


class FederationSts:
    def __init__(self, *, iam: IamView, registry: SessionRegistry) -> None:
        self._iam = iam
        self._registry = registry

    def operation_name(self, request: Request) -> str | None:
        action = request.values.get("Action")
        return str(action) if action else None

    def handle(self, request: Request) -> Response | None:
        return None
