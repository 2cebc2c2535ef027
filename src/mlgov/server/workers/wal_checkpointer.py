"""Moves SQLite's write-ahead log into the database file in the background.

Left to itself, SQLite checkpoints inside whichever commit pushes the log past its threshold, so
one call in many pays for everyone's pages: a 10,000-alarm evaluation round spent a fifth of its
time there, and API calls saw it as a stall at p99. Long-running processes (server, worker,
endpoint process) turn that off on their connections and checkpoint here instead, once a second,
in PASSIVE mode: it copies what no reader still needs and never waits for a reader or a writer.

PASSIVE alone does not bound the log under sustained writes. SQLite starts the log over only when
a writer begins after a checkpoint that copied every frame, and with one commit after another
the copy never catches up: steady ingest grew the log by 15 MB a second. Once the log holds more
than ``RESTART_FRAMES``, the loop checkpoints in RESTART mode instead. It takes a write turn
(``db.engine.WriteTurns``), so writers queue behind it rather than sleep in SQLite's busy handler;
it waits (with the connection's busy timeout) for readers still on the log, and leaves the log to
be started over by the next writer; ``journal_size_limit`` then truncates the file back.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Engine

from mlgov.server.db.engine import write_turns
from mlgov.server.workers.loop import Loop

INTERVAL_SECONDS = 1.0
# About 64 MB of 4 KiB pages: what a log may hold before the loop makes room for a restart.
RESTART_FRAMES = 16_384


def checkpoint(engine: Engine, mode: str = "PASSIVE") -> int:
    """Checkpoint the log; the frames it held (SQLite's ``log`` column)."""
    # The driver's connection in autocommit: a checkpoint cannot run inside a transaction.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        _busy, frames, _copied = cursor.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        cursor.close()
        return int(frames)
    finally:
        connection.close()


class WalCheckpointer(Loop):
    name = "wal-checkpointer"

    def interval(self) -> float:
        return INTERVAL_SECONDS

    def tick(self) -> bool:
        engine = self.runtime.engine
        if checkpoint(engine) > RESTART_FRAMES:
            turns = write_turns(engine)
            # Writers wait for their turn while it copies, not in SQLite's busy handler.
            with turns.held() if turns else contextlib.nullcontext():
                checkpoint(engine, "RESTART")
        return False
