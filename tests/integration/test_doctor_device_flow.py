"""``qbizfed doctor`` for profiles that sign in with ``qbizfed login --device``: does the
IdP advertise ``device_authorization_endpoint``? OK (dev IdP), FAIL with the fix (an IdP
without one), SKIP (no discovery document), and no check without device profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbizfed.cli.doctor import _device_profiles
from qbizfed.doctor import Status
from qbizfed.settings.profiles import Profile, write_profile
from tests.integration.test_doctor_oidc import OidcStack, healthy_stack, stack  # noqa: F401
from tests.support.oidc_issuer import running_oidc_issuer


def test_device_endpoint_of_the_dev_idp_is_ok(stack: OidcStack) -> None:  # noqa: F811
    result = stack.doctor(device_profiles=("dev",)).by_name("idp.device-flow")
    assert result.status is Status.OK
    assert result.detail == f"advertised: {stack.idp.issuer}/oidc/device_authorization"
    assert "device profiles: dev" in result.looked_at


def test_no_device_profile_no_device_check(stack: OidcStack) -> None:  # noqa: F811
    report = stack.doctor()
    assert "idp.device-flow" not in [r.name for r in report.results]


def test_idp_without_device_endpoint_fails_with_the_fix(stack: OidcStack) -> None:  # noqa: F811
    with running_oidc_issuer() as issuer:
        report = stack.doctor(stack.with_issuer(issuer.url), device_profiles=("dev", "ops"))
    result = report.by_name("idp.device-flow")
    assert result.status is Status.FAIL
    assert "does not advertise a device_authorization_endpoint" in result.detail
    assert result.fix is not None
    assert "Device Authorization" in result.fix.summary
    assert "without --device" in result.fix.summary


def test_unreachable_discovery_skips_the_device_check(stack: OidcStack) -> None:  # noqa: F811
    report = stack.doctor(stack.with_issuer("http://127.0.0.1:9/nowhere"), device_profiles=("x",))
    assert report.by_name("idp.device-flow").status is Status.SKIP


def test_doctor_finds_the_device_profiles_of_its_issuer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBIZFED_CONFIG", str(tmp_path / "config.toml"))
    role = "arn:aws:iam::123456789012:role/r"
    for name, issuer, device in (
        ("laptop", "https://idp.example.com", False),
        ("devbox", "https://idp.example.com", True),
        ("other", "https://other.example.com", True),
    ):
        write_profile(
            Profile(
                name=name,
                protocol="oidc",
                role_arn=role,
                issuer=issuer,
                client_id="cli",
                device=device,
            )
        )
    assert _device_profiles("https://idp.example.com") == ("devbox",)
