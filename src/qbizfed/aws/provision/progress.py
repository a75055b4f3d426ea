"""How provisioning reports progress: a small protocol the CLI implements with Rich.

Keeping it a protocol lets tests record events and lets library users stay silent.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def step(self, message: str) -> None:
        """A call is about to be made (``creating index ...``)."""

    def waiting(self, resource: str, status: str, elapsed: float) -> None:
        """A resource is not ready yet: its current status and seconds waited so far."""

    def finished(self, resource: str, status: str, elapsed: float) -> None:
        """A waited-for resource reached its final status."""


class SilentProgress:
    """Reports nothing."""

    def step(self, message: str) -> None:
        pass

    def waiting(self, resource: str, status: str, elapsed: float) -> None:
        pass

    def finished(self, resource: str, status: str, elapsed: float) -> None:
        pass


class RecordingProgress:
    """Keeps every event, for tests and for ``--output json`` summaries."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def step(self, message: str) -> None:
        self.events.append(("step", message))

    def waiting(self, resource: str, status: str, elapsed: float) -> None:
        self.events.append(("waiting", f"{resource}: {status}"))

    def finished(self, resource: str, status: str, elapsed: float) -> None:
        self.events.append(("finished", f"{resource}: {status}"))
