"""One API call at a time on SQLite: in one process, and across every process on the same file.

SQLite has one writer at a time, and every call writes (its audit record at least). Calls that
simply raced for the write lock would meet SQLite's busy handler, which backs off in sleeps of up
to 100 ms and starves callers under load. So calls queue here instead: on the event loop within a
process, holding no thread or pooled connection while they wait, and on an advisory ``flock`` of a
file beside the database between processes (``mlgov server --processes N``, or replicas), which
the kernel hands to the next waiter at once and gives back if its holder dies.

The gate is for throughput and fairness; correctness stays with SQLite's own locking, which still
guards every transaction (background workers write without the gate).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path


class CallGate:
    def __init__(self, lock_file: Path | None, *, serial: bool = True) -> None:
        """``lock_file`` None: this process alone (an in-memory database has no other);
        ``serial`` False: admit every call at once (PostgreSQL)."""
        self._lock_file = lock_file
        self._serial = serial
        self._descriptor: int | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if not self._serial:
            yield
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        await lock.acquire()
        release = True
        try:
            descriptor = self._file()
            if descriptor is not None:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    # Another process holds it: wait in a thread, which blocks in the kernel.
                    taking = loop.run_in_executor(None, fcntl.flock, descriptor, fcntl.LOCK_EX)
                    try:
                        await asyncio.shield(taking)
                    except asyncio.CancelledError:
                        # The thread takes the file lock whatever becomes of this call. Both locks
                        # are given back once it has: until then no other call of this process
                        # may start, believing it holds a lock about to be released under it.
                        release = False
                        taking.add_done_callback(lambda _done: _give_back(descriptor, lock))
                        raise
            try:
                yield
            finally:
                if descriptor is not None:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            if release:
                lock.release()

    def _file(self) -> int | None:
        if self._lock_file is None:
            return None
        if self._descriptor is None:
            self._descriptor = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        return self._descriptor

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _give_back(descriptor: int, lock: asyncio.Lock) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    lock.release()


def lock_file_of(database: str | None) -> Path | None:
    """The gate's file for a SQLite database path; None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-gate")
