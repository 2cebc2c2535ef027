"""The one background loop every worker runs: a named thread calling ``tick`` until stopped.

A tick that raises is logged and tried again at the next interval; each worker's claims, leases
and transactions make that safe. Every tick's timing goes to the platform telemetry (worker lag
and duration on ``/metrics``).
"""

from __future__ import annotations

import logging
import threading
import time

from mlgov.server.kit.runtime import Runtime

logger = logging.getLogger("mlgov.workers")


class Loop:
    name = "loop"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._scheduled: float | None = None

    # --- what a worker defines ---

    def interval(self) -> float:
        raise NotImplementedError

    def tick(self) -> bool:
        """One pass; True when there may be more work at once (the loop then skips the wait)."""
        raise NotImplementedError

    def delay(self) -> float:
        """Seconds to wait before the next tick; by default the interval."""
        return self.interval()

    def close(self) -> None:
        """After the thread has stopped: release resources, flush what is left."""

    # --- the loop ---

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.close()

    def _run(self) -> None:
        again = False
        while not self._stop.wait(0 if again else self.delay()):
            started = time.time()
            try:
                again = self.tick()
            except Exception:
                logger.exception("worker %s failed a pass; it retries at the next one", self.name)
                again = False
            self.runtime.telemetry.record_run(
                self.name,
                scheduled=self._scheduled or started,
                started=started,
                finished=time.time(),
            )
