"""PLACEHOLDER replaced by the Q Business emulator (issue 2)."""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Request, Response

from qbizfed.local.sessions import SessionRegistry
from qbizfed.local.wire import error_response


class QBusinessEmulator:
    def __init__(
        self, *, registry: SessionRegistry, active_delay_seconds: float, corpus_dir: Path | None
    ) -> None:
        self._registry = registry

    def operation_name(self, request: Request) -> str | None:
        return None

    def handle(self, request: Request) -> Response | None:
        return error_response("qbusiness", status=501, code="NotImplemented", message="todo")

    def reset(self) -> None:
        pass
