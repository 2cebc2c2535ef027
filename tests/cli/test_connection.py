"""Connection settings: environment, profiles in $MLGOV_HOME/config.toml, and writing them."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import mlgov
from mlgov.cli import _connection
from mlgov.cli._connection import DEFAULT_URL, dump_toml, resolve, save_profile
from mlgov.cli._output import ConfigError
from tests.cli.conftest import Cli


def write_config(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.write_text(text)
    return path


PROFILES = """
[profiles.default]
url = "http://default.example:8640"
api_key = "mlgov_key-default.s"

[profiles.prod]
url = "https://prod.example"
api_key = "mlgov_key-prod.s"

[profiles.urlonly]
url = "https://urlonly.example"
"""


def test_resolution_order(home: Path) -> None:
    write_config(home, PROFILES)
    env = {"MLGOV_HOME": str(home)}
    assert resolve(None, env) == _connection.Connection(
        "http://default.example:8640", "mlgov_key-default.s", "default"
    )
    assert resolve("prod", env).url == "https://prod.example"
    assert resolve(None, {**env, "MLGOV_PROFILE": "prod"}).api_key == "mlgov_key-prod.s"
    # --profile beats MLGOV_PROFILE; the environment's URL and key beat any profile, field by field.
    assert resolve("prod", {**env, "MLGOV_PROFILE": "default"}).url == "https://prod.example"
    mixed = resolve("prod", {**env, "MLGOV_API_KEY": "mlgov_key-env.s"})
    assert (mixed.url, mixed.api_key) == ("https://prod.example", "mlgov_key-env.s")
    assert resolve("prod", {**env, "MLGOV_URL": "http://env:1"}).url == "http://env:1"
    assert resolve("urlonly", env).api_key is None


def test_no_file_means_environment_and_defaults(home: Path) -> None:
    env = {"MLGOV_HOME": str(home)}
    assert resolve(None, env) == _connection.Connection(DEFAULT_URL, None, None)
    with_key = resolve(None, {**env, "MLGOV_API_KEY": "k"})
    assert (with_key.url, with_key.api_key) == (DEFAULT_URL, "k")
    with pytest.raises(ConfigError, match="no profile 'prod'"):
        resolve("prod", env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.default\nurl = 1", "not valid TOML"),
        ("profiles = 3", "must be tables"),
        ("[profiles.default]\napi_key = 42", "must be a string"),
    ],
)
def test_bad_config_files(home: Path, text: str, message: str) -> None:
    write_config(home, text)
    with pytest.raises(ConfigError, match=message):
        resolve(None, {"MLGOV_HOME": str(home)})


def test_config_errors_exit_2_without_a_traceback(bare_cli: Cli, home: Path) -> None:
    missing_key = bare_cli("accounts", "list", code=2)
    assert missing_key.stderr.startswith("ERROR INVALID_CONFIG: no API key")
    assert "MLGOV_API_KEY" in missing_key.stderr
    write_config(home, PROFILES)
    unknown = bare_cli("--profile", "staging", "accounts", "list", code=2)
    assert "no profile 'staging'" in unknown.stderr and "default, prod, urlonly" in unknown.stderr
    no_key = bare_cli("--profile", "urlonly", "accounts", "list", code=2)
    assert "no API key in profile 'urlonly'" in no_key.stderr
    write_config(home, "[profiles.default")
    assert "not valid TOML" in bare_cli("accounts", "list", code=2).stderr


def test_unreachable_server(bare_cli: Cli) -> None:
    env = {"MLGOV_URL": "http://127.0.0.1:1", "MLGOV_API_KEY": "mlgov_key-x.y"}
    failed = bare_cli("accounts", "list", env=env, code=1)
    assert failed.stderr.startswith("ERROR INTERNAL_ERROR: cannot reach the mlgov server")
    assert "mlgov_key-x.y" not in failed.stderr


def test_profiles_choose_server_and_key(
    bare_cli: Cli, app: FastAPI, admin_token: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real make_client, with only the network swapped for the app in-process."""
    urls: list[str] = []

    def in_process(url: str, api_key: str | None = None, **_: Any) -> mlgov.Client:
        urls.append(url)
        return mlgov.Client(url, api_key, http_client=TestClient(app, base_url=url))

    monkeypatch.setattr(_connection, "Client", in_process)
    with mlgov.Client(api_key=admin_token, http_client=TestClient(app)) as admin:
        admin.identity.create_principal("alice")
        alice_key = admin.identity.create_key("alice")["secret"]
    save_profile("default", "http://admin.example", admin_token)
    save_profile("alice", "http://alice.example", alice_key)

    def whoami(*args: str, env: dict[str, str] | None = None) -> str:
        out = bare_cli(*args, "principals", "whoami", "-o", "json", env=env).stdout
        return str(json.loads(out)["principal_name"])

    assert whoami() == "admin" and urls[-1] == "http://admin.example"
    assert whoami("--profile", "alice") == "alice" and urls[-1] == "http://alice.example"
    assert whoami(env={"MLGOV_PROFILE": "alice"}) == "alice"
    assert whoami("--profile", "alice", env={"MLGOV_API_KEY": admin_token}) == "admin"
    assert urls[-1] == "http://alice.example"


def test_save_profile_keeps_other_content_and_is_private(home: Path) -> None:
    path = write_config(
        home,
        '# comments are not kept\ntheme = "dark"\n\n[profiles.old]\nurl = "http://old"\n'
        'api_key = "k-old"\nextra = [1, 2]\n',
    )
    path.chmod(0o644)
    save_profile("new", "http://new", "k-new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data == {
        "theme": "dark",
        "profiles": {
            "old": {"url": "http://old", "api_key": "k-old", "extra": [1, 2]},
            "new": {"url": "http://new", "api_key": "k-new"},
        },
    }
    save_profile("old", "http://old2", "k-old2")
    assert tomllib.loads(path.read_text())["profiles"]["old"] == {
        "url": "http://old2",
        "api_key": "k-old2",
        "extra": [1, 2],
    }
    assert [p.name for p in home.iterdir()] == ["config.toml"]  # no temporary file left behind


def test_dump_toml_round_trips_awkward_values() -> None:
    config = {
        "top": 'quote " backslash \\ newline \n tab \t del \x7f unicode é 🚀',
        "flag": True,
        "ratio": 0.5,
        "profiles": {"with.dot and space": {"url": "http://x", "n": 3}, "plain-name_1": {}},
    }
    assert tomllib.loads(dump_toml(config)) == config
