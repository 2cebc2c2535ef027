"""Background loops. They run inside the server by default, or alone with ``mlgov worker``."""

from __future__ import annotations

from typing import Protocol

from mlgov.server.kit.runtime import Runtime


class Worker(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def build_workers(runtime: Runtime) -> list[Worker]:
    from mlgov.server.workers.alarm_evaluator import AlarmEvaluator
    from mlgov.server.workers.audit_sealer import AuditSealer
    from mlgov.server.workers.endpoint_metrics import EndpointMetricsShipper
    from mlgov.server.workers.event_dispatcher import EventDispatcher
    from mlgov.server.workers.monitoring import MonitoringWorker
    from mlgov.server.workers.training_runner import TrainingJobRunner
    from mlgov.server.workers.transform_runner import TransformRunner

    return [
        AuditSealer(runtime),
        EventDispatcher(runtime),
        AlarmEvaluator(runtime),
        EndpointMetricsShipper(runtime),
        MonitoringWorker(runtime),
        TransformRunner(runtime),
        TrainingJobRunner(runtime),
        *storage_workers(runtime),
    ]


def storage_workers(runtime: Runtime) -> list[Worker]:
    """What every long-running process runs, whatever else it does: SQLite's log checkpoints."""
    from mlgov.server.db.engine import is_sqlite
    from mlgov.server.workers.wal_checkpointer import WalCheckpointer

    return [WalCheckpointer(runtime)] if is_sqlite(runtime.engine) else []
