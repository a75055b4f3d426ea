"""``qbizfed doctor``: find what breaks IAM federation, and say how to fix it.

Read-only by construction: collectors (:mod:`.collect`) make Get/List calls only and
turn what they read into frozen *facts*; checks (``checks_*``) are pure functions of
those facts returning :class:`~qbizfed.doctor.result.CheckResult` values, each saying
what it looked at, OK/WARN/FAIL/SKIP, and for every problem the exact fix. Fix
documents come from :mod:`qbizfed.policies`, the same functions ``admin apply`` uses.

Tokens and assertions given to doctor are decoded *without* verifying their
signature, for diagnosis only (:mod:`.decode`); nothing decoded there is trusted.
The optional end-to-end check (:mod:`.checks_e2e`) is the only place a token or
assertion leaves the machine, and only to STS, as a login would send it.
"""

from qbizfed.doctor.report import render_json, render_text
from qbizfed.doctor.result import CheckResult, DoctorReport, Fix, Status
from qbizfed.doctor.run import DoctorOptions, run_doctor

__all__ = [
    "CheckResult",
    "DoctorOptions",
    "DoctorReport",
    "Fix",
    "Status",
    "render_json",
    "render_text",
    "run_doctor",
]
