"""Buffered writer of captured invocations into hourly JSON-lines partitions of the blob store.

``submit`` only appends a line to an in-memory list under a lock, so capture adds microseconds to
an invocation. A background thread swaps the list out at least every ``flush_seconds`` and writes
each endpoint-hour's lines as one new object

    <root>/capture/<account>/<endpoint>/<YYYY>/<MM>/<DD>/<HH>/<first ms>-<writer>-<seq>.jsonl

written under a temporary name, synced and renamed, so a reader never sees half a file and object
stores (which cannot append) work the same way. ``close`` flushes what is pending: a graceful
shutdown loses nothing. A crash loses at most the lines submitted since the last flush (one
``flush_seconds``, 1 s by default); that window is the price of not touching the disk per request.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec

logger = logging.getLogger("mlgov.capture")


@dataclass(frozen=True)
class Partition:
    account_id: str
    endpoint: str
    hour: datetime  # UTC, truncated to the hour

    @property
    def prefix(self) -> str:
        return (
            f"capture/{self.account_id}/{self.endpoint}/"
            f"{self.hour:%Y}/{self.hour:%m}/{self.hour:%d}/{self.hour:%H}"
        )


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class CaptureWriter:
    def __init__(
        self,
        url: str,
        *,
        flush_seconds: float = 1.0,
        max_pending: int = 1_000_000,
    ) -> None:
        self.fs: Any
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self.writer_id = uuid.uuid4().hex[:12]
        self.dropped = 0  # lines refused because the buffer was full (the disk fell behind)
        self.written = 0
        self._pending: list[tuple[Partition, str]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._sequence = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the hot path ---------------------------------------------------------------------------

    def submit(self, account_id: str, endpoint: str, line: str, at: datetime) -> bool:
        """Queue one JSON line; False (and counted) if the buffer is full."""
        partition = Partition(account_id, endpoint, hour_of(at))
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                return False
            self._pending.append((partition, line))
        return True

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- flushing -------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything pending now; returns how many lines were written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            groups: dict[Partition, list[str]] = defaultdict(list)
            for partition, line in batch:
                groups[partition].append(line)
            written = 0
            for partition, lines in groups.items():
                try:
                    self._write(partition, lines)
                    written += len(lines)
                except Exception:
                    # Put the lines back in front: the next flush retries them, nothing is lost.
                    logger.exception("writing %d capture lines failed; will retry", len(lines))
                    with self._lock:
                        self._pending[:0] = [(partition, line) for line in lines]
            self.written += written
            return written

    def _write(self, partition: Partition, lines: list[str]) -> None:
        self._sequence += 1
        directory = f"{self.root}/{partition.prefix}"
        self.fs.makedirs(directory, exist_ok=True)
        stamp = int(datetime.now(UTC).timestamp() * 1000)
        name = f"{directory}/{stamp}-{self.writer_id}-{self._sequence:08d}.jsonl"
        temporary = f"{name}.tmp"
        with self.fs.open(temporary, "wb") as handle:
            handle.write(("\n".join(lines) + "\n").encode("utf-8"))
            handle.flush()
            if hasattr(handle, "fileno"):
                os.fsync(handle.fileno())
        self.fs.mv(temporary, name)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def close(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    # --- reading --------------------------------------------------------------------------------

    def files(
        self, account_id: str, endpoint: str, start: datetime, end: datetime
    ) -> Iterator[str]:
        """Capture files of an endpoint whose hour overlaps [start, end), oldest hour first."""
        hour = hour_of(start)
        while hour < end:
            directory = f"{self.root}/{Partition(account_id, endpoint, hour).prefix}"
            if self.fs.exists(directory):
                for path in sorted(self.fs.ls(directory, detail=False)):
                    if str(path).endswith(".jsonl"):
                        yield str(path)
            hour += timedelta(hours=1)
