"""Report rendering, exit codes, and that secrets never reach the output."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from rich.console import Console

from qbizfed.doctor import CheckResult, DoctorOptions, DoctorReport, Fix, Status
from qbizfed.doctor.collect_idp import probe_redirect_uri
from qbizfed.doctor.report import render_json, render_text
from qbizfed.doctor.statements import allowing, condition_on, matches_action, with_statement


def _report(*statuses: Status) -> DoctorReport:
    return DoctorReport(tuple(
        CheckResult(f"role.c{i}", "x", s, "d", Fix("do it", "aws iam x", '{"a": 1}')
                    if s in (Status.WARN, Status.FAIL) else None)
        for i, s in enumerate(statuses)))


def test_exit_code_is_1_only_with_a_fail() -> None:
    assert _report(Status.OK, Status.SKIP).exit_code == 0
    assert _report(Status.OK, Status.WARN).exit_code == 0
    assert _report(Status.WARN, Status.FAIL).exit_code == 1


def test_json_has_every_result_with_its_fix() -> None:
    data = json.loads(render_json(_report(Status.OK, Status.FAIL)))
    assert data["summary"] == {"OK": 1, "WARN": 0, "FAIL": 1, "SKIP": 0}
    assert data["results"][1]["fix"] == {"summary": "do it", "command": "aws iam x",
                                         "document": '{"a": 1}'}
    assert data["results"][1]["area"] == "role"


def test_text_shows_fixes_and_verdict() -> None:
    out = io.StringIO()
    render_text(_report(Status.OK, Status.WARN, Status.FAIL), Console(file=out, width=120))
    text = out.getvalue()
    assert "fix: do it" in text
    assert "run: aws iam x" in text
    assert "1 FAIL, 1 WARN" in text


def test_options_never_show_the_credential() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzZWNyZXQiOiJ5ZXMifQ.c2ln"
    options = DoctorOptions(credential=token)
    assert token not in repr(options)
    assert "**********" in repr(options)


def test_statement_reading() -> None:
    document = {"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*",
                              "Condition": {"StringEquals": {"AWS:RequestTag/Email": "x"}}}}
    assert allowing(document, "sts:TagSession")
    assert not allowing(document, "iam:PassRole")
    statement = allowing(document, "sts:TagSession")[0]
    assert condition_on(statement, "aws:RequestTag/Email") is not None
    assert matches_action({"Action": ["STS:tagsession"]}, "sts:TagSession")
    grown = with_statement(document, {"Effect": "Deny"})
    assert len(grown["Statement"]) == 2
    assert isinstance(document["Statement"], dict)


PROBE_ANSWERS = {
    "redirect_back_with_error": (httpx.Response(302, headers={
        "location": "https://app.example.com/cb?error=login_required"}), True),
    "redirect_to_a_login_page": (httpx.Response(302, headers={
        "location": "https://idp.example.com/login"}), None),
    "error_page": (httpx.Response(400, text="redirect_uri mismatch"), False),
    "page_without_status": (httpx.Response(200, text="<html>error</html>"), None),
}


@pytest.mark.parametrize(("answer", "accepted"), PROBE_ANSWERS.values(),
                         ids=PROBE_ANSWERS.keys())
def test_redirect_uri_probe_reads_the_idp_answer(answer: httpx.Response,
                                                 accepted: bool | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        probe = probe_redirect_uri(http, "https://idp.example.com/authorize", "client",
                                   "https://app.example.com/cb")
    assert probe.accepted is accepted
    assert seen[0].url.params["prompt"] == "none"
    assert seen[0].url.params["redirect_uri"] == "https://app.example.com/cb"
