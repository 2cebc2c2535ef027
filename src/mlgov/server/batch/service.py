"""Batch transform: score a dataset with a registry version, in record batches, with capture.

A job is created ``Pending`` (the version pinned, the input checked to be the account's own), a
worker claims it and runs it outside any transaction: the dataset streams from the blob store in
record batches, each batch is scored, written to a Parquet output with an ``inference_id`` per
row and, with capture on, captured in the SageMaker layout as endpoints do, under
``capture/<account id>/transform-job-<name>/...``. The result commits as ``Completed`` (with the
output's hash) or ``Failed`` (with the reason). A claimed job whose worker died is claimed again
once its lease runs out.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mlgov.analytics.inputs import DataFormat, ReadOptions, iter_batches
from mlgov.errors import Conflict, ErrorCode, InvalidRequest, MlgovError, NotFound
from mlgov.server.batch import schemas
from mlgov.server.batch.tables import TransformJob
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import unit_of_work
from mlgov.server.identity.tables import Account
from mlgov.server.kit import outbox
from mlgov.server.kit.blobs import BlobRef, BlobStore
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.kit.runtime import Runtime
from mlgov.server.registry import service as registry
from mlgov.server.registry.repository import RegistryRepository
from mlgov.server.serving import schemas as serving_schemas
from mlgov.server.serving import service as serving
from mlgov.server.serving.schemas import RESERVED_PREFIX

SOURCE = "mlgov.serving"
JOB_CHANGE = "Transform Job State Change"
LEASE = timedelta(hours=1)
MAX_ATTEMPTS = 3
FORMATS = {"csv": DataFormat.CSV, "parquet": DataFormat.PARQUET, "jsonl": DataFormat.JSONL}


def capture_name(job_name: str) -> str:
    return f"{RESERVED_PREFIX}{job_name}"


def get_job(session: Session, account_id: str, name: str) -> TransformJob:
    row = session.execute(
        select(TransformJob).where(TransformJob.account_id == account_id, TransformJob.name == name)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(
            f"transform job {name} does not exist", code=ErrorCode.TRANSFORM_JOB_NOT_FOUND
        )
    return row


def list_jobs(session: Session, account_id: str, page: PageRequest) -> Sequence[TransformJob]:
    query = select(TransformJob).where(TransformJob.account_id == account_id)
    if page.after:
        query = query.where(TransformJob.name > page.after)
    return (
        session.execute(query.order_by(TransformJob.name).limit(page.page_size + 1)).scalars().all()
    )


def create_job(
    session: Session, account: Account, caller: Caller, data: schemas.TransformJobCreate
) -> TransformJob:
    taken = session.execute(
        select(TransformJob.id).where(
            TransformJob.account_id == account.id, TransformJob.name == data.name
        )
    ).first()
    if taken:
        raise Conflict(f"transform job {data.name} exists", code=ErrorCode.ALREADY_EXISTS)
    if RegistryRepository(session).artifact(account.id, data.input.sha256) is None:
        raise NotFound(
            f"dataset {data.input.sha256} was not uploaded to account {account.name}",
            code=ErrorCode.ARTIFACT_NOT_FOUND,
        )
    job = TransformJob(
        id=new_id("tj"),
        account_id=account.id,
        name=data.name,
        model=serving.pin_version(session, account, data.group, data.version),
        input=data.input.model_dump(),
        capture=data.capture,
        status=schemas.JobStatus.PENDING.value,
        records=0,
        created_by=caller.principal_id,
        created_at=utc_now(),
    )
    session.add(job)
    session.flush()
    _event(session, job)
    return job


def put_ground_truth(
    session: Session, blobs: BlobStore, account_id: str, name: str, body: bytes
) -> serving_schemas.GroundTruthAccepted:
    """Labels for the job's captured rows (inference ids ``<job>-<row>``), stored as an
    endpoint's are, under ``ground-truth/<account id>/transform-job-<name>/...``."""
    job = get_job(session, account_id, name)
    if not job.capture:
        raise InvalidRequest(
            f"transform job {name} does not capture its records: ground truth needs a job "
            "created with capture on",
            code=ErrorCode.INVALID_REQUEST,
        )
    return serving.put_ground_truth(blobs, account_id, capture_name(job.name), body)


def _event(session: Session, job: TransformJob) -> None:
    outbox.emit(
        session,
        account_id=job.account_id,
        source=SOURCE,
        detail_type=JOB_CHANGE,
        resources=[f"mlgov:serving:{job.account_id}:transform-job/{job.name}"],
        detail={
            "TransformJobName": job.name,
            "TransformJobStatus": job.status,
            "FailureReason": job.failure_reason,
            "ModelPackageGroupName": job.model.get("group"),
            "ModelPackageVersion": job.model.get("version"),
            "Records": job.records,
            "OutputSha256": job.output_sha256,
        },
    )


# --- running -------------------------------------------------------------------------------------


def claim(session: Session, now: datetime) -> TransformJob | None:
    """The oldest pending job, or one whose worker's lease ran out, now InProgress."""
    stale = now - LEASE
    job = session.execute(
        select(TransformJob)
        .where(
            or_(
                TransformJob.status == schemas.JobStatus.PENDING.value,
                (TransformJob.status == schemas.JobStatus.IN_PROGRESS.value)
                & (TransformJob.started_at < stale),
            )
        )
        .order_by(TransformJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if job is None:
        return None
    job.attempts += 1
    if job.attempts > MAX_ATTEMPTS:
        job.status, job.failure_reason, job.ended_at = (
            "Failed",
            "the job's worker died 3 times",
            now,
        )
        _event(session, job)
        return None
    job.status, job.started_at = schemas.JobStatus.IN_PROGRESS.value, now
    _event(session, job)
    return job


def run_pending(runtime: Runtime) -> int:
    """Run every claimable job; returns how many ran."""
    ran = 0
    while True:
        with unit_of_work(runtime.session_factory) as session:
            job = claim(session, utc_now())
            ticket = (
                (job.id, job.account_id, job.name, dict(job.model), dict(job.input), job.capture)
                if job
                else None
            )
        if ticket is None:
            return ran
        run(runtime, *ticket)
        ran += 1


def run(
    runtime: Runtime,
    job_id: str,
    account_id: str,
    name: str,
    model_spec: dict[str, Any],
    input_spec: dict[str, Any],
    capture: bool,
) -> None:
    try:
        records, ref = _transform(runtime, account_id, name, model_spec, input_spec, capture)
    except Exception as exc:  # every failure becomes the job's reason, never a lost job
        reason = exc.message if isinstance(exc, MlgovError) else f"{type(exc).__name__}: {exc}"
        _finish(runtime, job_id, schemas.JobStatus.FAILED, reason=reason)
        return
    _finish(runtime, job_id, schemas.JobStatus.COMPLETED, records=records, output=ref)


def _finish(
    runtime: Runtime,
    job_id: str,
    status: schemas.JobStatus,
    *,
    reason: str | None = None,
    records: int = 0,
    output: BlobRef | None = None,
) -> None:
    with unit_of_work(runtime.session_factory) as session:
        job = session.get(TransformJob, job_id)
        assert job is not None
        job.status, job.failure_reason, job.ended_at = status.value, reason, utc_now()
        job.records = records
        if output is not None:
            job.output_sha256, job.output_size = output.sha256, output.size
            registry.store_artifact_reference(session, job.account_id, output, job.created_by)
        _event(session, job)


def _features(batch: pa.RecordBatch, columns: list[str]) -> tuple[list[str], np.ndarray]:
    names = (
        columns if columns and all(c in batch.schema.names for c in columns) else batch.schema.names
    )
    try:
        matrix = np.column_stack(
            [batch.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in names]
        )
    except (ValueError, TypeError, pa.ArrowInvalid) as exc:
        raise InvalidRequest(
            f"the dataset's columns {', '.join(names)} are not all numeric: {exc}",
            code=ErrorCode.INVALID_DATA,
        ) from exc
    return list(names), matrix


def _transform(
    runtime: Runtime,
    account_id: str,
    name: str,
    model_spec: dict[str, Any],
    input_spec: dict[str, Any],
    capture: bool,
) -> tuple[int, BlobRef]:
    model = runtime.models.get(model_spec["artifact_sha256"], model_spec["flavor"])
    with tempfile.TemporaryDirectory(prefix="mlgov-transform-") as scratch:
        source = Path(scratch) / f"input.{input_spec['format']}"
        with open(source, "wb") as out:
            for chunk in runtime.blobs.open_verified(input_spec["sha256"]):
                out.write(chunk)
        options = ReadOptions(
            format=FORMATS[input_spec["format"]],
            csv_header=bool(input_spec.get("csv_header", True)),
        )
        target = Path(scratch) / "output.parquet"
        writer: pq.ParquetWriter | None = None
        records = 0
        try:
            for batch in iter_batches(str(source), options):
                if batch.num_rows == 0:
                    continue
                names, features = _features(batch, list(model_spec.get("columns") or []))
                predictions = model.predict(features).reshape(batch.num_rows, -1)
                ids = [f"{name}-{records + i}" for i in range(batch.num_rows)]
                columns: dict[str, Any] = {"inference_id": pa.array(ids)}
                columns.update({n: batch.column(n) for n in names})
                if predictions.shape[1] == 1:
                    columns["prediction"] = pa.array(predictions[:, 0])
                else:
                    for k in range(predictions.shape[1]):
                        columns[f"prediction_{k}"] = pa.array(predictions[:, k])
                table = pa.table(columns)
                if writer is None:
                    writer = pq.ParquetWriter(target, table.schema)
                writer.write_table(table)
                if capture:
                    _capture(runtime, account_id, name, ids, features, predictions)
                    if runtime.capture.pending > 100_000:
                        runtime.capture.flush()  # back-pressure: a big job must not drop captures
                records += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if records == 0:
            raise InvalidRequest("the dataset has no rows", code=ErrorCode.INVALID_DATA)
        if capture:
            runtime.capture.flush()  # the captures are durable before the job says Completed
        with open(target, "rb") as handle:
            ref = runtime.blobs.put(iter(lambda: handle.read(1024 * 1024), b""))
    return records, ref


def _capture(
    runtime: Runtime,
    account_id: str,
    name: str,
    ids: list[str],
    features: np.ndarray,
    predictions: np.ndarray,
) -> None:
    moment = datetime.now(UTC)
    stamp = moment.isoformat().replace("+00:00", "Z")
    partition = capture_name(name)
    for inference_id, row, answer in zip(ids, features.tolist(), predictions.tolist(), strict=True):
        line = json.dumps(
            {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": ",".join(repr(v) for v in row),
                        "encoding": "CSV",
                    },
                    "endpointOutput": {
                        "observedContentType": "text/csv",
                        "mode": "OUTPUT",
                        "data": ",".join(repr(v) for v in answer),
                        "encoding": "CSV",
                    },
                },
                "eventMetadata": {
                    "eventId": str(uuid.uuid4()),
                    "inferenceId": inference_id,
                    "inferenceTime": stamp,
                },
                "eventVersion": "0",
            }
        )
        runtime.capture.submit(account_id, partition, line, moment)
