"""``qbizfed doctor``: find what breaks IAM federation, and say how to fix it.

Doctor stands on ``admin``'s model: :mod:`.collect` reads the account with the reader
``admin plan`` uses (:func:`qbizfed.aws.provision.observed.read_stack`, Get/List calls
only; a refused read is an unknown part, SKIP with the permission to grant) and the
IdP over HTTP, into frozen *facts*. Checks (``checks_*``) are pure functions of those
facts returning :class:`~qbizfed.doctor.result.CheckResult` values, each saying what it
looked at, OK/WARN/FAIL/SKIP, and for every problem the exact fix. :mod:`.checks_plan`
is ``admin plan`` itself, one check per resource against ``desired(config)``; the other
checks say why federation breaks. Fix documents come from
:mod:`qbizfed.aws.provision.desired`, what ``admin apply`` writes.

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
