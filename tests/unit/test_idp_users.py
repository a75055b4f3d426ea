"""The dev IdP's users/clients file and demo defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qbizfed.errors import ConfigError
from qbizfed.local.idp.users import (
    DEMO_PASSWORD,
    DEMO_USERS,
    Directory,
    Secret,
    load_directory,
    parse_directory,
)


def test_demo_defaults_are_alice_bob_carol_with_distinct_groups() -> None:
    directory = load_directory(None)
    by_name = {u.username: u for u in directory.users}
    assert by_name["alice"].email == "alice@example.com"
    assert by_name["alice"].groups == ("engineering",)
    assert by_name["bob"].email == "bob@example.com"
    assert by_name["bob"].groups == ("finance",)
    assert by_name["carol"].email == "carol@example.com"
    assert by_name["carol"].groups == ()
    assert directory.authenticate("alice", DEMO_PASSWORD) == by_name["alice"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong"), ("alice", ""), ("mallory", DEMO_PASSWORD), ("", ""), ("ALICE", "demo")],
)
def test_authenticate_refuses(username: str, password: str) -> None:
    assert Directory().authenticate(username, password) is None


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2-very-secret")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in repr(DEMO_USERS[0])
    assert secret.matches("hunter2-very-secret")
    assert not secret.matches("hunter2")


def test_file_with_users_clients_and_service_providers(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text(
        """
password = "s3cret"

[[users]]
username = "dana"
email = "dana@example.org"
name = "Dana D"
groups = ["ops", "eng"]

[[users]]
username = "eve"
email = "eve@example.org"
password = "own-password"

[[clients]]
client_id = "web"
client_secret = "web-secret"
redirect_uris = ["http://127.0.0.1:8000/cb"]
post_logout_redirect_uris = ["http://127.0.0.1:8000/"]
require_pkce = true

[[service_providers]]
entity_id = "urn:sp"
acs_urls = ["http://127.0.0.1:8000/saml"]
role_arn = "arn:aws:iam::123456789012:role/r"
provider_arn = "arn:aws:iam::123456789012:saml-provider/p"
""",
        encoding="utf-8",
    )
    directory = load_directory(path)
    assert [u.username for u in directory.users] == ["dana", "eve"]
    assert directory.authenticate("dana", "s3cret") is not None
    assert directory.authenticate("dana", DEMO_PASSWORD) is None
    assert directory.authenticate("eve", "own-password") is not None
    dana = directory.user("dana")
    assert dana is not None
    assert dana.groups == ("ops", "eng")
    eve = directory.user("eve")
    assert eve is not None
    assert eve.name == "eve"
    client = directory.client("web")
    assert client is not None
    assert client.require_pkce
    assert client.client_secret.matches("web-secret")
    sp = directory.service_provider("urn:sp")
    assert sp is not None
    assert sp.role_attribute == (
        "arn:aws:iam::123456789012:role/r,arn:aws:iam::123456789012:saml-provider/p"
    )
    assert sp.audience_or_entity_id == "urn:sp"


def test_file_without_users_keeps_demo_users_with_its_password() -> None:
    directory = parse_directory({"password": "other"})
    assert directory.authenticate("bob", "other") is not None
    assert directory.authenticate("bob", DEMO_PASSWORD) is None


BROKEN_FILES: dict[str, dict[str, Any]] = {
    "user_without_email": {"users": [{"username": "x"}]},
    "groups_not_a_list": {"users": [{"username": "x", "email": "x@y", "groups": [1]}]},
    "client_without_redirect": {"clients": [{"client_id": "c", "client_secret": "s"}]},
    "client_without_secret": {"clients": [{"client_id": "c", "redirect_uris": ["http://x/"]}]},
    "sp_without_acs": {"service_providers": [{"entity_id": "urn:x"}]},
}


@pytest.mark.parametrize("case", BROKEN_FILES, ids=list(BROKEN_FILES))
def test_broken_file_is_a_config_error_with_remedy(case: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_directory(BROKEN_FILES[case])
    assert err.value.remedy


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_directory(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("users = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_directory(bad)


def test_runtime_registration() -> None:
    from qbizfed.local.idp.users import OidcClient, ServiceProvider

    directory = Directory()
    assert directory.client("late") is None
    directory.register_client(OidcClient("late", Secret("s"), ("http://127.0.0.1:1/cb",)))
    directory.register_service_provider(ServiceProvider("urn:late", ("http://127.0.0.1:1/acs",)))
    assert directory.client("late") is not None
    assert directory.service_provider("urn:late") is not None


def test_shipped_example_file_parses_and_matches_the_demo_users() -> None:
    import qbizfed.local.idp

    example = Path(qbizfed.local.idp.__file__).with_name("users.example.toml")
    directory = load_directory(example)
    assert [(u.username, u.email, u.groups) for u in directory.users] == [
        (u.username, u.email, u.groups) for u in DEMO_USERS
    ]
    assert directory.uses_demo_password
    assert directory.client("qbizfed-web") is not None
    assert len(directory.service_providers) == 1


def test_uses_demo_password() -> None:
    assert Directory().uses_demo_password
    assert not parse_directory({"password": "other"}).uses_demo_password
