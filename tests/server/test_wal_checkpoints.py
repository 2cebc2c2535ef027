"""SQLite's log is checkpointed by a background loop in long-running processes, not in commits."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from mlgov.server.db.engine import build_engine, write_turns
from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.runtime import Runtime
from mlgov.server.workers import storage_workers, wal_checkpointer
from mlgov.server.workers.wal_checkpointer import WalCheckpointer
from mlgov.settings import DatabaseSettings, Settings

PAGE_SIZED = 4096


def write_megabytes(engine: Engine, megabytes: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS ballast (data BLOB)"))
    for _ in range(megabytes):  # one commit per megabyte, as many small calls would
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO ballast VALUES (:data)"),
                [{"data": bytes(PAGE_SIZED)} for _ in range(256)],
            )


def runtime_for(tmp_path: Path, engine: Engine) -> Runtime:
    settings = Settings(home=tmp_path, database=DatabaseSettings(url=str(engine.url)))
    return Runtime(settings, engine, None, BlobStore(str(tmp_path / "blobs")))  # type: ignore[arg-type]


def test_commits_of_a_long_running_process_leave_the_log_to_the_checkpointer(
    tmp_path: Path,
) -> None:
    database = tmp_path / "long.db"
    engine = build_engine(f"sqlite:///{database}", background_checkpoints=True)
    write_megabytes(engine, 8)  # twice SQLite's own threshold of 1,000 pages
    assert database.stat().st_size < 1024 * 1024  # every page still only in the log
    checkpointer = WalCheckpointer(runtime_for(tmp_path, engine))
    assert checkpointer.tick() is False
    assert database.stat().st_size > 8 * 1024 * 1024
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM ballast")).scalar_one() == 8 * 256
    engine.dispose()


def test_other_processes_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    database = tmp_path / "short.db"
    engine = build_engine(f"sqlite:///{database}")
    write_megabytes(engine, 8)
    assert database.stat().st_size > 4 * 1024 * 1024  # commits moved pages into the file
    engine.dispose()


def test_only_sqlite_processes_run_the_checkpointer(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'any.db'}", background_checkpoints=True)
    assert [type(w) for w in storage_workers(runtime_for(tmp_path, engine))] == [WalCheckpointer]
    engine.dispose()


def test_a_long_log_is_started_over_even_when_a_reader_held_the_checkpoint_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log starts over only when a writer begins after a checkpoint that copied every frame.
    Under steady load some transaction always holds a PASSIVE checkpoint back (here a reader),
    so the log grew without bound (15 MB a second under ingest). Past ``RESTART_FRAMES`` the
    loop checkpoints in RESTART mode, which waits for the reader, and the next write starts over.
    """
    monkeypatch.setattr(wal_checkpointer, "RESTART_FRAMES", 512)  # 2 MB
    database = tmp_path / "held.db"
    engine = build_engine(f"sqlite:///{database}", background_checkpoints=True)
    write_megabytes(engine, 2)
    reader = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM ballast").fetchone()  # a snapshot of the first 2 MB
    write_megabytes(engine, 2)
    threading.Timer(0.3, reader.rollback).start()
    WalCheckpointer(runtime_for(tmp_path, engine)).tick()
    write_megabytes(engine, 1)
    frames = wal_checkpointer.checkpoint(engine)
    reader.close()
    engine.dispose()
    # Started over: the last megabyte's 256 pages and a few more, not the 1,280 of all three.
    assert frames < 512, f"the log holds {frames} frames"


def test_a_restart_checkpoint_takes_its_write_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RESTART holds writers back while it copies; holding a write turn makes them queue for it
    rather than sleep in SQLite's busy handler. Here another process (engine) has the turn, and
    the checkpoint waits until it is given back."""
    monkeypatch.setattr(wal_checkpointer, "RESTART_FRAMES", 512)  # 2 MB
    database = tmp_path / "turn.db"
    engine = build_engine(f"sqlite:///{database}", background_checkpoints=True)
    other = build_engine(f"sqlite:///{database}")
    write_megabytes(engine, 3)
    other_turns = write_turns(other)
    assert other_turns is not None
    with other_turns.held():
        ticking = threading.Thread(target=WalCheckpointer(runtime_for(tmp_path, engine)).tick)
        ticking.start()
        ticking.join(0.3)
        assert ticking.is_alive(), "the RESTART checkpoint ran while another process had the turn"
    ticking.join(10)
    assert not ticking.is_alive()
    write_megabytes(engine, 1)
    assert wal_checkpointer.checkpoint(engine) < 512  # the RESTART ran: the log started over
    engine.dispose()
    other.dispose()
