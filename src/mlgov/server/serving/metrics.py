"""Endpoint metrics: each invocation is counted in memory; a worker ships them to the metrics store.

Namespace ``mlgov/Serving``, dimensions ``EndpointName`` and ``VariantName``, as SageMaker's
``AWS/SageMaker`` endpoint metrics:

- ``Invocations``, ``Invocation4XXErrors``, ``Invocation5XXErrors`` (Count; use Sum);
- ``ModelLatency`` (time in the model's predict) and ``OverheadLatency`` (the rest of the call),
  in Milliseconds, sent as values with counts so that p50/p90/p99 stay exact up to 0.01 ms;
- ``CPUUtilization`` and ``MemoryUtilization`` of the serving process (Percent), under each
  endpoint that had traffic in the interval (the in-server runtime shares one process).

Recording costs a lock and an append; a crash loses at most one flush interval of metrics.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mlgov.server.metrics import schemas as metric_schemas

NAMESPACE = "mlgov/Serving"
_MAX_VALUES = metric_schemas.MAX_VALUES
_MAX_DATUMS = metric_schemas.MAX_DATUMS


@dataclass
class _Window:
    calls: int = 0
    client_errors: int = 0
    server_errors: int = 0
    model_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)


def _latency_data(values: list[float]) -> list[tuple[list[float], list[float]]]:
    """Values rounded to 0.01 ms with their counts, in chunks the metrics API accepts."""
    if not values:
        return []
    unique, counts = np.unique(np.round(np.asarray(values), 2), return_counts=True)
    return [
        (unique[i : i + _MAX_VALUES].tolist(), counts[i : i + _MAX_VALUES].astype(float).tolist())
        for i in range(0, len(unique), _MAX_VALUES)
    ]


def _datum(
    name: str,
    unit: str,
    dimensions: list[metric_schemas.Dimension],
    moment: datetime,
    **fields: object,
) -> metric_schemas.MetricDatum:
    return metric_schemas.MetricDatum.model_validate(
        {"metric_name": name, "dimensions": dimensions, "timestamp": moment, "unit": unit, **fields}
    )


class ProcessUsage:
    """CPU (all cores = 100 * cores %) and resident memory of this process, between readings."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._wall = time.monotonic()

    def read(self) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.monotonic()
        elapsed = max(wall - self._wall, 1e-9)
        cpu_percent = 100.0 * (cpu - self._cpu) / elapsed
        self._cpu, self._wall = cpu, wall
        return cpu_percent, _memory_percent()


def _memory_percent() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])  # resident pages
        total = os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, IndexError):
        return 0.0
    return 100.0 * pages / total if total > 0 else 0.0


class EndpointMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], _Window] = defaultdict(_Window)
        self._usage = ProcessUsage()

    def record(
        self,
        account_id: str,
        endpoint: str,
        variant: str,
        *,
        status: int,
        model_seconds: float = 0.0,
        total_seconds: float = 0.0,
    ) -> None:
        with self._lock:
            window = self._windows[(account_id, endpoint, variant)]
            window.calls += 1
            if 400 <= status < 500:
                window.client_errors += 1
            elif status >= 500:
                window.server_errors += 1
            elif model_seconds or total_seconds:
                window.model_ms.append(model_seconds * 1000)
                window.overhead_ms.append(max(total_seconds - model_seconds, 0.0) * 1000)

    def drain(self, now: datetime | None = None) -> dict[str, list[metric_schemas.PutMetricData]]:
        """What was recorded since the last drain, as PutMetricData batches per account."""
        with self._lock:
            windows, self._windows = self._windows, defaultdict(_Window)
        cpu, memory = self._usage.read()
        moment = now or datetime.now(UTC)
        data: dict[str, list[metric_schemas.MetricDatum]] = defaultdict(list)
        endpoints_seen: set[tuple[str, str]] = set()
        for (account_id, endpoint, variant), window in windows.items():
            dimensions = [
                metric_schemas.Dimension(name="EndpointName", value=endpoint),
                metric_schemas.Dimension(name="VariantName", value=variant),
            ]

            batch = data[account_id]
            for name, count in (
                ("Invocations", window.calls),
                ("Invocation4XXErrors", window.client_errors),
                ("Invocation5XXErrors", window.server_errors),
            ):
                batch.append(_datum(name, "Count", dimensions, moment, value=float(count)))
            for name, values in (
                ("ModelLatency", window.model_ms),
                ("OverheadLatency", window.overhead_ms),
            ):
                for chunk_values, chunk_counts in _latency_data(values):
                    batch.append(
                        _datum(
                            name,
                            "Milliseconds",
                            dimensions,
                            moment,
                            values=chunk_values,
                            counts=chunk_counts,
                        )
                    )
            if (account_id, endpoint) not in endpoints_seen:
                endpoints_seen.add((account_id, endpoint))
                process = [metric_schemas.Dimension(name="EndpointName", value=endpoint)]
                for name, value in (("CPUUtilization", cpu), ("MemoryUtilization", memory)):
                    batch.append(_datum(name, "Percent", process, moment, value=value))
        return {
            account_id: [
                metric_schemas.PutMetricData(
                    namespace=NAMESPACE, metric_data=datums[i : i + _MAX_DATUMS]
                )
                for i in range(0, len(datums), _MAX_DATUMS)
            ]
            for account_id, datums in data.items()
        }
