"""Shared fixtures: every server test runs on SQLite and on PostgreSQL.

Databases are built by running the migrations once per session into a template; each test gets a
fresh copy (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL). The
PostgreSQL leg runs when ``MLGOV_TEST_DATABASE_URL`` is set and is skipped, with that reason,
otherwise; when it is set the server must be reachable or the run fails.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mlgov import Client
from mlgov.server.app import create_app
from mlgov.server.db import schema
from mlgov.server.db.engine import build_engine, normalize_url, session_factory, unit_of_work
from mlgov.server.identity import service as identity
from mlgov.settings import AuditSettings, DatabaseSettings, ServerSettings, Settings

PG_ENV = "MLGOV_TEST_DATABASE_URL"
_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = build_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[tuple[str, str]]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL leg skipped: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    admin_url = normalize_url(base)
    template = f"mlgov_tpl_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{template}"'))
        connection.execute(text(f'CREATE DATABASE "{template}"'))
    template_url = make_url(admin_url).set(database=template).render_as_string(hide_password=False)
    engine = build_engine(template_url)
    schema.upgrade(engine)
    engine.dispose()
    yield admin_url, template
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "mlgov.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    admin_url, template_name = request.getfixturevalue("postgres_template")
    name = f"mlgov_t_{os.getpid()}_{next(_counter)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database=DatabaseSettings(url=database_url, pool_size=4),
        server=ServerSettings(max_body_bytes=64 * 1024),
        audit=AuditSettings(digest_period_seconds=3600),
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings, run_workers=False)
    yield application
    application.state.runtime.close()


@pytest.fixture
def admin_token(app: FastAPI) -> str:
    with unit_of_work(app.state.runtime.session_factory) as session:
        result = identity.bootstrap(session, "acme")
    assert result.token is not None
    return result.token


def client_for(app: FastAPI, token: str | None) -> Client:
    return Client(api_key=token, http_client=TestClient(app, raise_server_exceptions=False))


@pytest.fixture
def admin(app: FastAPI, admin_token: str) -> Client:
    return client_for(app, admin_token)


@pytest.fixture
def http(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def session_factory_of(app: FastAPI):  # type: ignore[no-untyped-def]
    return app.state.runtime.session_factory


__all__ = ["client_for", "session_factory"]
