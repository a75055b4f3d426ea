"""What a check returns: what it looked at, its verdict, and the fix for a problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"
    """The check could not run (a fact was unreadable, or a prerequisite failed)."""


@dataclass(frozen=True)
class Fix:
    """How to repair a WARN/FAIL: a sentence, optionally a command and a document.

    ``document`` is JSON text (a policy, a statement) ready to apply as it is;
    ``command`` is an AWS CLI (or qbizfed) command line that applies it.
    """

    summary: str
    command: str | None = None
    document: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"summary": self.summary, "command": self.command, "document": self.document}


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict. ``name`` is stable (``role.tag-session``); its prefix is the area."""

    name: str
    looked_at: str
    status: Status
    detail: str
    fix: Fix | None = None
    needs: tuple[str, ...] = ()
    """IAM permissions (``iam:GetRole``) doctor lacked, when the check was skipped for that."""

    @property
    def area(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def is_problem(self) -> bool:
        return self.status in (Status.WARN, Status.FAIL)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "area": self.area,
            "looked_at": self.looked_at,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix.as_dict() if self.fix else None,
            "needs": list(self.needs),
        }


def ok(name: str, looked_at: str, detail: str) -> CheckResult:
    return CheckResult(name, looked_at, Status.OK, detail)


def warn(name: str, looked_at: str, detail: str, fix: Fix) -> CheckResult:
    return CheckResult(name, looked_at, Status.WARN, detail, fix)


def fail(name: str, looked_at: str, detail: str, fix: Fix) -> CheckResult:
    return CheckResult(name, looked_at, Status.FAIL, detail, fix)


def skip(name: str, looked_at: str, detail: str, needs: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult(name, looked_at, Status.SKIP, detail, needs=needs)


@dataclass(frozen=True)
class DoctorReport:
    """All results, in the order they ran."""

    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status is Status.FAIL)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status is Status.WARN)

    @property
    def problems(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.is_problem)

    @property
    def missing_permissions(self) -> tuple[str, ...]:
        return tuple(sorted({p for r in self.results for p in r.needs}))

    @property
    def exit_code(self) -> int:
        """0 without FAIL (WARN alone is 0), 1 with any FAIL."""
        return 1 if self.failed else 0

    def by_name(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def as_dict(self) -> dict[str, object]:
        counts = {s.value: sum(1 for r in self.results if r.status is s) for s in Status}
        return {
            "results": [r.as_dict() for r in self.results],
            "summary": counts,
            "missing_permissions": list(self.missing_permissions),
            "notes": list(self.notes),
            "exit_code": self.exit_code,
        }
