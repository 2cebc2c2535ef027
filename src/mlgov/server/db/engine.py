"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mlgov.settings import Settings


def normalize_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the driver the [postgres] extra installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def read_json(text: str | bytes) -> Any:
    """JSON columns as Python values: a listing of 100 versions reads some 600 small documents,
    which pydantic-core's parser reads in a fifth of the standard library's time."""
    return pydantic_core.from_json(text)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def build_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    busy_timeout: float = 30.0,
    background_checkpoints: bool = False,
) -> Engine:
    """``background_checkpoints``: SQLite commits never checkpoint the log; the process runs
    ``workers.wal_checkpointer`` instead (long-running processes only)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk = bool(parsed.database) and parsed.database != ":memory:"
        if on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        pooling = {"pool_size": pool_size, "max_overflow": 2 * pool_size} if on_disk else {}
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
            json_deserializer=read_json,
            **pooling,
        )
        _configure_sqlite(engine, checkpoint_on_commit=not background_checkpoints)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=2 * pool_size,
        pool_pre_ping=True,
        json_deserializer=read_json,
    )


def _configure_sqlite(engine: Engine, *, checkpoint_on_commit: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while one writer commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is durable across process crashes in WAL mode; FULL only adds power-loss safety.
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not checkpoint_on_commit:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            # A log started over after a RESTART checkpoint is cut back to this size (64 MB).
            cursor.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every API call writes its audit record, so every transaction writes: taking the write
        # lock up front avoids the deadlock of two deferred readers both upgrading to writers.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def engine_from_settings(settings: Settings, *, background_checkpoints: bool = False) -> Engine:
    db = settings.database
    return build_engine(
        settings.database_url,
        echo=db.echo,
        pool_size=db.pool_size,
        busy_timeout=db.sqlite_busy_timeout_seconds,
        background_checkpoints=background_checkpoints,
    )


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
