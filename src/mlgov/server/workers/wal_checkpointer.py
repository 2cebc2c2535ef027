"""Moves SQLite's write-ahead log into the database file in the background.

Left to itself, SQLite checkpoints inside whichever commit pushes the log past its threshold, so
one call in many pays for everyone's pages: a 10,000-alarm evaluation round spent a fifth of its
time there, and API calls saw it as a stall at p99. Long-running processes (server, worker,
endpoint process) turn that off on their connections and checkpoint here instead, once a second,
in PASSIVE mode: it copies what no reader still needs and never waits for a reader or a writer.
"""

from __future__ import annotations

from sqlalchemy import Engine

from mlgov.server.workers.loop import Loop

INTERVAL_SECONDS = 1.0


def checkpoint(engine: Engine) -> None:
    # The driver's connection in autocommit: a checkpoint cannot run inside a transaction.
    connection = engine.raw_connection()
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
    finally:
        connection.close()


class WalCheckpointer(Loop):
    name = "wal-checkpointer"

    def interval(self) -> float:
        return INTERVAL_SECONDS

    def tick(self) -> bool:
        checkpoint(self.runtime.engine)
        return False
