"""Runs queued batch transform jobs, one at a time per worker."""

from __future__ import annotations

import logging
import threading
import time

from mlgov.server.batch.service import run_pending
from mlgov.server.kit.runtime import Runtime

logger = logging.getLogger("mlgov.workers.transform_runner")
POLL_SECONDS = 1.0


class TransformRunner:
    name = "transform-runner"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            started = time.time()
            try:
                run_pending(self.runtime)
            except Exception:
                # Claims commit before running: a job this loop could not finish is retried
                # after its lease, so nothing is lost by carrying on.
                logger.exception("running transform jobs failed")
            self.runtime.telemetry.record_run(
                self.name, scheduled=started, started=started, finished=time.time()
            )
