"""Ships the endpoint metrics counted in memory to the metrics store, every few seconds."""

from __future__ import annotations

import logging
import threading
import time

from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.runtime import Runtime
from mlgov.server.metrics import service as metrics

logger = logging.getLogger("mlgov.workers.endpoint_metrics")


def ship_once(runtime: Runtime) -> int:
    """Write what was recorded since the last call; returns how many datapoints went out."""
    if "endpoint_metrics" not in runtime.__dict__:
        return 0  # nothing was ever served by this process
    shipped = 0
    for account_id, batches in runtime.endpoint_metrics.drain().items():
        for batch in batches:
            with unit_of_work(runtime.session_factory) as session:
                metrics.put_metric_data(session, account_id, batch)
            shipped += len(batch.metric_data)
    return shipped


class EndpointMetricsShipper:
    name = "endpoint-metrics"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._ship()  # what the last interval counted

    def _run(self) -> None:
        interval = self.runtime.settings.serving.metrics_flush_seconds
        while not self._stop.wait(interval):
            self._ship()

    def _ship(self) -> None:
        started = time.time()
        try:
            ship_once(self.runtime)
        except Exception:
            # Metrics of this interval are lost, not the endpoint's answers: serving goes on.
            logger.exception("shipping endpoint metrics failed")
        self.runtime.telemetry.record_run(
            self.name, scheduled=started, started=started, finished=time.time()
        )
