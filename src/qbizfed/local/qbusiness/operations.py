"""The emulator's operation registry: operations are plain functions registered by name.

A handler is ``(ctx, params) -> dict``: ``params`` is the validated input as Python
values keyed by the model's member names, the returned dict is keyed the same way
for the output shape. The wire layer (``service``) does everything else, so control
plane and data plane modules only add functions:

    registry = OperationRegistry()

    @registry.operation("GetApplication", access=Access.READ)
    def get_application(ctx: OperationContext, params: Params) -> Result: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from qbizfed.local.sigv4 import Caller

Params = dict[str, Any]
Result = dict[str, Any]


class Access(Enum):
    """Which callers an operation admits besides what IAM decides.

    Local STS sessions are authorized by their IAM policies (``authorization``), so
    ADMIN and READ differ only while that evaluation is switched off.
    """

    ADMIN = "admin"
    """Account principals only (long-term keys, non-federated roles)."""
    READ = "read"
    """Also federated users (the reads the web experience role's policy allows)."""
    USER = "user"
    """Identity-aware: federated sessions carrying an Email tag, acting as that user."""


@dataclass(frozen=True)
class OperationContext:
    """What a handler knows about the call besides its input."""

    operation: str
    caller: Caller
    now: datetime
    state: Any
    """The emulator's state (``EmulatorState``); typed loosely to keep this module a leaf."""
    endpoint_url: str = ""
    """Where the caller reached the emulator (for URLs it hands out, e.g. presigned ones)."""

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    @property
    def region(self) -> str:
        return self.caller.region


Handler = Callable[[OperationContext, Params], Result]


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    access: Access


class OperationRegistry:
    """Name -> handler. Registries compose with ``include``."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def operation(
        self, name: str, *, access: Access = Access.ADMIN
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(Operation(name=name, handler=handler, access=access))
            return handler

        return register

    def add(self, operation: Operation) -> None:
        if operation.name in self._operations:
            raise ValueError(f"operation {operation.name} registered twice")
        self._operations[operation.name] = operation

    def include(self, other: OperationRegistry) -> None:
        for operation in other:
            self.add(operation)

    def get(self, name: str) -> Operation | None:
        return self._operations.get(name)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._operations.values())

    def __contains__(self, name: object) -> bool:
        return name in self._operations
