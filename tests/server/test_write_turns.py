"""SQLite write turns: one transaction at a time per database file, handed over at once, across
threads and engines (an engine stands for a process: each opens the lock file itself, and flock
locks of two open files exclude each other even inside one process)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from mlgov.server.db.engine import build_engine, lock_file_of, write_turns


def _engine(path: Path, busy_timeout: float = 30.0) -> Engine:
    engine = build_engine(f"sqlite:///{path}", busy_timeout=busy_timeout)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS log (at REAL, who TEXT)"))
    return engine


def _hold_then_commit(
    engine: Engine, seconds: float, began: threading.Event, released: list[float] | None = None
) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO log VALUES (0, 'holder')"))
        began.set()
        time.sleep(seconds)
    if released is not None:
        released.append(time.monotonic())


@pytest.mark.parametrize("same_engine", [True, False], ids=["threads", "processes"])
def test_a_waiting_writer_goes_as_soon_as_the_holder_commits(
    tmp_path: Path, same_engine: bool
) -> None:
    """SQLite's busy handler would have slept on in steps of up to 100 ms (retrying 228 ms, then
    328 ms after it began to wait); a turn is handed over within milliseconds of the commit."""
    first = _engine(tmp_path / "turns.db")
    second = first if same_engine else _engine(tmp_path / "turns.db")
    began, released = threading.Event(), []
    holder = threading.Thread(target=_hold_then_commit, args=(first, 0.24, began, released))
    holder.start()
    began.wait(5)
    with second.begin() as connection:
        got = time.monotonic()
        connection.execute(text("INSERT INTO log VALUES (1, 'waiter')"))
    holder.join()
    assert 0 <= got - released[0] < 0.03, got - released[0]
    with first.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM log")).scalar_one() == 2
    for engine in {first, second}:
        engine.dispose()


def test_turns_are_given_back_on_rollback_and_on_a_failed_statement(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "turns.db", busy_timeout=1.0)

    def fail_mid_transaction() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO log VALUES (2, 'rolled back')"))
            raise RuntimeError("the caller fails mid-transaction")

    with pytest.raises(RuntimeError):
        fail_mid_transaction()
    with pytest.raises(OperationalError), engine.begin() as connection:
        connection.execute(text("INSERT INTO no_such_table VALUES (1)"))
    other = _engine(tmp_path / "turns.db", busy_timeout=1.0)
    with other.begin() as connection:  # within the 1 s timeout: nobody kept the turn
        assert connection.execute(text("SELECT count(*) FROM log")).scalar_one() == 0
    engine.dispose()
    other.dispose()


def test_waiting_past_the_busy_timeout_fails_as_sqlite_would(tmp_path: Path) -> None:
    first = _engine(tmp_path / "turns.db")
    second = _engine(tmp_path / "turns.db", busy_timeout=0.2)
    began = threading.Event()
    holder = threading.Thread(target=_hold_then_commit, args=(first, 1.0, began))
    holder.start()
    began.wait(5)
    with pytest.raises(OperationalError, match="database is locked"), second.begin() as c:
        c.execute(text("SELECT 1"))
    holder.join()
    with second.begin() as connection:  # the failed wait left nothing held
        connection.execute(text("INSERT INTO log VALUES (3, 'after')"))
    first.dispose()
    second.dispose()


def test_a_writer_outside_the_turns_fails_the_begin_as_sqlite_would(tmp_path: Path) -> None:
    """A process that writes without taking turns (the sqlite3 shell, say) holds SQLite's own
    lock: the BEGIN fails with SQLAlchemy's error, which the API answers with a 409, and the
    turn it took is given back."""
    engine = _engine(tmp_path / "turns.db", busy_timeout=0.2)
    outsider = sqlite3.connect(tmp_path / "turns.db", isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="database is locked"), engine.begin() as c:
        c.execute(text("SELECT 1"))
    outsider.execute("COMMIT")
    outsider.close()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO log VALUES (4, 'after')"))
    engine.dispose()


def test_a_turn_held_outside_a_transaction_holds_writers_back(tmp_path: Path) -> None:
    """What the checkpointer does around a RESTART checkpoint."""
    engine = _engine(tmp_path / "turns.db")
    other = _engine(tmp_path / "turns.db")
    turns = write_turns(engine)
    assert turns is not None
    done = threading.Event()

    def write() -> None:
        with other.begin() as connection:
            connection.execute(text("INSERT INTO log VALUES (4, 'writer')"))
        done.set()

    with turns.held():
        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.2)
    assert done.wait(5)
    writer.join()
    engine.dispose()
    other.dispose()


def test_lock_file_beside_the_database(tmp_path: Path) -> None:
    assert lock_file_of(str(tmp_path / "mlgov.db")) == tmp_path / "mlgov.db-gate"
    assert lock_file_of(":memory:") is None
    assert lock_file_of(None) is None
    engine = _engine(tmp_path / "mlgov.db")
    assert (tmp_path / "mlgov.db-gate").exists()

    def gate_files_open() -> int:  # of this database: other tests' engines may be open too
        gate, count = str(tmp_path / "mlgov.db-gate"), 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # a descriptor closed meanwhile by another thread
                count += os.readlink(f"/proc/self/fd/{fd}") == gate
        return count

    if Path("/proc/self/fd").exists():
        assert gate_files_open() == 1
        engine.dispose()  # closes the lock file; a later transaction opens it again
        assert gate_files_open() == 0
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO log VALUES (5, 'after dispose')"))
    engine.dispose()
