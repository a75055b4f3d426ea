"""The attack catalogue counts the product and the local stack apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.adversarial.catalogue import LOCAL, PRODUCT, Case, render, scope_counts, scope_of


def case(nodeid: str, scope: str, *, group: str = "SAML", control: bool = False) -> Case:
    file, _, function = nodeid.partition("::")
    return Case(nodeid=f"tests/adversarial/{nodeid}", file=file, function=function, param=None,
                group=group, target="t", scope=scope, control=control, open_gap=None)  # fmt: skip


CASES = [
    case("test_web_saml_refusals.py::test_a", PRODUCT),
    case("test_identity_saml_responses.py::test_b", PRODUCT),
    case("test_sts_saml_attacks.py::test_c", LOCAL),
    case("test_web_saml_refusals.py::test_control_d", PRODUCT, control=True),
]


def test_attack_cases_are_counted_per_scope_without_controls() -> None:
    assert scope_counts(CASES) == {PRODUCT: 2, LOCAL: 1}


def test_the_catalogue_states_both_figures() -> None:
    text = render(CASES, [])
    assert "**2** attack cases against the product" in text
    assert "**1** attack cases against the local stack" in text
    assert "| SAML | 2 | 1 | 1 | 0 |" in text


@pytest.mark.parametrize(
    ("file", "function", "scope"),
    [
        ("test_gap_oidc_attacks.py", "test_token_that_never_expires_is_refused_by_the_local_sts",
         LOCAL),
        ("test_gap_oidc_attacks.py", "test_nonce_replayed_from_an_earlier_login_is_refused",
         PRODUCT),
        ("test_gap_saml_xsw.py", "test_signature_wrapping_is_refused_by_the_local_sts", LOCAL),
        ("test_idp_saml_refusals.py", "test_x", LOCAL),
        ("test_creds_cache_attacks.py", "test_x", PRODUCT),
        ("test_web_new_surface.py", "test_x", PRODUCT),
        ("test_sts_new_surface.py", "test_x", LOCAL),
    ],
)  # fmt: skip
def test_each_file_and_mixed_case_gets_its_scope(file: str, function: str, scope: str) -> None:
    assert scope_of(file, function) == scope


def test_the_readme_quotes_the_catalogues_two_figures() -> None:
    """After regenerating CATALOGUE.md, the README's Security section must follow."""
    root = Path(__file__).parents[2]
    catalogue = (root / "tests/adversarial/CATALOGUE.md").read_text()
    product = re.search(r"\*\*(\d+)\*\* attack cases against the product", catalogue)
    local = re.search(r"\*\*(\d+)\*\* attack cases against the local stack", catalogue)
    assert product is not None
    assert local is not None
    readme = " ".join((root / "README.md").read_text().split())
    assert f"**{product.group(1)} attack cases against the product**" in readme
    assert f"**{local.group(1)} against the local stack**" in readme
