"""Ships the endpoint metrics counted in memory to the metrics store, every few seconds."""

from __future__ import annotations

import logging

from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.runtime import Runtime
from mlgov.server.metrics import service as metrics
from mlgov.server.workers.loop import Loop

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


class EndpointMetricsShipper(Loop):
    name = "endpoint-metrics"

    def interval(self) -> float:
        return self.runtime.settings.serving.metrics_flush_seconds

    def tick(self) -> bool:
        # A failed ship loses that interval's counts, never an endpoint's answers.
        ship_once(self.runtime)
        return False

    def close(self) -> None:
        try:
            ship_once(self.runtime)  # what the last interval counted
        except Exception:
            logger.exception("shipping the last endpoint metrics failed")
