"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mlgov.settings import Settings

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: turns are taken within a process only
    fcntl = None  # type: ignore[assignment]


def normalize_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the driver the [postgres] extra installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# JSON columns as Python values: a listing of 100 versions reads some 600 small documents, which
# pydantic-core's parser reads in a fifth of the standard library's time. Handed to SQLAlchemy as
# it is, with no Python function of ours around each call.
read_json = pydantic_core.from_json


def write_json(value: Any) -> str:
    """Python values into JSON columns (and other stored JSON text, such as an alarm's reason
    data), in pydantic-core's serializer: an alarm round writes a history document and reason data
    for each of thousands of transitions, in a third of the standard library's time."""
    return pydantic_core.to_json(value).decode()


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
            json_serializer=write_json,
            **pooling,
        )
        shared = on_disk and fcntl is not None
        turns = WriteTurns(lock_file_of(parsed.database) if shared else None, busy_timeout)
        _configure_sqlite(engine, turns, checkpoint_on_commit=not background_checkpoints)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=2 * pool_size,
        pool_pre_ping=True,
        json_deserializer=read_json,
        json_serializer=write_json,
    )


class WriteTurns:
    """SQLite's one writer at a time, taken in turns: every transaction of an engine takes its
    turn before ``BEGIN IMMEDIATE`` and gives it back when it commits, rolls back or closes.

    Writers that simply raced for SQLite's write lock would meet its busy handler, which retries
    in sleeps of 1, 2, 5, 10 ... up to 100 ms: a background worker's 0.6 ms poll cost an API call
    that arrived during it 3-5 ms. Turns are handed over at once instead: between the threads of
    a process by a lock, and between processes (``mlgov server --processes N``, a separate
    ``mlgov worker``, the CLI) by an advisory ``flock`` of the file ``<database>-gate``, polled
    at 0.1-1 ms and released by the kernel if its holder dies. Waiting longer than the busy
    timeout fails as SQLite would, with "database is locked". SQLite's own locking still guards
    every transaction; turns decide only who goes next.
    """

    def __init__(self, lock_file: Path | None, timeout: float) -> None:
        self._lock = threading.Lock()
        self._lock_file = lock_file
        self._timeout = timeout
        self._descriptor: int | None = None
        self._holder: object | None = None

    def take(self, holder: object) -> None:
        deadline = time.monotonic() + self._timeout
        if not self._lock.acquire(timeout=self._timeout):
            raise _locked()
        try:
            if self._lock_file is not None:
                self._take_file(self._lock_file, deadline)
        except BaseException:
            self._lock.release()
            raise
        self._holder = holder

    def give_back(self, holder: object) -> None:
        """A no-op unless ``holder`` has the turn (a rollback without a transaction, say)."""
        if self._holder is not holder:
            return
        self._holder = None
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        self._lock.release()

    def close(self) -> None:
        """Close the lock file unless a turn is held (it opens again on the next turn)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None
        finally:
            self._lock.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        """The turn for work outside a transaction (a RESTART checkpoint holds writers back)."""
        token = object()
        self.take(token)
        try:
            yield
        finally:
            self.give_back(token)

    def _take_file(self, lock_file: Path, deadline: float) -> None:
        if self._descriptor is None:
            self._descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _locked() from None
            time.sleep(pause)
            pause = min(pause * 2, 0.001)


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))


def lock_file_of(database: str | None) -> Path | None:
    """The file whose lock gives SQLite write turns between processes; None in memory."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-gate")


_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


def write_turns(engine: Engine) -> WriteTurns | None:
    """The write turns of a SQLite engine; None for PostgreSQL."""
    return _TURNS.get(engine)


def _configure_sqlite(engine: Engine, turns: WriteTurns, *, checkpoint_on_commit: bool) -> None:
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
        holder = connection.connection.dbapi_connection
        turns.take(holder)
        try:
            # On the driver: every call begins a transaction, and SQLAlchemy's execution and
            # result wrapping of this one statement cost about 2 % of a registration.
            holder.execute("BEGIN IMMEDIATE").close()
        except sqlite3.Error as exc:
            turns.give_back(holder)
            raise DBAPIError.instance(
                "BEGIN IMMEDIATE", (), exc, sqlite3.Error, dialect=connection.dialect
            ) from exc
        except BaseException:
            turns.give_back(holder)
            raise

    # The turn goes back once the transaction has ended: SQLAlchemy has no event after a commit,
    # so this engine's dialect does it (the pool's reset-on-return rolls back through it too).
    dialect = engine.dialect
    commit, rollback, close = dialect.do_commit, dialect.do_rollback, dialect.do_close

    def do_commit(connection: Any) -> None:
        commit(connection)  # if it fails, the rollback that follows gives the turn back
        turns.give_back(connection.dbapi_connection)

    def do_rollback(connection: Any) -> None:
        try:
            rollback(connection)
        finally:
            turns.give_back(connection.dbapi_connection)

    def do_close(connection: Any) -> None:
        try:
            close(connection)
        finally:
            turns.give_back(connection)

    @event.listens_for(engine, "engine_disposed")
    def _on_dispose(_engine: Engine) -> None:
        turns.close()

    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]
    dialect.do_close = do_close  # type: ignore[method-assign,assignment]
    _TURNS[engine] = turns


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
