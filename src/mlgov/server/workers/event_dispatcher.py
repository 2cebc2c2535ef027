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
        # Only a pass that took a full batch goes again at once. Under a steady trickle (an API
        # writing an event a call) going again whenever a pass found anything ran a pass, three
        # transactions and a write turn each, for nearly every event: a quarter of the API
        # process's CPU while it registered model versions. Claimed work comes back when its
        # lease runs out.
        return self.dispatcher.run_pass().backlog

    def close(self) -> None:
        self.dispatcher.close()
