"""Starts due monitors, runs their executions and compacts closed capture hours, on a timer."""

from __future__ import annotations

import time
from datetime import timedelta

from mlgov.server.db.base import utc_now
from mlgov.server.kit.runtime import Runtime
from mlgov.server.monitoring import jobs, storage, triggers
from mlgov.server.workers.loop import Loop

COMPACTION_LOOKBACK = timedelta(hours=48)


def tick(runtime: Runtime) -> dict[str, str]:
    """One pass: schedule, claim and run; returns execution id -> final status."""
    lease = timedelta(seconds=runtime.settings.monitoring.execution_lease_seconds)
    return jobs.run_pending(
        runtime.session_factory, runtime.blobs, utc_now(), lease=lease, clock=utc_now
    )


def compact(runtime: Runtime) -> int:
    return storage.compact_closed_hours(runtime.blobs, utc_now(), COMPACTION_LOOKBACK)


class MonitoringWorker(Loop):
    name = "monitoring"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        triggers.bind(runtime)  # event targets start executions in this database
        self._next_compaction = time.monotonic()

    def interval(self) -> float:
        return self.runtime.settings.monitoring.tick_seconds

    def tick(self) -> bool:
        # Executions stay claimable when a tick fails; the next tick (or another worker) retries.
        tick(self.runtime)
        if time.monotonic() >= self._next_compaction:
            compact(self.runtime)
            interval = self.runtime.settings.monitoring.compaction_interval_seconds
            self._next_compaction = time.monotonic() + interval
        return False
