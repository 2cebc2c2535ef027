"""CLI fixtures: the real ``mlgov`` Typer app, its client factory bound to an in-process app."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
import typer.testing
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from mlgov.cli import _connection
from mlgov.cli import app as cli_module
from tests.conftest import client_for

_counter = itertools.count()

# The developer's own connection settings must never leak into a test run.
CLEAN_ENV = {
    "MLGOV_URL": None,
    "MLGOV_API_KEY": None,
    "MLGOV_PROFILE": None,
    "MLGOV_OUTPUT": None,
    "MLGOV_DATABASE__URL": None,
    # Wide enough that Rich never folds an id across lines.
    "COLUMNS": "250",
}


class Cli:
    """Runs ``mlgov ARGS`` and checks the exit code, showing the output when it differs."""

    def __init__(self, home: Path, env: dict[str, str | None] | None = None) -> None:
        self.runner = CliRunner()
        self.env: dict[str, str | None] = {**CLEAN_ENV, "MLGOV_HOME": str(home), **(env or {})}
        self.key: str | None = None
        self.key_for_call: str | None = None
        cli_module._mount()

    def __call__(
        self,
        *args: str,
        code: int = 0,
        key: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Result:
        self.key_for_call = key or self.key
        result = self.runner.invoke(
            cli_module.app, list(args), env={**self.env, **(env or {})}, catch_exceptions=False
        )
        assert result.exit_code == code, (
            f"mlgov {' '.join(args)} exited {result.exit_code}, expected {code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        # User errors are one line, never a traceback.
        assert "Traceback" not in result.stderr
        return result


# A real `mlgov` process builds the Click command tree once; the runner rebuilds it on every call,
# which is most of a call's cost. Build it once here too (per Typer app, after _mount()).
_build_once = functools.cache(typer.main.get_command)


@pytest.fixture(autouse=True)
def _command_tree_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typer.testing, "_get_command", _build_once)


@pytest.fixture(autouse=True)
def _collector_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlgov server`, `worker` and `endpoints serve` run in process here: their freezing of the
    heap and their collector thresholds belong to a process of their own, not the test run's
    (tests/server/test_process_heap.py checks them in one)."""
    monkeypatch.setattr("mlgov.server.app.freeze_startup_heap", lambda: None)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private MLGOV_HOME, also for code run outside the runner: never the developer's own."""
    path = tmp_path / "cli-home"
    path.mkdir()
    for name, value in {**CLEAN_ENV, "MLGOV_HOME": str(path)}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return path


@pytest.fixture
def bare_cli(home: Path) -> Cli:
    """The CLI with nothing patched: for commands that use the database or config directly."""
    return Cli(home)


@pytest.fixture
def cli(
    app: FastAPI, admin_token: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    """The CLI talking to ``app`` in-process, as the OrgAdmin unless a call passes ``key=``."""
    runner = Cli(home)
    runner.key = admin_token
    monkeypatch.setattr(_connection, "make_client", lambda: client_for(app, runner.key_for_call))
    return runner


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, as a fresh install has."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'mlgov.db'}"
        return
    admin_url, _template = request.getfixturevalue("postgres_template")
    name = f"mlgov_empty_{os.getpid()}_{next(_counter)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
