"""Routes outbox events to rule targets and delivers them, on a short poll."""

from __future__ import annotations

import logging
import threading

from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.kit.runtime import Runtime

logger = logging.getLogger("mlgov.workers.event_dispatcher")


class EventDispatcher:
    name = "event-dispatcher"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.dispatcher = Dispatcher(runtime)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.dispatcher.close()

    def _run(self) -> None:
        interval = self.runtime.settings.events.dispatch_interval_seconds
        while not self._stop.is_set():
            try:
                busy = self.dispatcher.run_once()
            except Exception:
                # The next pass retries; claimed work comes back when its lease runs out.
                logger.exception("event dispatch pass failed")
                busy = 0
            if not busy:
                self._stop.wait(interval)
