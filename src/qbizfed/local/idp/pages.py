"""HTML pages of the dev IdP: login form, SAML auto-post form, errors, logout.

Every dynamic value goes through :func:`html.escape`. Pages never contain tokens other
than the SAMLResponse being handed to its verified ACS URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from qbizfed.local.idp.users import DEMO_PASSWORD, DemoUser

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; color: #222; }
h1 { font-size: 1.4rem; } .note { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { padding: .3rem .8rem; text-align: left; }
label { display: block; margin: .6rem 0 .2rem; } .error { color: #a00; }
button { display: block; margin-top: 1rem; padding: .4rem 1.2rem; }
"""  # noqa: E501


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def login_page(
    *,
    action: str,
    interaction: str,
    users: Iterable[DemoUser],
    audience: str,
    error: str | None = None,
    default_password_hint: bool = True,
) -> str:
    """The login form: the demo users to choose from, a username and a password field."""
    rows = "".join(
        f"<tr><td><code>{escape(u.username)}</code></td><td>{escape(u.name)}</td>"
        f"<td>{escape(u.email)}</td><td>{escape(', '.join(u.groups) or '—')}</td></tr>"
        for u in users
    )
    options = "".join(
        f'<option value="{escape(u.username)}">{escape(u.name)} ({escape(u.email)})</option>'
        for u in users
    )
    hint = (
        f'<p class="note">Demo password: <code>{escape(DEMO_PASSWORD)}</code></p>'
        if default_password_hint
        else ""
    )
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""
<h1>qbizfed dev IdP — sign in</h1>
<p>Signing in to <strong>{escape(audience)}</strong>.</p>
{problem}
<table><thead><tr><th>user</th><th>name</th><th>email</th><th>groups</th></tr></thead>
<tbody>{rows}</tbody></table>
<form method="post" action="{escape(action)}">
<input type="hidden" name="interaction" value="{escape(interaction)}">
<label for="username">User</label>
<select id="username" name="username">{options}</select>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{hint}
<p class="note">Local development only. Not an identity provider for real users.</p>
"""
    return page("Sign in — qbizfed dev IdP", body)


def auto_post_page(*, action: str, fields: dict[str, str]) -> str:
    """The HTTP-POST binding: a form the browser submits to the ACS URL by itself."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )
    body = (
        f'<form method="post" action="{escape(action)}">{inputs}'
        "<noscript><p>JavaScript is off: press the button to continue.</p></noscript>"
        '<button type="submit">Continue</button></form>'
        "<script>document.forms[0].submit()</script>"
    )
    return page("Signing you in…", body)


def error_page(message: str) -> str:
    body = (
        "<h1>qbizfed dev IdP — request refused</h1>"
        f'<p class="error" role="alert">{escape(message)}</p>'
        '<p class="note">Check the client or service provider registration '
        "(<code>qbizfed local idp --help</code>).</p>"
    )
    return page("Refused — qbizfed dev IdP", body)


def logged_out_page() -> str:
    return page(
        "Signed out — qbizfed dev IdP",
        "<h1>Signed out</h1><p>You are signed out of the qbizfed dev IdP.</p>",
    )


def index_page(*, issuer: str, metadata_url: str, users: Iterable[DemoUser]) -> str:
    rows = "".join(
        f"<li><code>{escape(u.username)}</code> — {escape(u.email)} "
        f"({escape(', '.join(u.groups) or 'no group')})</li>"
        for u in users
    )
    body = (
        "<h1>qbizfed dev IdP</h1>"
        f"<p>OIDC issuer: <code>{escape(issuer)}</code> "
        f'(<a href="{escape(issuer)}/.well-known/openid-configuration">discovery</a>)</p>'
        f'<p>SAML metadata: <a href="{escape(metadata_url)}">{escape(metadata_url)}</a></p>'
        f"<p>Users:</p><ul>{rows}</ul>"
    )
    return page("qbizfed dev IdP", body)
