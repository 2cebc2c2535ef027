"""Training jobs: create, stop, describe; the runner's claim and outcome; their events.

Services never commit. The runner (``runner.py``) calls :func:`claim`, :func:`heartbeat`,
:func:`finish` and :func:`register_model` each in a unit of work of its own, and does the slow
parts (the subprocess, uploads, the comparison) between them, outside any transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from mlgov.errors import Conflict, ErrorCode, NotFound
from mlgov.server.db.base import utc_now
from mlgov.server.identity.tables import Principal
from mlgov.server.kit import outbox
from mlgov.server.kit.blobs import BlobStore
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.registry import schemas as registry_schemas
from mlgov.server.registry import service as registry
from mlgov.server.registry.repository import RegistryRepository
from mlgov.server.training import schemas
from mlgov.server.training.repository import TrainingRepository
from mlgov.server.training.schemas import ComparisonStatus, JobStatus
from mlgov.server.training.tables import TrainingJob

SOURCE = "mlgov.training"
JOB_CHANGE = "Training Job State Change"
# How long past its timeout a job may run before another runner presumes its runner dead.
LEASE_GRACE_SECONDS = 120


def resource_name(account_id: str, job: str) -> str:
    return f"mlgov:training:{account_id}:training-job/{job}"


# --- jobs ----------------------------------------------------------------------------------------


def get_job(session: Session, account_id: str, name: str) -> TrainingJob:
    job = TrainingRepository(session).job(account_id, name)
    if job is None:
        raise NotFound(f"training job {name} does not exist", code=ErrorCode.TRAINING_JOB_NOT_FOUND)
    return job


def list_jobs(
    session: Session, account_id: str, page: PageRequest, status: JobStatus | None = None
) -> Sequence[TrainingJob]:
    return TrainingRepository(session).jobs(
        account_id, page, status=status.value if status else None
    )


def _check_data(session: Session, account_id: str, location: schemas.DataLocation | None) -> None:
    if location is None or location.artifact_sha256 is None:
        return
    if RegistryRepository(session).artifact(account_id, location.artifact_sha256) is None:
        raise NotFound(
            f"this account has no uploaded dataset {location.artifact_sha256}; upload it first",
            code=ErrorCode.ARTIFACT_NOT_FOUND,
        )


def create_job(
    session: Session,
    account_id: str,
    created_by: str,
    data: schemas.TrainingJobCreate,
    *,
    triggered_by_event: str | None = None,
    trigger_key: str | None = None,
) -> TrainingJob:
    repo = TrainingRepository(session)
    if repo.job(account_id, data.name) is not None:
        raise Conflict(f"training job {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    registry.get_group(session, account_id, data.model_group)
    _check_data(session, account_id, data.training_data)
    _check_data(session, account_id, data.evaluation_data)
    now = utc_now()
    job = TrainingJob(
        id=new_id("tj"),
        account_id=account_id,
        name=data.name,
        status=JobStatus.PENDING.value,
        entrypoint=data.entrypoint.model_dump(mode="json", exclude_none=True),
        training_data=data.training_data.model_dump(mode="json", exclude_none=True),
        evaluation_data=data.evaluation_data.model_dump(mode="json", exclude_none=True)
        if data.evaluation_data
        else None,
        hyperparameters=dict(data.hyperparameters),
        environment=dict(data.environment),
        model_group=data.model_group,
        flavor=data.flavor.value,
        model_file=data.model_file,
        comparison_config=data.comparison.model_dump(mode="json", exclude_none=True),
        timeout_seconds=data.timeout_seconds,
        triggered_by_event=triggered_by_event,
        trigger_key=trigger_key,
        stop_requested=False,
        datasets=[],
        metrics={},
        comparison_status=ComparisonStatus.PENDING.value,
        comparison_summary={},
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    repo.add(job)
    _event(session, job)
    return job


def stop_job(session: Session, job: TrainingJob) -> TrainingJob:
    """Stop a pending job at once; ask the runner of a running one to kill its process."""
    if job.status in schemas.FINISHED:
        raise Conflict(
            f"training job {job.name} is {job.status} and cannot be stopped",
            code=ErrorCode.TRAINING_JOB_NOT_STOPPABLE,
            details={"status": job.status},
        )
    now = utc_now()
    if job.status == JobStatus.PENDING.value:
        job.status, job.finished_at = JobStatus.STOPPED.value, now
        job.failure_reason = "stopped before it started"
        job.comparison_status = ComparisonStatus.SKIPPED.value
    job.stop_requested = True
    job.updated_at = now
    _flush(session, job)
    if job.status == JobStatus.STOPPED.value:
        _event(session, job)
    return job


def _flush(session: Session, job: TrainingJob) -> None:
    name = job.name  # a failed flush expires the row
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"training job {name} changed concurrently; read it again", code=ErrorCode.CONFLICT
        ) from exc


def _event(session: Session, job: TrainingJob, **extra: Any) -> None:
    outbox.emit(
        session,
        account_id=job.account_id,
        source=SOURCE,
        detail_type=JOB_CHANGE,
        resources=[resource_name(job.account_id, job.name)],
        detail={
            "TrainingJobName": job.name,
            "TrainingJobId": job.id,
            "TrainingJobStatus": job.status,
            "FailureReason": job.failure_reason,
            "ModelPackageGroupName": job.model_group,
            "ModelPackageVersion": job.model_version,
            "TriggeredByEvent": job.triggered_by_event,
            **extra,
        },
    )


# --- logs and comparison ---------------------------------------------------------------------


def logs(blobs: BlobStore, job: TrainingJob, stream: schemas.LogStream) -> bytes:
    """The stored log; empty until the job has finished."""
    sha256 = job.stdout_sha256 if stream is schemas.LogStream.STDOUT else job.stderr_sha256
    return blobs.read_verified(sha256) if sha256 else b""


def comparison(blobs: BlobStore, job: TrainingJob) -> schemas.Comparison:
    report = None
    if job.comparison_sha256:
        report = json.loads(blobs.read_verified(job.comparison_sha256))
    return schemas.Comparison(
        job=job.name,
        status=ComparisonStatus(job.comparison_status),
        summary=dict(job.comparison_summary),
        report_sha256=job.comparison_sha256,
        report=report,
    )


# --- the runner's side -----------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A snapshot of a claimed job: what the runner needs with no session open."""

    id: str
    account_id: str
    name: str
    entrypoint: dict[str, Any]
    training_data: dict[str, Any]
    evaluation_data: dict[str, Any] | None
    hyperparameters: dict[str, Any]
    environment: dict[str, Any]
    model_group: str
    flavor: str
    model_file: str | None
    comparison: dict[str, Any]
    timeout_seconds: int
    triggered_by_event: str | None
    previous_status: str


def claim(session: Session, now: datetime) -> Claimed | None:
    """Take the next job: Pending, or InProgress under a lapsed lease (its runner died)."""
    job = TrainingRepository(session).claim_next(now)
    if job is None:
        return None
    snapshot = Claimed(
        id=job.id,
        account_id=job.account_id,
        name=job.name,
        entrypoint=dict(job.entrypoint),
        training_data=dict(job.training_data),
        evaluation_data=dict(job.evaluation_data) if job.evaluation_data else None,
        hyperparameters=dict(job.hyperparameters),
        environment=dict(job.environment),
        model_group=job.model_group,
        flavor=job.flavor,
        model_file=job.model_file,
        comparison=dict(job.comparison_config),
        timeout_seconds=job.timeout_seconds,
        triggered_by_event=job.triggered_by_event,
        previous_status=job.status,
    )
    if job.status == JobStatus.IN_PROGRESS.value:
        # Running it again could register a second version; a dead runner's job fails instead.
        _finish_row(
            session,
            job,
            JobStatus.FAILED,
            "the runner running this job stopped before it finished",
            now,
        )
        return snapshot
    job.status, job.started_at, job.updated_at = JobStatus.IN_PROGRESS.value, now, now
    job.lease_expires_at = now + timedelta(seconds=job.timeout_seconds + LEASE_GRACE_SECONDS)
    _flush(session, job)
    _event(session, job)
    return snapshot


def heartbeat(session: Session, job_id: str) -> bool:
    """True when someone asked to stop the job (or it is no longer ours to run)."""
    job = TrainingRepository(session).job_by_id(job_id)
    return job is None or job.stop_requested or job.status != JobStatus.IN_PROGRESS.value


def _finish_row(
    session: Session,
    job: TrainingJob,
    status: JobStatus,
    reason: str | None,
    now: datetime,
    **values: Any,
) -> None:
    job.status, job.failure_reason, job.finished_at, job.updated_at = status.value, reason, now, now
    job.lease_expires_at = None
    if job.comparison_status == ComparisonStatus.PENDING.value:
        job.comparison_status = ComparisonStatus.SKIPPED.value
    for key, value in values.items():
        setattr(job, key, value)
    _flush(session, job)
    _event(session, job)


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    reason: str | None
    exit_code: int | None
    stdout_sha256: str | None
    stderr_sha256: str | None
    datasets: list[dict[str, Any]]
    metrics: dict[str, Any]


def finish(session: Session, job_id: str, outcome: Outcome) -> None:
    """Record a job that ended without a model (failed, stopped, timed out)."""
    job = TrainingRepository(session).job_by_id(job_id)
    if job is None or job.status != JobStatus.IN_PROGRESS.value:
        return
    _finish_row(
        session,
        job,
        outcome.status,
        outcome.reason,
        utc_now(),
        exit_code=outcome.exit_code,
        stdout_sha256=outcome.stdout_sha256,
        stderr_sha256=outcome.stderr_sha256,
        datasets=outcome.datasets,
        metrics=outcome.metrics,
    )


def caller_for(session: Session, principal_id: str) -> Caller:
    """Act as the job's creator; a job a rule started acts as that rule."""
    principal = session.get(Principal, principal_id)
    return Caller(
        principal_id=principal_id,
        principal_name=principal.name if principal else principal_id,
        principal_type=principal.type if principal else "Service",
        principal_account_id=principal.account_id if principal else None,
        api_key_id="-",
    )


def numeric_metrics(values: dict[str, Any]) -> dict[str, float]:
    return {
        str(k)[:256]: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def register_model(
    session: Session,
    blobs: BlobStore,
    job_id: str,
    model_chunks: Iterable[bytes],
    outcome: Outcome,
    comparison_status: ComparisonStatus,
    comparison_sha256: str | None,
    comparison_summary: dict[str, Any],
) -> int | None:
    """Register the job's model as a PendingManualApproval version and complete the job."""
    job = TrainingRepository(session).job_by_id(job_id)
    if job is None or job.status != JobStatus.IN_PROGRESS.value:
        return None
    caller = caller_for(session, job.created_by)
    ref = registry.store_artifact(session, blobs, job.account_id, caller, model_chunks)
    tags = {
        "mlgov.training_job": job.name,
        **{f"comparison.{k}": str(v)[:256] for k, v in comparison_summary.items()},
    }
    metrics = numeric_metrics(outcome.metrics)
    for key in ("candidate", "champion"):
        value = comparison_summary.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics[f"comparison.{key}"] = float(value)
    version = registry.create_version(
        session,
        job.account_id,
        job.model_group,
        caller,
        registry_schemas.ModelVersionCreate(
            artifact_sha256=ref.sha256,
            flavor=registry_schemas.Flavor(job.flavor),
            description=f"trained by training job {job.name}",
            metrics=metrics,
            parameters=dict(job.hyperparameters),
            tags=dict(list(tags.items())[:50]),
            lineage=registry_schemas.Lineage(
                datasets=[registry_schemas.Dataset.model_validate(d) for d in outcome.datasets],
                training_job=resource_name(job.account_id, job.name),
                triggered_by_event=job.triggered_by_event,
            ),
        ),
    )
    _finish_row(
        session,
        job,
        JobStatus.COMPLETED,
        None,
        utc_now(),
        exit_code=outcome.exit_code,
        stdout_sha256=outcome.stdout_sha256,
        stderr_sha256=outcome.stderr_sha256,
        datasets=outcome.datasets,
        metrics=outcome.metrics,
        model_version=version.version,
        comparison_status=comparison_status.value,
        comparison_sha256=comparison_sha256,
        comparison_summary=comparison_summary,
    )
    return int(version.version)


def champion(
    session: Session, account_id: str, group_name: str, alias: str
) -> tuple[int, str, str] | None:
    """(version, artifact sha256, flavor) of the group's version under ``alias``, if any."""
    repo = RegistryRepository(session)
    group = repo.group(account_id, group_name)
    if group is None:
        return None
    row = repo.alias(group.id, alias)
    if row is None:
        return None
    version = repo.version_by_id(row.version_id)
    if version is None:
        return None
    return version.version, version.artifact_sha256, version.flavor
