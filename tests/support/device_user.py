"""The user's side of a device sign-in (RFC 8628), on "another device": an HTTP client.

It reads what ``qbizfed login --device`` announced (the verification URI and user
code), opens the verification page, types the code, signs in through the IdP's usual
forms, and approves or denies. It drives the dev IdP's pages and npm oidc-provider's
(code entry, confirm with an ``abort`` button, devInteractions login and consent).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.peers.flows import HtmlForm, new_browser, parse_forms

QBIZFED = str(Path(sys.executable).with_name("qbizfed"))


@dataclass(frozen=True)
class Announcement:
    verification_uri: str
    user_code: str
    verification_uri_complete: str | None


def read_announcement(text: str) -> Announcement:
    uri = re.search(r"open this page on any device:\s+(\S+)", text)
    code = re.search(r"enter the code: (\S+)", text)
    complete = re.search(r"\(or open (\S+)\)", text)
    assert uri, text
    assert code, text
    return Announcement(uri.group(1), code.group(1), complete.group(1) if complete else None)


def _submit(
    client: httpx.Client, page: httpx.Response, form: HtmlForm, data: dict[str, str]
) -> httpx.Response:
    target = urljoin(str(page.url), form.action or str(page.url))
    response = client.post(target, data=data)
    while response.is_redirect:
        response = client.get(urljoin(str(response.url), response.headers["location"]))
    return response


def sign_in_device(
    announcement: Announcement,
    *,
    username: str,
    password: str = "demo",
    approve: bool = True,
    user_code: str | None = None,
    max_steps: int = 10,
) -> httpx.Response:
    """Enter the code, sign in, decide; the last page."""
    with new_browser() as client:
        page = client.get(announcement.verification_uri)
        for _ in range(max_steps):
            forms = parse_forms(page.text) if "html" in page.headers.get("content-type", "") else []
            if not forms or page.status_code >= 400:
                return page
            form = forms[0]
            data = dict(form.fields)
            if "user_code" in data and "confirm" not in data:  # the code entry form
                data["user_code"] = user_code or announcement.user_code
            for name in ("login", "username"):
                if name in data or name in form.select_options:
                    data[name] = username
            if "password" in data:
                data["password"] = password
            if "consent" in data:  # the dev IdP's approve/deny form
                data["decision"] = "approve" if approve else "deny"
            aborting = "confirm" in data and not approve  # oidc-provider's confirm form
            if aborting:
                data["abort"] = "yes"
            page = _submit(client, page, form, data)
            if aborting:  # it shows the code entry form again, saying it was interrupted
                return page
        raise AssertionError(f"no final page after {max_steps} steps: {page.url}")


def login_on_another_device(
    *login_args: str, username: str, approve: bool = True
) -> tuple[subprocess.CompletedProcess[str], str]:
    """``qbizfed login ARGS`` as the user runs it; once it prints the code, "another
    device" signs ``username`` in and decides. The finished process (stderr holding
    everything the CLI printed) and the IdP's last page."""
    process = subprocess.Popen(
        [QBIZFED, "login", *login_args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        shown: list[str] = []
        for line in process.stderr:
            shown.append(line)
            if line.startswith("Waiting for you to approve"):
                break
        announced = "".join(shown)
        final = sign_in_device(read_announcement(announced), username=username, approve=approve)
        out, err = process.communicate(timeout=60)
        done = subprocess.CompletedProcess(process.args, process.returncode, out, announced + err)
        return done, final.text
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
