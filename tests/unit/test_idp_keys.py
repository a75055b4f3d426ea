"""The dev IdP's signing key, certificate and JWKS."""

from __future__ import annotations

import stat
from pathlib import Path

from qbizfed.local.idp.keys import (
    KEY_FILE,
    generate_signing_material,
    load_or_create_signing_material,
)


def test_jwks_has_public_parts_only() -> None:
    material = generate_signing_material()
    (key,) = material.public_jwks()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] == material.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    assert "PRIVATE" not in repr(material)


def test_state_dir_keeps_the_same_key_between_runs(tmp_path: Path) -> None:
    first = load_or_create_signing_material(tmp_path / "state")
    second = load_or_create_signing_material(tmp_path / "state")
    assert first.kid == second.kid
    assert first.certificate_pem == second.certificate_pem
    mode = stat.S_IMODE((tmp_path / "state" / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert load_or_create_signing_material(None).kid != first.kid


def test_certificate_base64_is_the_der_without_armour() -> None:
    material = generate_signing_material()
    body = material.certificate_base64
    assert "-----" not in body
    assert "\n" not in body
    assert len(body) > 800
