"""Routes outbox events to rule targets and delivers them, on a short poll."""

from __future__ import annotations

from mlgov.server.events.dispatcher import Dispatcher
from mlgov.server.kit.runtime import Runtime
from mlgov.server.workers.loop import Loop


class EventDispatcher(Loop):
    name = "event-dispatcher"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.dispatcher = Dispatcher(runtime)

    def interval(self) -> float:
        return self.runtime.settings.events.dispatch_interval_seconds

    def tick(self) -> bool:
        # A busy pass goes again at once; claimed work comes back when its lease runs out.
        return bool(self.dispatcher.run_once())

    def close(self) -> None:
        self.dispatcher.close()
