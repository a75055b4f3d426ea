"""Open redirects: where ``next`` / RelayState may send a browser after sign-in.

A table of hostile targets, each named after its trick; every one must collapse to
``/``. The end-to-end variants (through a real login) are in the OIDC and SAML
refusal modules.
"""

from __future__ import annotations

import pytest

from qbizfed.web.redirects import safe_next_path

HOSTILE: list[tuple[str, str]] = [
    ("absolute_https_url", "https://evil.test/"),
    ("protocol_relative", "//evil.test/"),
    ("backslash_protocol_relative", "/\\evil.test/"),
    ("double_backslash", "\\\\evil.test"),
    ("javascript_scheme", "javascript:alert(1)"),
    ("data_scheme", "data:text/html,<script>alert(1)</script>"),
    ("userinfo_confusion", "http://localhost:80@evil.test/cb"),
    ("encoded_double_slash", "/%2F%2Fevil.test"),
    ("double_encoded_double_slash", "/%252F%252Fevil.test"),
    ("encoded_backslash", "/%5Cevil.test"),
    ("tab_inside_scheme", "/\t/evil.test"),
    ("newline_header_injection", "/\r\nSet-Cookie: x=y"),
    ("relative_without_slash", "evil.test"),
    ("empty", ""),
    ("overlong", "/" + "a" * 600),
]


@pytest.mark.parametrize(("attack", "target"), HOSTILE, ids=[a for a, _ in HOSTILE])
def test_hostile_next_targets_collapse_to_the_start_page(attack: str, target: str) -> None:
    assert safe_next_path(target) == "/"


@pytest.mark.parametrize("target", ["/", "/credentials", "/chat?c=1#top", "/a/b%20c"])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_next_path(target) == target
