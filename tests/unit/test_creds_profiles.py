"""Profiles in the TOML config, the AWS config block, and the exec environment."""

from __future__ import annotations

import configparser
import stat
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbizfed.credentials import AwsCredentials
from qbizfed.creds import awsconfig, execenv
from qbizfed.creds.cache import CacheEntry
from qbizfed.errors import ConfigError
from qbizfed.settings.profiles import Profile, load_profile, load_profiles, write_profile

ROLE = "arn:aws:iam::123456789012:role/QBizWeb"


def oidc_profile(**overrides: object) -> Profile:
    values: dict[str, object] = {
        "name": "dev",
        "protocol": "oidc",
        "role_arn": ROLE,
        "issuer": "https://idp.example.com",
        "client_id": "qbizfed-cli",
        "client_secret_env": "QBIZFED_TEST_SECRET",
        "application_id": "app-123",
    }
    values.update(overrides)
    return Profile(**values)  # type: ignore[arg-type]


def test_written_profile_loads_back(tmp_path: Path) -> None:
    path = str(tmp_path / "config.toml")
    profile = oidc_profile(endpoint_url="http://127.0.0.1:4566", scopes=("openid", "aws"))
    write_profile(profile, path)
    assert load_profile("dev", path) == profile


def test_writing_keeps_other_content_and_replaces_only_that_profile(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    original = (
        '# my settings\n[admin]\nregion = "eu-west-1"\n\n'
        '[profiles.dev]\nprotocol = "oidc"\nrole_arn = "old"\n\n'
        '[profiles.other]  # keep me\nprotocol = "oidc"\nrole_arn = "' + ROLE + '"\n'
        'issuer = "https://o.example.com"\nclient_id = "c"\n'
    )
    path.write_text(original)
    write_profile(oidc_profile(), str(path))
    text = path.read_text()
    assert text.startswith('# my settings\n[admin]\nregion = "eu-west-1"\n')
    assert "[profiles.other]  # keep me\n" in text
    doc = tomllib.loads(text)
    assert doc["admin"] == {"region": "eu-west-1"}
    assert doc["profiles"]["dev"]["role_arn"] == ROLE
    assert set(load_profiles(str(path))) == {"dev", "other"}
    assert Path(str(path) + ".qbizfed-backup").read_text() == original


def test_client_secret_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QBIZFED_TEST_SECRET", "s3cr3t-value")
    path = tmp_path / "config.toml"
    profile = oidc_profile()
    write_profile(profile, str(path))
    assert "s3cr3t-value" not in path.read_text()
    assert profile.client_secret() == "s3cr3t-value"


def test_missing_secret_variable_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QBIZFED_TEST_SECRET", raising=False)
    with pytest.raises(ConfigError, match="QBIZFED_TEST_SECRET") as info:
        oidc_profile().client_secret()
    assert "export QBIZFED_TEST_SECRET" in info.value.remedy


def test_new_config_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    write_profile(oidc_profile(), str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"protocol": "kerberos"}, "protocol", id="unknown-protocol"),
        pytest.param({"role_arn": "QBizWeb"}, "role_arn", id="role-not-an-arn"),
        pytest.param({"duration_seconds": 60}, "duration_seconds", id="duration-too-short"),
        pytest.param({"duration_seconds": 50000}, "duration_seconds", id="duration-too-long"),
        pytest.param({"issuer": None}, "issuer", id="oidc-without-issuer"),
        pytest.param({"scopes": ("email",)}, "openid", id="scopes-without-openid"),
        pytest.param({"refresh_ahead_seconds": 4000}, "refresh_ahead", id="refresh-after-expiry"),
        pytest.param({"name": "../../etc/passwd"}, "name", id="traversal-name"),
        pytest.param({"redirect_port": 70000}, "redirect_port", id="port-out-of-range"),
    ],
)
def test_invalid_profiles_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        oidc_profile(**overrides)


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[profiles.dev]\nprotocol = "oidc"\nrole_arn = "{ROLE}"\nissuer = "https://i"\n'
        'client_id = "c"\nclient_secret = "oops"\n'
    )
    with pytest.raises(ConfigError, match="client_secret"):
        load_profiles(str(path))


def test_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "c.toml")
    write_profile(oidc_profile(), path)
    with pytest.raises(ConfigError, match="'prod' does not exist") as info:
        load_profile("prod", path)
    assert "existing profiles: dev" in info.value.message
    assert "qbizfed configure --profile prod" in info.value.remedy


# --- ~/.aws/config ----------------------------------------------------------------


def test_aws_profile_block_is_added_and_other_content_kept(tmp_path: Path) -> None:
    path = tmp_path / "config"
    original = (
        "# company settings\n[default]\nregion = us-west-2\n\n"
        "[profile work]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n"
    )
    path.write_text(original)
    awsconfig.add_credential_process_profile(
        "qbiz", "dev", region="us-east-1", endpoint_url="http://127.0.0.1:4566",
        command="qbizfed", path=str(path),
    )  # fmt: skip
    text = path.read_text()
    assert text.startswith(original)
    parser = configparser.ConfigParser()
    parser.read_string(text)
    assert parser["profile qbiz"]["credential_process"] == "qbizfed creds --profile dev"
    assert parser["profile qbiz"]["region"] == "us-east-1"
    assert parser["profile qbiz"]["endpoint_url"] == "http://127.0.0.1:4566"
    assert parser["profile work"]["source_profile"] == "default"
    assert (tmp_path / "config.qbizfed-backup").read_text() == original


def test_existing_aws_profile_is_updated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "[profile qbiz]\ncredential_process = old-tool\noutput = json\n"
        "region = eu-west-1\n\n[profile after]\nregion = us-west-2\n"
    )
    awsconfig.add_credential_process_profile(
        "qbiz", "dev", region="us-east-1", command="'/opt/q b/qbizfed'", path=str(path)
    )
    parser = configparser.ConfigParser()
    parser.read_string(path.read_text())
    section = parser["profile qbiz"]
    assert section["credential_process"] == "'/opt/q b/qbizfed' creds --profile dev"
    assert section["region"] == "us-east-1"
    assert section["output"] == "json"
    assert parser["profile after"]["region"] == "us-west-2"
    assert path.read_text().count("credential_process") == 1


def test_default_aws_profile_uses_the_default_section(tmp_path: Path) -> None:
    path = tmp_path / "config"
    awsconfig.add_credential_process_profile(
        "default", "dev", region=None, command="qbizfed", path=str(path)
    )
    assert path.read_text() == "[default]\ncredential_process = qbizfed creds --profile dev\n"
    assert not (tmp_path / "config.qbizfed-backup").exists()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x]\n[profile evil", id="section-injection"),
        pytest.param("", id="empty"),
        pytest.param(" padded", id="whitespace"),
    ],
)
def test_hostile_aws_profile_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError):
        awsconfig.add_credential_process_profile(name, "dev", region=None, path=str(tmp_path / "c"))


# --- exec environment ----------------------------------------------------------------


def _creds() -> CacheEntry:
    return CacheEntry(
        profile="dev",
        credentials=AwsCredentials(
            access_key_id="ASIAX",
            secret_access_key="sek",
            session_token="tok",
            expiration=datetime.now(UTC) + timedelta(hours=1),
            region="eu-west-1",
        ),
    )


def test_exec_environment_has_credentials_region_and_marker() -> None:
    env = execenv.child_environment(
        {"PATH": "/bin", "AWS_PROFILE": "other", "AWS_ACCESS_KEY_ID": "AKIAOLD"},
        _creds(),
        endpoint_url="http://127.0.0.1:4566",
    )
    assert env["AWS_ACCESS_KEY_ID"] == "ASIAX"
    assert env["AWS_SECRET_ACCESS_KEY"] == "sek"
    assert env["AWS_SESSION_TOKEN"] == "tok"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env[execenv.NESTING_VAR] == "dev"
    assert "AWS_PROFILE" not in env
    assert env["PATH"] == "/bin"


def test_exec_refuses_to_nest() -> None:
    with pytest.raises(execenv.NestedExecError, match="nest") as info:
        execenv.child_environment({execenv.NESTING_VAR: "outer"}, _creds())
    assert info.value.remedy


def test_aws_config_that_is_dev_null_is_refused_not_replaced(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        awsconfig.add_credential_process_profile(
            "qbiz", "dev", region=None, command="qbizfed", path="/dev/null"
        )
    assert Path("/dev/null").is_char_device()


def test_symlinked_aws_config_is_updated_at_its_target(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "aws-config"
    target.parent.mkdir()
    target.write_text("[profile keep]\nregion = us-west-2\n")
    link = tmp_path / "config"
    link.symlink_to(target)
    awsconfig.add_credential_process_profile(
        "qbiz", "dev", region=None, command="qbizfed", path=str(link)
    )
    assert link.is_symlink()
    assert "credential_process = qbizfed creds --profile dev" in target.read_text()


def test_exec_keeps_an_endpoint_the_user_set() -> None:
    env = execenv.child_environment(
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:1111"}, _creds(), endpoint_url="http://x:2"
    )
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1111"
