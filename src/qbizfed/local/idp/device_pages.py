"""HTML pages of the dev IdP's device sign-in: enter the code, approve or deny, done.

Every dynamic value goes through :func:`html.escape`; the device code never appears.
"""

from __future__ import annotations

from html import escape

from qbizfed.local.idp.device import DEVICE_DECISION_PATH, DEVICE_VERIFICATION_PATH
from qbizfed.local.idp.pages import page


def code_entry_page(*, user_code: str = "", error: str | None = None) -> str:
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""
<h1>qbizfed dev IdP — sign in a device</h1>
<p>Enter the code shown on the device that asks you to sign in.</p>
{problem}
<form method="post" action="{DEVICE_VERIFICATION_PATH}">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" value="{escape(user_code)}" autocomplete="off"
 autocapitalize="characters" spellcheck="false" required maxlength="32">
<button type="submit">Continue</button>
</form>
"""
    return page("Device sign-in — qbizfed dev IdP", body)


def consent_page(*, handle: str, client_id: str, user_code: str, username: str) -> str:
    body = f"""
<h1>Sign in a device?</h1>
<p><strong>{escape(client_id)}</strong> asks to sign in as <strong>{escape(username)}</strong>
on the device showing the code <code>{escape(user_code)}</code>.</p>
<p class="note">Approve only if you started this sign-in yourself and see this code there.</p>
<form method="post" action="{DEVICE_DECISION_PATH}">
<input type="hidden" name="consent" value="{escape(handle)}">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
"""
    return page("Approve device sign-in — qbizfed dev IdP", body)


def decided_page(*, approved: bool) -> str:
    text = (
        "Device signed in. You can close this window and return to your device."
        if approved
        else "Sign-in denied. The device was not signed in."
    )
    return page("Device sign-in — qbizfed dev IdP", f"<h1>{escape(text)}</h1>")
