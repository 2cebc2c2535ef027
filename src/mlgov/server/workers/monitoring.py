"""Starts due monitors, runs their executions and compacts closed capture hours, on a timer."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from mlgov.server.db.base import utc_now
from mlgov.server.kit.runtime import Runtime
from mlgov.server.monitoring import jobs, storage, triggers

logger = logging.getLogger("mlgov.workers.monitoring")
COMPACTION_LOOKBACK = timedelta(hours=48)


def tick(runtime: Runtime) -> dict[str, str]:
    """One pass: schedule, claim and run; returns execution id -> final status."""
    lease = timedelta(seconds=runtime.settings.monitoring.execution_lease_seconds)
    return jobs.run_pending(
        runtime.session_factory, runtime.blobs, utc_now(), lease=lease, clock=utc_now
    )


def compact(runtime: Runtime) -> int:
    return storage.compact_closed_hours(runtime.blobs, utc_now(), COMPACTION_LOOKBACK)


class MonitoringWorker:
    name = "monitoring"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        triggers.bind(runtime)  # event targets start executions in this database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        settings = self.runtime.settings.monitoring
        next_compaction = time.monotonic()
        while not self._stop.wait(settings.tick_seconds):
            started = time.time()
            try:
                tick(self.runtime)
                if time.monotonic() >= next_compaction:
                    compact(self.runtime)
                    next_compaction = time.monotonic() + settings.compaction_interval_seconds
            except Exception:
                # The executions stay claimable; the next tick (or another worker) retries.
                logger.exception("monitoring tick failed")
            self.runtime.telemetry.record_run(
                self.name, scheduled=started, started=started, finished=time.time()
            )
