"""The dev IdP's HTML pages escape everything they show."""

from __future__ import annotations

import pytest

from qbizfed.local.idp import pages
from qbizfed.local.idp.users import DEMO_USERS, DemoUser, Secret

HOSTILE = {
    "script_tag": "<script>alert(1)</script>",
    "attribute_breakout": '"><img src=x onerror=alert(1)>',
    "single_quote_breakout": "'><svg onload=alert(1)>",
}


@pytest.mark.parametrize("attack", HOSTILE, ids=list(HOSTILE))
def test_login_page_escapes_user_data(attack: str) -> None:
    value = HOSTILE[attack]
    user = DemoUser(value, f"{value}@example.com", value, (value,), Secret("x"))
    page = pages.login_page(
        action="/login", interaction=value, users=[user], audience=value, error=value
    )
    assert value not in page
    assert "<script>alert" not in page


@pytest.mark.parametrize("attack", HOSTILE, ids=list(HOSTILE))
def test_auto_post_page_escapes_relay_state_and_action(attack: str) -> None:
    value = HOSTILE[attack]
    page = pages.auto_post_page(
        action="https://sp.test/acs?" + value, fields={"SAMLResponse": "PHg+", "RelayState": value}
    )
    assert value not in page


def test_demo_password_hint_only_when_it_applies() -> None:
    shown = pages.login_page(action="/login", interaction="i", users=DEMO_USERS, audience="a")
    assert "Demo password" in shown
    hidden = pages.login_page(
        action="/login", interaction="i", users=DEMO_USERS, audience="a",
        default_password_hint=False,
    )  # fmt: skip
    assert "Demo password" not in hidden
