"""Datasets, baselines, monitors and executions: everything but running an execution (jobs.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from mlgov.analytics.bias import BiasConfig, bias_report
from mlgov.analytics.constraints import suggest_constraints
from mlgov.analytics.custom import load_metric
from mlgov.analytics.inputs import ReadOptions, iter_batches
from mlgov.analytics.merge import parse_offset
from mlgov.analytics.model_quality import (
    compute_model_quality,
    suggest_model_quality_constraints,
)
from mlgov.analytics.profile import profile
from mlgov.errors import Conflict, ErrorCode, InvalidRequest, NotFound
from mlgov.formats.baseline import ComparisonMethod, Constraints, Statistics
from mlgov.formats.bias import BiasAnalysis
from mlgov.formats.model_quality import ModelQualityConstraints, ModelQualityStatistics
from mlgov.server.batch import service as batch
from mlgov.server.db.base import utc_now
from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.monitoring import schedules, schemas, storage
from mlgov.server.monitoring.repository import MonitoringRepository
from mlgov.server.monitoring.schemas import (
    BaselineType,
    ExecutionStatus,
    MonitorStatus,
    MonitorType,
)
from mlgov.server.monitoring.tables import Baseline, Monitor, MonitoringExecution
from mlgov.server.serving import service as serving

SOURCE = "mlgov.monitoring"
EXECUTION_STATUS_CHANGE = "Monitoring Execution Status Change"
DEFAULT_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=31)
STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
ANALYSIS = "analysis.json"
VIOLATIONS = "constraint_violations.json"
# The monitor types each baseline type serves.
BASELINE_FOR = {
    MonitorType.DATA_QUALITY: BaselineType.DATA_QUALITY,
    MonitorType.MODEL_QUALITY: BaselineType.MODEL_QUALITY,
    MonitorType.BIAS: BaselineType.BIAS,
}


def monitor_resource(account_id: str, name: str) -> str:
    return f"mlgov:monitoring:{account_id}:monitor/{name}"


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=ErrorCode.INVALID_MONITOR)


def capture_partition(row: Monitor) -> str:
    """Where its data is: the endpoint's capture (and ground-truth) partition, or the job's."""
    if row.transform_job_name is not None:
        return batch.capture_name(row.transform_job_name)
    assert row.endpoint_name is not None
    return row.endpoint_name


def source_of(row: Monitor) -> str:
    """What it watches, for messages: ``endpoint churn`` or ``transform job nightly``."""
    if row.transform_job_name is not None:
        return f"transform job {row.transform_job_name}"
    return f"endpoint {row.endpoint_name}"


# --- datasets ------------------------------------------------------------------------------------


def put_dataset(
    blobs: BlobStore, account_id: str, name: str, chunks: Iterable[bytes], limit: int
) -> schemas.Dataset:
    """Store an uploaded dataset (any Parquet, CSV or JSON-lines file) in the account's area."""
    relative = f"datasets/{name}"
    size = storage.write_stream(
        blobs, storage.area_path(blobs, account_id, relative), chunks, limit
    )
    if size == 0:
        raise InvalidRequest("the dataset is empty", code=ErrorCode.INVALID_DATA)
    return schemas.Dataset(name=name, path=relative, size=size)


def list_datasets(blobs: BlobStore, account_id: str) -> list[schemas.Dataset]:
    return [
        schemas.Dataset(name=name, path=f"datasets/{name}", size=size)
        for name, size in storage.list_area(blobs, account_id, "datasets")
    ]


# --- baselines -----------------------------------------------------------------------------------


def get_baseline(session: Session, account_id: str, name: str) -> Baseline:
    row = MonitoringRepository(session).baseline(account_id, name)
    if row is None:
        raise NotFound(f"baseline {name} does not exist", code=ErrorCode.BASELINE_NOT_FOUND)
    return row


def list_baselines(session: Session, account_id: str, page: PageRequest) -> Sequence[Baseline]:
    return MonitoringRepository(session).baselines(account_id, page)


def baseline_out(row: Baseline) -> schemas.Baseline:
    return schemas.Baseline.model_validate(
        {
            **{c: getattr(row, c) for c in schemas.Baseline.model_fields if c != "files"},
            "files": sorted(row.files),
        }
    )


def _unique_baseline(session: Session, account_id: str, name: str) -> None:
    if MonitoringRepository(session).baseline(account_id, name) is not None:
        raise Conflict(f"baseline {name} exists", code=ErrorCode.ALREADY_EXISTS)


def _store(blobs: BlobStore, documents: dict[str, str]) -> dict[str, str]:
    return {name: blobs.put_bytes(text.encode()).sha256 for name, text in documents.items()}


def create_baseline(
    session: Session,
    blobs: BlobStore,
    account_id: str,
    caller: Caller,
    data: schemas.BaselineCreate,
) -> Baseline:
    """Run a baseline job over a dataset now and store its files; bad data is a 4xx."""
    _unique_baseline(session, account_id, data.name)
    relative = f"datasets/{data.dataset}" if data.dataset else str(data.path)
    with storage.local_files(blobs, account_id, relative) as files:
        documents, summary = _baseline_documents(data, files)
    settings = data.model_dump(
        mode="json", exclude={"name", "type", "dataset", "path"}, exclude_none=True
    )
    row = Baseline(
        id=new_id("bl"),
        account_id=account_id,
        name=data.name,
        type=data.type.value,
        source="job",
        dataset=relative,
        settings=settings,
        files=_store(blobs, documents),
        summary=summary,
        created_by=caller.principal_id,
        created_at=utc_now(),
    )
    MonitoringRepository(session).add(row)
    return row


def _read_table(files: Sequence[str]) -> pa.Table:
    batches = list(iter_batches(list(files), ReadOptions()))
    if not batches:
        raise InvalidRequest("the dataset has no rows", code=ErrorCode.INVALID_DATA)
    return pa.Table.from_batches(batches)


def _baseline_documents(
    data: schemas.BaselineCreate, files: Sequence[str]
) -> tuple[dict[str, str], dict[str, Any]]:
    if data.type is BaselineType.DATA_QUALITY:
        statistics = profile(list(files))
        constraints = suggest_constraints(statistics)
        config = constraints.monitoring_config
        distribution = config.distribution_constraints if config is not None else None
        if distribution is not None and data.comparison_threshold is not None:
            distribution.comparison_threshold = data.comparison_threshold
            distribution.categorical_comparison_threshold = data.comparison_threshold
        if distribution is not None and data.comparison_method is not None:
            distribution.comparison_method = ComparisonMethod(data.comparison_method)
        summary = {
            "item_count": statistics.dataset.item_count,
            "features": [f.name for f in statistics.features],
        }
        return {
            STATISTICS: statistics.dump_json(),
            CONSTRAINTS: constraints.dump_json(),
        }, summary
    table = _read_table(files)
    if data.type is BaselineType.MODEL_QUALITY:
        assert data.model_quality is not None
        settings = data.model_quality
        mq_statistics = compute_model_quality(
            table,
            settings.problem_type,
            ground_truth_attribute=settings.ground_truth_attribute,
            inference_attribute=settings.inference_attribute,
            probability_attribute=settings.probability_attribute,
            probability_threshold=settings.probability_threshold,
            positive_label=settings.positive_label,
        )
        mq_constraints = suggest_model_quality_constraints(mq_statistics)
        summary = {
            "item_count": mq_statistics.dataset.item_count if mq_statistics.dataset else None,
            "problem_type": settings.problem_type.value,
            "thresholds": {name: c.threshold for name, c in mq_constraints.constraints.items()},
        }
        return {
            STATISTICS: mq_statistics.to_json(),
            CONSTRAINTS: mq_constraints.to_json(),
        }, summary
    assert data.bias is not None
    analysis = bias_report(table, bias_config(data.bias), methods=data.bias.methods or "all")
    return {ANALYSIS: analysis.to_json()}, {"item_count": table.num_rows}


def bias_config(settings: schemas.BiasSettings) -> BiasConfig:
    return BiasConfig(
        label=settings.label,
        facet=settings.facet,
        label_values=settings.label_values,
        label_threshold=settings.label_threshold,
        facet_values=settings.facet_values,
        facet_threshold=settings.facet_threshold,
        predicted_label=settings.predicted_label,
        probability_threshold=settings.probability_threshold,
        group_variable=settings.group_variable,
    )


def _parse(model: type[BaseModel], document: dict[str, Any], what: str) -> BaseModel:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise InvalidRequest(
            f"{what} is not in the SageMaker shape: {problems}", code=ErrorCode.INVALID_DATA
        ) from exc


def import_baseline(
    session: Session,
    blobs: BlobStore,
    account_id: str,
    caller: Caller,
    data: schemas.BaselineImport,
) -> Baseline:
    """Keep existing SageMaker baseline files byte for byte, after checking they parse."""
    import json

    _unique_baseline(session, account_id, data.name)
    documents: dict[str, str] = {}
    summary: dict[str, Any] = {}
    if data.type is BaselineType.BIAS:
        if data.analysis is None:
            raise InvalidRequest("a bias baseline import needs analysis (Clarify analysis.json)")
        _parse(BiasAnalysis, data.analysis, ANALYSIS)
        documents[ANALYSIS] = json.dumps(data.analysis, indent=2)
    else:
        if data.constraints is None:
            raise InvalidRequest("a baseline import needs constraints (constraints.json)")
        if data.type is BaselineType.DATA_QUALITY:
            if data.statistics is None:
                raise InvalidRequest("a data-quality import needs statistics and constraints")
            statistics = _parse(Statistics, data.statistics, STATISTICS)
            constraints = _parse(Constraints, data.constraints, CONSTRAINTS)
            assert isinstance(statistics, Statistics)
            assert isinstance(constraints, Constraints)
            summary = {
                "item_count": statistics.dataset.item_count if statistics.dataset else None,
                "features": [f.name for f in constraints.features],
            }
        else:
            mq = _parse(ModelQualityConstraints, data.constraints, CONSTRAINTS)
            assert isinstance(mq, ModelQualityConstraints)
            if data.statistics is not None:
                _parse(ModelQualityStatistics, data.statistics, STATISTICS)
            summary = {
                "problem_type": mq.problem_type.value,
                "thresholds": {name: c.threshold for name, c in mq.constraints.items()},
            }
        documents[CONSTRAINTS] = json.dumps(data.constraints, indent=2)
        if data.statistics is not None:
            documents[STATISTICS] = json.dumps(data.statistics, indent=2)
    row = Baseline(
        id=new_id("bl"),
        account_id=account_id,
        name=data.name,
        type=data.type.value,
        source="import",
        dataset=None,
        settings={},
        files=_store(blobs, documents),
        summary=summary,
        created_by=caller.principal_id,
        created_at=utc_now(),
    )
    MonitoringRepository(session).add(row)
    return row


def baseline_file(blobs: BlobStore, row: Baseline, name: str) -> bytes:
    sha256 = row.files.get(name)
    if sha256 is None:
        raise NotFound(
            f"baseline {row.name} has no file {name} (it has {', '.join(sorted(row.files))})",
            code=ErrorCode.REPORT_NOT_FOUND,
        )
    return blobs.read_verified(sha256)


def delete_baseline(session: Session, row: Baseline) -> None:
    users = MonitoringRepository(session).monitors_using(row.id)
    if users:
        raise Conflict(
            f"baseline {row.name} is used by monitor(s) {', '.join(sorted(users))}",
            code=ErrorCode.BASELINE_IN_USE,
        )
    session.delete(row)
    session.flush()


# --- monitors ------------------------------------------------------------------------------------


def get_monitor(session: Session, account_id: str, name: str) -> Monitor:
    row = MonitoringRepository(session).monitor(account_id, name)
    if row is None:
        raise NotFound(f"monitor {name} does not exist", code=ErrorCode.MONITOR_NOT_FOUND)
    return row


def list_monitors(
    session: Session,
    account_id: str,
    page: PageRequest,
    endpoint: str | None = None,
    transform_job: str | None = None,
) -> Sequence[Monitor]:
    return MonitoringRepository(session).monitors(account_id, page, endpoint, transform_job)


def monitor_out(session: Session, row: Monitor) -> schemas.Monitor:
    baseline = (
        MonitoringRepository(session).baseline_by_id(row.baseline_id) if row.baseline_id else None
    )
    return schemas.Monitor(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        endpoint=row.endpoint_name,
        transform_job=row.transform_job_name,
        type=MonitorType(row.type),
        baseline=baseline.name if baseline else None,
        settings=row.settings,
        schedule=row.schedule,
        status=MonitorStatus(row.status),
        next_run_at=row.next_run_at,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_settings(kind: MonitorType, settings: schemas.MonitorSettings) -> None:
    for offset in (settings.start_time_offset, settings.end_time_offset):
        if offset is not None:
            parse_offset(offset)
    if (settings.start_time_offset is None) != (settings.end_time_offset is None):
        raise _invalid("give both start_time_offset and end_time_offset, or neither")
    if (
        settings.start_time_offset
        and settings.end_time_offset
        and parse_offset(settings.start_time_offset) >= parse_offset(settings.end_time_offset)
    ):
        raise _invalid("start_time_offset must be before end_time_offset")
    if kind is MonitorType.CUSTOM_METRIC and not settings.custom_metrics:
        raise _invalid("a custom_metric monitor needs settings.custom_metrics")
    for spec in settings.custom_metrics:
        if ":" not in spec:  # built-ins and entry points resolve now; module:function at run
            load_metric(spec)


def _resolve_baseline(
    session: Session, account_id: str, kind: MonitorType, name: str | None
) -> Baseline | None:
    if name is None:
        if kind in BASELINE_FOR:
            raise _invalid(f"a {kind.value} monitor needs a baseline")
        return None
    baseline = get_baseline(session, account_id, name)
    wanted = BASELINE_FOR.get(kind)
    if wanted is not None and baseline.type != wanted.value:
        raise _invalid(
            f"baseline {name} is a {baseline.type} baseline; a {kind.value} monitor needs a "
            f"{wanted.value} one"
        )
    if kind is MonitorType.MODEL_QUALITY and CONSTRAINTS not in baseline.files:
        raise _invalid(f"baseline {name} has no constraints.json")
    return baseline


def _model_quality_settings(
    kind: MonitorType, settings: schemas.MonitorSettings, baseline: Baseline | None
) -> schemas.MonitorSettings:
    """Model-quality and bias monitors default to the settings their baseline job used."""
    if baseline is None:
        return settings
    if kind is MonitorType.MODEL_QUALITY and settings.model_quality is None:
        stored = baseline.settings.get("model_quality")
        if stored:
            settings = settings.model_copy(
                update={"model_quality": schemas.ModelQualitySettings.model_validate(stored)}
            )
        elif baseline.summary.get("problem_type"):
            settings = settings.model_copy(
                update={
                    "model_quality": schemas.ModelQualitySettings(
                        problem_type=baseline.summary["problem_type"]
                    )
                }
            )
    if kind is MonitorType.BIAS and settings.bias is None:
        stored = baseline.settings.get("bias")
        if stored:
            settings = settings.model_copy(
                update={"bias": schemas.BiasSettings.model_validate(stored)}
            )
    if kind is MonitorType.MODEL_QUALITY and settings.model_quality is None:
        raise _invalid("a model_quality monitor needs settings.model_quality")
    if kind is MonitorType.BIAS and settings.bias is None:
        raise _invalid("a bias monitor needs settings.bias")
    return settings


def create_monitor(
    session: Session,
    account_id: str,
    caller: Caller,
    data: schemas.MonitorCreate,
    now: datetime | None = None,
) -> Monitor:
    now = now or utc_now()
    repo = MonitoringRepository(session)
    if repo.monitor(account_id, data.name) is not None:
        raise Conflict(f"monitor {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    if data.transform_job is not None:
        job = batch.get_job(session, account_id, data.transform_job)  # TRANSFORM_JOB_NOT_FOUND
        if not job.capture:
            raise _invalid(
                f"transform job {data.transform_job} does not capture its records: a monitor "
                "needs a job created with capture on"
            )
    else:
        assert data.endpoint is not None
        serving.get_endpoint(session, account_id, data.endpoint)
    baseline = _resolve_baseline(session, account_id, data.type, data.baseline)
    settings = _model_quality_settings(data.type, data.settings, baseline)
    _check_settings(data.type, settings)
    schedule = schedules.parse(data.schedule) if data.schedule else None
    row = Monitor(
        id=new_id("mon"),
        account_id=account_id,
        name=data.name,
        endpoint_name=data.endpoint,
        transform_job_name=data.transform_job,
        type=data.type.value,
        baseline_id=baseline.id if baseline else None,
        settings=settings.model_dump(mode="json", exclude_defaults=True),
        schedule=schedule.expression if schedule else None,
        status=MonitorStatus.SCHEDULED.value,
        next_run_at=schedule.next_after(now) if schedule else None,
        description=data.description,
        created_by=caller.principal_id,
        created_at=now,
        updated_at=now,
    )
    repo.add(row)
    return row


def update_monitor(
    session: Session, row: Monitor, data: schemas.MonitorUpdate, now: datetime | None = None
) -> Monitor:
    now = now or utc_now()
    if not data.model_fields_set:
        raise InvalidRequest("nothing to change: give baseline, settings, schedule or status")
    kind = MonitorType(row.type)
    baseline = (
        _resolve_baseline(session, row.account_id, kind, data.baseline)
        if data.baseline is not None
        else (
            MonitoringRepository(session).baseline_by_id(row.baseline_id)
            if row.baseline_id
            else None
        )
    )
    if data.settings is not None or data.baseline is not None:
        settings = _model_quality_settings(
            kind, data.settings or schemas.MonitorSettings.model_validate(row.settings), baseline
        )
        _check_settings(kind, settings)
        row.settings = settings.model_dump(mode="json", exclude_defaults=True)
        row.baseline_id = baseline.id if baseline else None
    if data.schedule is not None:
        if data.schedule.strip().lower() == "none":
            row.schedule = None
        else:
            row.schedule = schedules.parse(data.schedule).expression
    if data.status is not None:
        row.status = data.status.value
    if data.description is not None:
        row.description = data.description
    row.next_run_at = (
        schedules.parse(row.schedule).next_after(now)
        if row.schedule and row.status == MonitorStatus.SCHEDULED.value
        else None
    )
    row.updated_at = now
    session.flush()
    return row


def delete_monitor(session: Session, row: Monitor) -> None:
    session.delete(row)
    session.flush()


def monitor_settings(row: Monitor) -> schemas.MonitorSettings:
    return schemas.MonitorSettings.model_validate(row.settings)


# --- executions ----------------------------------------------------------------------------------


def default_window(row: Monitor, at: datetime) -> tuple[datetime, datetime]:
    """What a run at ``at`` analyses: the offsets if set, else the time since the last firing."""
    settings = monitor_settings(row)
    if settings.start_time_offset and settings.end_time_offset:
        return at + parse_offset(settings.start_time_offset), at + parse_offset(
            settings.end_time_offset
        )
    if row.schedule:
        return schedules.parse(row.schedule).previous_before(at), at
    return at - DEFAULT_WINDOW, at


def _job_window(session: Session, row: Monitor) -> tuple[datetime, datetime] | None:
    """A transform job's run, when the monitor has no schedule or offsets and the job ran."""
    if row.transform_job_name is None or row.schedule:
        return None
    settings = monitor_settings(row)
    if settings.start_time_offset or settings.end_time_offset:
        return None
    try:
        job = batch.get_job(session, row.account_id, row.transform_job_name)
    except NotFound:
        return None
    if job.started_at is None or job.ended_at is None:
        return None
    # Every record is captured between the claim and the final status.
    return job.started_at, job.ended_at + timedelta(seconds=1)


def start_execution(
    session: Session,
    row: Monitor,
    *,
    trigger: str,
    now: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    requested_by: str | None = None,
) -> MonitoringExecution:
    """A Pending execution over ``[start, end)`` (default: the window a run now covers; for a
    monitor on a finished transform job without schedule or offsets, the job's run)."""
    now = now or utc_now()
    if start is None or end is None:
        start, end = _job_window(session, row) or default_window(row, now)
    if end <= start:
        raise InvalidRequest(
            f"the window is empty: end {end.isoformat()} is not after start {start.isoformat()}"
        )
    if end - start > MAX_WINDOW:
        raise InvalidRequest(f"the window may span at most {MAX_WINDOW.days} days")
    execution = MonitoringExecution(
        id=new_id("mex"),
        account_id=row.account_id,
        monitor_id=row.id,
        status=ExecutionStatus.PENDING.value,
        trigger=trigger,
        window_start=start,
        window_end=end,
        scheduled_at=now,
        created_at=now,
        violation_count=0,
        reports={},
        summary={},
        requested_by=requested_by,
    )
    MonitoringRepository(session).add(execution)
    return execution


def get_execution(session: Session, row: Monitor, execution_id: str) -> MonitoringExecution:
    execution = MonitoringRepository(session).execution(row.id, execution_id)
    if execution is None:
        raise NotFound(
            f"monitor {row.name} has no execution {execution_id}",
            code=ErrorCode.MONITORING_EXECUTION_NOT_FOUND,
        )
    return execution


def list_executions(
    session: Session, row: Monitor, page: PageRequest, status: str | None = None
) -> Sequence[MonitoringExecution]:
    return MonitoringRepository(session).executions(row.id, page, status)


def execution_out(row: Monitor, execution: MonitoringExecution) -> schemas.Execution:
    return schemas.Execution(
        id=execution.id,
        account_id=execution.account_id,
        monitor=row.name,
        endpoint=row.endpoint_name,
        transform_job=row.transform_job_name,
        type=MonitorType(row.type),
        status=ExecutionStatus(execution.status),
        trigger=execution.trigger,
        window_start=execution.window_start,
        window_end=execution.window_end,
        scheduled_at=execution.scheduled_at,
        created_at=execution.created_at,
        started_at=execution.started_at,
        ended_at=execution.ended_at,
        failure_reason=execution.failure_reason,
        violation_count=execution.violation_count,
        reports=sorted(execution.reports),
        summary=execution.summary,
        requested_by=execution.requested_by,
    )


def stop_execution(
    session: Session, row: Monitor, execution: MonitoringExecution, now: datetime | None = None
) -> MonitoringExecution:
    """Pending stops at once; InProgress becomes Stopping and Stopped when its run returns."""
    status = ExecutionStatus(execution.status)
    if status is ExecutionStatus.PENDING:
        finish(session, row, execution, ExecutionStatus.STOPPED, now=now)
    elif status is ExecutionStatus.IN_PROGRESS:
        execution.status = ExecutionStatus.STOPPING.value
        session.flush()
    elif status is not ExecutionStatus.STOPPING:
        raise Conflict(
            f"execution {execution.id} is {status.value}; only Pending or InProgress ones stop",
            code=ErrorCode.EXECUTION_NOT_STOPPABLE,
        )
    return execution


def report_file(blobs: BlobStore, execution: MonitoringExecution, name: str) -> bytes:
    sha256 = execution.reports.get(name)
    if sha256 is None:
        raise NotFound(
            f"execution {execution.id} has no report {name}"
            + (f" (it has {', '.join(sorted(execution.reports))})" if execution.reports else ""),
            code=ErrorCode.REPORT_NOT_FOUND,
        )
    return blobs.read_verified(sha256)


def finish(
    session: Session,
    row: Monitor,
    execution: MonitoringExecution,
    status: ExecutionStatus,
    *,
    now: datetime | None = None,
    failure_reason: str | None = None,
) -> None:
    """Record a final status and emit its event in the same transaction."""
    from mlgov.server.kit import outbox

    now = now or utc_now()
    execution.status = status.value
    execution.ended_at = now
    execution.lease_until = None
    execution.failure_reason = failure_reason
    session.flush()
    outbox.emit(
        session,
        account_id=row.account_id,
        source=SOURCE,
        detail_type=EXECUTION_STATUS_CHANGE,
        resources=[monitor_resource(row.account_id, row.name)],
        time=now,
        detail={
            "MonitorName": row.name,
            "MonitorType": row.type,
            "EndpointName": row.endpoint_name,
            "TransformJobName": row.transform_job_name,
            "ExecutionId": execution.id,
            "ExecutionStatus": status.value,
            "FailureReason": failure_reason,
            "ViolationCount": execution.violation_count,
            "Trigger": execution.trigger,
            "WindowStart": execution.window_start.isoformat(),
            "WindowEnd": execution.window_end.isoformat(),
            "Reports": sorted(execution.reports),
        },
    )
