"""Running monitors: start due schedules, claim executions, run the engine, record the outcome.

Each step is its own unit of work, so any number of workers can share the load:

1. :func:`schedule_due` claims monitors whose next run is due (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, the write lock on SQLite), adds a Pending execution for each and moves
   ``next_run_at`` on. A missed firing (the server was down) runs once, not once per miss.
2. :func:`claim` marks Pending executions InProgress with a lease and commits before any work.
3. :func:`run` reads the execution's capture window and runs the engine outside any transaction,
   then records the status, the reports, the metrics and the status-change event in one.

An execution whose worker died stays InProgress until its lease runs out and is then claimed
again. :func:`run_pending` does all three for tests and for ``mlgov monitors run --wait``.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session, sessionmaker

from mlgov.analytics.bias import bias_drift_check, bias_report
from mlgov.analytics.captures import CaptureWindow, iter_captures
from mlgov.analytics.custom import compute_custom_metrics
from mlgov.analytics.drift import DriftMethod, DriftSpec
from mlgov.analytics.inputs import PreprocessHandler, ReadOptions
from mlgov.analytics.merge import merge_ground_truth
from mlgov.analytics.model_quality import (
    compute_model_quality,
    evaluate_model_quality,
    with_custom_metrics,
)
from mlgov.analytics.profile import Profiler
from mlgov.analytics.violations import check
from mlgov.errors import MlgovError
from mlgov.formats.baseline import Constraints, Statistics
from mlgov.formats.bias import BiasAnalysis
from mlgov.formats.ground_truth import read_ground_truth
from mlgov.formats.model_quality import (
    ComparisonOperator,
    ModelQualityConstraints,
    ModelQualityViolation,
)
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit.blobs import BlobStore
from mlgov.server.metrics import schemas as metric_schemas
from mlgov.server.metrics import service as metrics
from mlgov.server.monitoring import service, storage
from mlgov.server.monitoring.repository import MonitoringRepository
from mlgov.server.monitoring.schemas import (
    ExecutionStatus,
    MonitorSettings,
    MonitorType,
)
from mlgov.server.monitoring.tables import Baseline, Monitor

logger = logging.getLogger("mlgov.monitoring.jobs")

NAMESPACE = "mlgov/Monitoring"
VIOLATION_COUNT = "violation_count"
BATCH = 50
SessionFactory = sessionmaker[Session]


# --- 1. schedules --------------------------------------------------------------------------------


def schedule_due(session: Session, now: datetime, limit: int = BATCH) -> list[str]:
    """Start every due scheduled monitor; returns the new execution ids."""
    from mlgov.server.monitoring import schedules

    started = []
    for monitor in MonitoringRepository(session).claim_due_monitors(now, limit):
        assert monitor.schedule is not None
        assert monitor.next_run_at is not None
        schedule = schedules.parse(monitor.schedule)
        fired_at = monitor.next_run_at
        start, end = service.default_window(monitor, fired_at)
        execution = service.start_execution(
            session, monitor, trigger="schedule", now=fired_at, start=start, end=end
        )
        started.append(execution.id)
        monitor.next_run_at = schedule.next_after(max(now, fired_at))
    session.flush()
    return started


# --- 2. claims -----------------------------------------------------------------------------------


def claim(session: Session, now: datetime, lease: timedelta, limit: int = BATCH) -> list[str]:
    ids = []
    for execution in MonitoringRepository(session).claim_runnable(now, limit):
        if execution.status == ExecutionStatus.PENDING.value:
            execution.status = ExecutionStatus.IN_PROGRESS.value
            execution.started_at = now
        execution.lease_until = now + lease
        ids.append(execution.id)
    session.flush()
    return ids


# --- 3. runs -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run produced, before it is recorded."""

    reports: dict[str, str] = field(default_factory=dict)  # file name -> JSON text
    violations: int = 0
    metrics: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


class ExecutionFailed(Exception):
    """The run cannot produce a result (no traffic, unreadable data, bad settings)."""


@dataclass(frozen=True)
class _Job:
    execution_id: str
    account_id: str
    monitor_id: str
    partition: str  # the capture and ground-truth partition: an endpoint or transform-job-<name>
    source: str  # "endpoint churn" or "transform job nightly", for messages
    kind: MonitorType
    settings: MonitorSettings
    start: datetime
    end: datetime
    baseline_files: dict[str, str]


def run(session_factory: SessionFactory, blobs: BlobStore, execution_id: str, now: datetime) -> str:
    """Run one claimed execution to its final status; returns that status."""
    with unit_of_work(session_factory) as session:
        job = _load(session, execution_id)
    if job is None:
        return "gone"
    outcome: Outcome | None = None
    reason: str | None = None
    try:
        outcome = analyse(blobs, job, now)
    except (ExecutionFailed, MlgovError) as exc:
        reason = exc.message if isinstance(exc, MlgovError) else str(exc)
    except Exception as exc:
        logger.exception("monitoring execution %s failed", execution_id)
        reason = f"internal error: {type(exc).__name__}: {exc}"
    with unit_of_work(session_factory) as session:
        return _record(session, blobs, job, outcome, reason, now)


def _load(session: Session, execution_id: str) -> _Job | None:
    repo = MonitoringRepository(session)
    execution = repo.execution_by_id(execution_id)
    if execution is None:
        return None
    monitor = repo.monitor_by_id(execution.monitor_id)
    assert monitor is not None
    baseline: Baseline | None = (
        repo.baseline_by_id(monitor.baseline_id) if monitor.baseline_id else None
    )
    return _Job(
        execution_id=execution.id,
        account_id=monitor.account_id,
        monitor_id=monitor.id,
        partition=service.capture_partition(monitor),
        source=service.source_of(monitor),
        kind=MonitorType(monitor.type),
        settings=service.monitor_settings(monitor),
        start=execution.window_start,
        end=execution.window_end,
        baseline_files=dict(baseline.files) if baseline else {},
    )


def _record(
    session: Session,
    blobs: BlobStore,
    job: _Job,
    outcome: Outcome | None,
    reason: str | None,
    now: datetime,
) -> str:
    repo = MonitoringRepository(session)
    execution = repo.execution_by_id(job.execution_id, for_update=True)
    monitor = repo.monitor_by_id(job.monitor_id)
    if execution is None or monitor is None:
        return "gone"
    if execution.status == ExecutionStatus.STOPPING.value:
        service.finish(session, monitor, execution, ExecutionStatus.STOPPED, now=now)
        return ExecutionStatus.STOPPED.value
    if execution.status != ExecutionStatus.IN_PROGRESS.value:
        return execution.status  # stopped or finished by someone else meanwhile
    if outcome is None:
        service.finish(
            session, monitor, execution, ExecutionStatus.FAILED, now=now, failure_reason=reason
        )
        return ExecutionStatus.FAILED.value
    execution.reports = {
        name: blobs.put_bytes(text.encode()).sha256 for name, text in outcome.reports.items()
    }
    execution.violation_count = outcome.violations
    execution.summary = outcome.summary
    if job.settings.emit_metrics:
        _put_metrics(session, monitor, outcome, now)
    status = (
        ExecutionStatus.COMPLETED_WITH_VIOLATIONS
        if outcome.violations
        else ExecutionStatus.COMPLETED
    )
    service.finish(session, monitor, execution, status, now=now)
    return status.value


def _put_metrics(session: Session, monitor: Monitor, outcome: Outcome, now: datetime) -> None:
    source = (
        metric_schemas.Dimension(name="TransformJobName", value=monitor.transform_job_name)
        if monitor.transform_job_name is not None
        else metric_schemas.Dimension(name="EndpointName", value=monitor.endpoint_name or "")
    )
    base = [metric_schemas.Dimension(name="MonitorName", value=monitor.name), source]
    data = [
        metric_schemas.MetricDatum(
            metric_name=name[:255],
            dimensions=base
            + [metric_schemas.Dimension(name=k, value=v) for k, v in sorted(extra.items())],
            timestamp=now,
            value=value,
        )
        for name, value, extra in outcome.metrics
        if math.isfinite(value) and abs(value) < metric_schemas.LARGEST_VALUE
    ]
    data.append(
        metric_schemas.MetricDatum(
            metric_name=VIOLATION_COUNT,
            dimensions=base,
            timestamp=now,
            value=float(outcome.violations),
            unit=metric_schemas.Unit.COUNT,
        )
    )
    for first in range(0, len(data), metric_schemas.MAX_DATUMS):
        metrics.put_metric_data(
            session,
            monitor.account_id,
            metric_schemas.PutMetricData(
                namespace=NAMESPACE, metric_data=data[first : first + metric_schemas.MAX_DATUMS]
            ),
            now=now,
        )


# --- the analyses --------------------------------------------------------------------------------


def analyse(blobs: BlobStore, job: _Job, now: datetime) -> Outcome:
    if job.kind is MonitorType.DATA_QUALITY:
        return _data_quality(blobs, job)
    if job.kind is MonitorType.MODEL_QUALITY:
        return _model_quality(blobs, job, now)
    if job.kind is MonitorType.BIAS:
        return _bias(blobs, job, now)
    return _custom(blobs, job, now)


def _document(blobs: BlobStore, job: _Job, name: str) -> bytes:
    sha256 = job.baseline_files.get(name)
    if sha256 is None:
        raise ExecutionFailed(f"the monitor's baseline has no {name}")
    return blobs.read_verified(sha256)


def load_handler(spec: str | None) -> PreprocessHandler | None:
    """A preprocess handler named ``module:function`` (importable on the worker)."""
    if spec is None:
        return None
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ExecutionFailed(f"preprocess_handler {spec!r} must be module:function")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ExecutionFailed(f"preprocess_handler {spec!r} cannot be loaded: {exc}") from exc
    if not callable(function):
        raise ExecutionFailed(f"preprocess_handler {spec!r} is not callable")
    handler: PreprocessHandler = function
    return handler


def _read_options(settings: MonitorSettings, names: Sequence[str] | None) -> ReadOptions:
    return ReadOptions(
        column_names=list(names) if names else None,
        preprocess_handler=load_handler(settings.preprocess_handler),
    )


def _captures(blobs: BlobStore, job: _Job) -> list[str]:
    files = storage.capture_files(blobs, job.account_id, job.partition, job.start, job.end)
    if not files:
        raise ExecutionFailed(
            f"no captured data for {job.source} between {job.start.isoformat()} and "
            f"{job.end.isoformat()}"
        )
    return files


def _data_quality(blobs: BlobStore, job: _Job) -> Outcome:
    statistics = Statistics.parse_json(_document(blobs, job, service.STATISTICS))
    constraints = Constraints.parse_json(_document(blobs, job, service.CONSTRAINTS))
    names = job.settings.column_names or [f.name for f in constraints.features]
    options = _read_options(job.settings, names)
    profiler = Profiler()
    rows = 0
    with storage.fetched(blobs, _captures(blobs, job)) as files:
        for features, _ in iter_captures(files, options, CaptureWindow(job.start, job.end)):
            if features.num_rows:
                profiler.update(features)
                rows += features.num_rows
    if rows == 0:
        raise ExecutionFailed("no captured records in the window")
    drift = None
    if job.settings.drift_method or job.settings.drift_threshold:
        method = job.settings.drift_method or "auto"
        drift = DriftSpec(
            method="auto" if method == "auto" else DriftMethod(method),
            threshold=job.settings.drift_threshold,
        )
    report = check(profiler.statistics(), statistics, constraints, drift=drift)
    outcome = Outcome(
        reports={
            service.STATISTICS: report.statistics.dump_json(),
            service.VIOLATIONS: report.violations.dump_json(),
        },
        violations=len(report.violations.violations),
        summary={
            "records": rows,
            "checks": _counts(v.constraint_check_type for v in report.violations.violations),
            "drift": {r.feature_name: r.value for r in report.drift},
        },
    )
    for result in report.drift:
        outcome.metrics.append((f"feature_baseline_drift_{result.feature_name}", result.value, {}))
    return outcome


def _counts(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def _attribute(name: str | None) -> str | None:
    """SageMaker names capture columns by position (``"0"``); so may a monitor's settings."""
    return f"_c{name}" if name is not None and name.isdigit() else name


def _predictions(blobs: BlobStore, job: _Job, names: Sequence[str] | None) -> pa.Table:
    options = _read_options(job.settings, names)
    features: list[pa.RecordBatch] = []
    metadata: list[pa.RecordBatch] = []
    with storage.fetched(blobs, _captures(blobs, job)) as files:
        for part, meta in iter_captures(files, options, CaptureWindow(job.start, job.end)):
            if part.num_rows:
                features.append(part)
                metadata.append(meta)
    if not features:
        raise ExecutionFailed("no captured records in the window")
    table = (
        pa.Table.from_batches(features)
        if len(features) == 1
        else pa.concat_tables(
            [pa.Table.from_batches([b]) for b in features], promote_options="permissive"
        )
    )
    meta_table = pa.Table.from_batches(metadata)
    for name in meta_table.column_names:
        if name not in table.column_names:
            table = table.append_column(name, meta_table.column(name))
    return table


def _merged(blobs: BlobStore, job: _Job, now: datetime, *, required: bool) -> pa.Table:
    predictions = _predictions(blobs, job, job.settings.column_names)
    label_files = storage.ground_truth_files(
        blobs, job.account_id, job.partition, job.start, max(now, job.end)
    )
    if not label_files:
        if required:
            raise ExecutionFailed(f"no ground truth for {job.source} since {job.start.isoformat()}")
        return predictions
    with storage.fetched(blobs, label_files) as files:
        labels = pa.concat_tables([read_ground_truth(f) for f in files])
    result = merge_ground_truth(predictions, labels)
    if result.matched == 0 and required:
        raise ExecutionFailed(
            f"none of the {predictions.num_rows} predictions in the window has ground truth "
            "(labels join on inferenceId, else eventId)"
        )
    return result.table


def _model_quality(blobs: BlobStore, job: _Job, now: datetime) -> Outcome:
    settings = job.settings.model_quality
    if settings is None:
        raise ExecutionFailed("the monitor has no model_quality settings")
    constraints = ModelQualityConstraints.model_validate_json(
        _document(blobs, job, service.CONSTRAINTS)
    )
    merged = _merged(blobs, job, now, required=True)
    statistics = compute_model_quality(
        merged,
        settings.problem_type,
        ground_truth_attribute=settings.ground_truth_attribute,
        inference_attribute=_attribute(settings.inference_attribute),
        probability_attribute=_attribute(settings.probability_attribute),
        probability_threshold=settings.probability_threshold,
        positive_label=settings.positive_label,
        evaluation_time=now,
    )
    if job.settings.custom_metrics:
        values = compute_custom_metrics(
            merged, job.settings.custom_metrics, job.settings.custom_params
        )
        statistics = with_custom_metrics(statistics, values)
    violations = evaluate_model_quality(statistics, constraints)
    extra = _threshold_violations(
        {k: v.value for k, v in statistics.metrics.scalar_metrics().items()},
        job.settings.custom_thresholds,
    )
    found = [v.to_dict() for v in violations.violations] + [v.to_dict() for v in extra]
    outcome = Outcome(
        reports={
            service.STATISTICS: statistics.to_json(),
            service.VIOLATIONS: _violations_json(found),
        },
        violations=len(found),
        summary={
            "records": merged.num_rows,
            "metrics": {
                k: v.value
                for k, v in statistics.metrics.scalar_metrics().items()
                if math.isfinite(v.value)
            },
        },
    )
    for name, metric in statistics.metrics.scalar_metrics().items():
        outcome.metrics.append((name, metric.value, {}))
    return outcome


def _violations_json(violations: list[dict[str, Any]]) -> str:
    import json

    return json.dumps({"violations": violations}, indent=2)


def _threshold_violations(
    values: dict[str, float], thresholds: dict[str, dict[str, Any]]
) -> list[ModelQualityViolation]:
    found = []
    for name, rule in thresholds.items():
        try:
            threshold = float(rule["threshold"])
            operator = ComparisonOperator(rule.get("comparison_operator", "GreaterThanThreshold"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ExecutionFailed(f"custom threshold for {name} is malformed: {exc}") from exc
        value = values.get(name)
        if value is None:
            raise ExecutionFailed(f"custom threshold names {name}, which no metric produced")
        if math.isnan(value) or operator.is_violated_by(value, threshold):
            found.append(
                ModelQualityViolation(
                    constraint_check_type=str(operator),
                    description=f"Metric {name} with {value} was {operator} {threshold}",
                    metric_name=name,
                )
            )
    return found


def _custom(blobs: BlobStore, job: _Job, now: datetime) -> Outcome:
    merged = _merged(blobs, job, now, required=False)
    values = compute_custom_metrics(merged, job.settings.custom_metrics, job.settings.custom_params)
    violations = _threshold_violations(values, job.settings.custom_thresholds)
    import json

    return Outcome(
        reports={
            "custom_metrics.json": json.dumps({"metrics": values}, indent=2),
            service.VIOLATIONS: _violations_json([v.to_dict() for v in violations]),
        },
        violations=len(violations),
        metrics=[(name, value, {}) for name, value in values.items()],
        summary={"records": merged.num_rows, "metrics": values},
    )


def _bias(blobs: BlobStore, job: _Job, now: datetime) -> Outcome:
    settings = job.settings.bias
    if settings is None:
        raise ExecutionFailed("the monitor has no bias settings")
    baseline = BiasAnalysis.model_validate_json(_document(blobs, job, service.ANALYSIS))
    merged = _merged(blobs, job, now, required=False)
    current = bias_report(merged, service.bias_config(settings), methods=settings.methods or "all")
    violations = bias_drift_check(current, baseline)
    outcome = Outcome(
        reports={
            service.ANALYSIS: current.to_json(),
            service.VIOLATIONS: violations.to_json(),
        },
        violations=len(violations.violations),
        summary={"records": merged.num_rows},
    )
    for stage in (current.pre_training_bias_metrics, current.post_training_bias_metrics):
        if stage is None:
            continue
        for facet, reports in stage.facets.items():
            for report in reports:
                for metric in report.metrics:
                    if metric.value is not None:
                        outcome.metrics.append(
                            (
                                f"bias_metric_{metric.name}",
                                float(metric.value),
                                {"Facet": facet, "FacetValue": report.value_or_threshold},
                            )
                        )
    return outcome


def run_one(session_factory: SessionFactory, blobs: BlobStore, execution_id: str) -> str:
    """Claim and run one Pending execution now, in this process (``run_inline``)."""
    now = utc_now()
    with unit_of_work(session_factory) as session:
        execution = MonitoringRepository(session).execution_by_id(execution_id, for_update=True)
        if execution is None or execution.status != ExecutionStatus.PENDING.value:
            return execution.status if execution else "gone"
        execution.status = ExecutionStatus.IN_PROGRESS.value
        execution.started_at = now
        execution.lease_until = now + timedelta(hours=1)
    return run(session_factory, blobs, execution_id, utc_now())


# --- all at once ---------------------------------------------------------------------------------


def run_pending(
    session_factory: SessionFactory,
    blobs: BlobStore,
    now: datetime | None = None,
    *,
    lease: timedelta = timedelta(hours=1),
    clock: Callable[[], datetime] | None = None,
) -> dict[str, str]:
    """Start due schedules, then run every runnable execution; returns id -> final status."""
    now = now or utc_now()
    with unit_of_work(session_factory) as session:
        schedule_due(session, now)
    results: dict[str, str] = {}
    while True:
        with unit_of_work(session_factory) as session:
            ids = claim(session, now, lease)
        if not ids:
            return results
        for execution_id in ids:
            results[execution_id] = run(
                session_factory, blobs, execution_id, (clock or (lambda: now))()
            )
        if len(ids) < BATCH:
            return results
