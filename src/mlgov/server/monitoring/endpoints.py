"""Monitoring routes: datasets, baselines, monitors on endpoints or transform jobs, executions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter

from mlgov.errors import ErrorCode, InvalidRequest
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.runtime import Runtime
from mlgov.server.monitoring import jobs, schemas, service, triggers
from mlgov.server.monitoring.tables import Monitor

router = api_router(tags=["monitoring"])
PageParams = Annotated[PageRequest, Depends(page_request)]
ACCOUNT = "/accounts/{account}"
BASELINES = ACCOUNT + "/baselines"
BASELINE = BASELINES + "/{baseline}"
MONITORS = ACCOUNT + "/monitors"
MONITOR = MONITORS + "/{monitor}"
EXECUTIONS = MONITOR + "/executions"
EXECUTION = EXECUTIONS + "/{execution}"
JSON_FILE: dict[str, Any] = {"responses": {"200": {"content": {"application/json": {}}}}}
assert triggers.HANDLER  # importing the module registers the event target
_DATASET_NAME: TypeAdapter[str] = TypeAdapter(schemas.DatasetName)


def _ctx(request: Request) -> RequestContext:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _monitor(request: Request, name: str) -> Monitor:
    ctx = _ctx(request)
    return service.get_monitor(ctx.session, ctx.account_id or "", name)


# --- datasets ---


@router.put(
    ACCOUNT + "/datasets/{dataset}",
    action="monitoring:UploadDataset",
    stream_body=True,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}}},
)
async def upload_dataset(request: Request, dataset: str) -> schemas.Dataset:
    """A Parquet, CSV or JSON-lines file for baseline jobs, kept in the account's area."""
    ctx = _ctx(request)
    runtime = _runtime(request)
    try:
        _DATASET_NAME.validate_python(dataset)
    except ValueError as exc:
        raise InvalidRequest(
            f"dataset name {dataset!r} must end in .parquet, .csv, .jsonl or .json and use "
            "letters, digits, '.', '_' and '-'",
            code=ErrorCode.INVALID_REQUEST,
        ) from exc
    limit = runtime.settings.server.max_artifact_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(
                f"the dataset exceeds {limit} bytes", code=ErrorCode.REQUEST_TOO_LARGE
            )
        chunks.append(chunk)
    return await run_in_threadpool(
        service.put_dataset, runtime.blobs, ctx.account_id or "", dataset, chunks, limit
    )


@router.read(ACCOUNT + "/datasets", action="monitoring:ListDatasets")
def list_datasets(request: Request) -> list[schemas.Dataset]:
    ctx = _ctx(request)
    return service.list_datasets(_runtime(request).blobs, ctx.account_id or "")


# --- baselines ---


@router.create(BASELINES, action="monitoring:CreateBaseline", long_running=True)
def create_baseline(request: Request, body: schemas.BaselineCreate) -> schemas.Baseline:
    """Run a baseline job over a dataset (data quality, model quality or bias) now."""
    ctx = _ctx(request)
    assert ctx.caller is not None
    row = service.create_baseline(
        ctx.session, _runtime(request).blobs, ctx.account_id or "", ctx.caller, body
    )
    return service.baseline_out(row)


@router.create(BASELINES + "/import", action="monitoring:ImportBaseline")
def import_baseline(request: Request, body: schemas.BaselineImport) -> schemas.Baseline:
    """Keep existing SageMaker statistics/constraints (or Clarify analysis) files unchanged."""
    ctx = _ctx(request)
    assert ctx.caller is not None
    row = service.import_baseline(
        ctx.session, _runtime(request).blobs, ctx.account_id or "", ctx.caller, body
    )
    return service.baseline_out(row)


@router.read(BASELINES, action="monitoring:ListBaselines")
def list_baselines(request: Request, page: PageParams) -> Page[schemas.Baseline]:
    ctx = _ctx(request)
    rows = service.list_baselines(ctx.session, ctx.account_id or "", page)
    return Page[schemas.Baseline](
        items=[service.baseline_out(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, key="name"),
    )


@router.read(BASELINE, action="monitoring:DescribeBaseline")
def describe_baseline(request: Request, baseline: str) -> schemas.Baseline:
    ctx = _ctx(request)
    return service.baseline_out(service.get_baseline(ctx.session, ctx.account_id or "", baseline))


@router.read(
    BASELINE + "/files/{file}",
    action="monitoring:DownloadBaselineFile",
    response_class=Response,
    openapi_extra=JSON_FILE,
)
def download_baseline_file(request: Request, baseline: str, file: str) -> Response:
    ctx = _ctx(request)
    row = service.get_baseline(ctx.session, ctx.account_id or "", baseline)
    data = service.baseline_file(_runtime(request).blobs, row, file)
    return Response(data, media_type="application/json")


@router.delete(BASELINE, action="monitoring:DeleteBaseline")
def delete_baseline(request: Request, baseline: str) -> Response:
    ctx = _ctx(request)
    service.delete_baseline(
        ctx.session, service.get_baseline(ctx.session, ctx.account_id or "", baseline)
    )
    return Response(status_code=204)


# --- monitors ---


@router.create(MONITORS, action="monitoring:CreateMonitor")
def create_monitor(request: Request, body: schemas.MonitorCreate) -> schemas.Monitor:
    ctx = _ctx(request)
    assert ctx.caller is not None
    row = service.create_monitor(ctx.session, ctx.account_id or "", ctx.caller, body)
    return service.monitor_out(ctx.session, row)


@router.read(MONITORS, action="monitoring:ListMonitors")
def list_monitors(
    request: Request,
    page: PageParams,
    endpoint: Annotated[str | None, Query(max_length=63)] = None,
    transform_job: Annotated[str | None, Query(max_length=63)] = None,
) -> Page[schemas.Monitor]:
    ctx = _ctx(request)
    rows = service.list_monitors(ctx.session, ctx.account_id or "", page, endpoint, transform_job)
    return Page[schemas.Monitor](
        items=[service.monitor_out(ctx.session, r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, key="name"),
    )


@router.read(MONITOR, action="monitoring:DescribeMonitor")
def describe_monitor(request: Request, monitor: str) -> schemas.Monitor:
    return service.monitor_out(_ctx(request).session, _monitor(request, monitor))


@router.patch(MONITOR, action="monitoring:UpdateMonitor")
def update_monitor(request: Request, monitor: str, body: schemas.MonitorUpdate) -> schemas.Monitor:
    ctx = _ctx(request)
    row = service.update_monitor(ctx.session, _monitor(request, monitor), body)
    return service.monitor_out(ctx.session, row)


@router.delete(MONITOR, action="monitoring:DeleteMonitor")
def delete_monitor(request: Request, monitor: str) -> Response:
    ctx = _ctx(request)
    service.delete_monitor(ctx.session, _monitor(request, monitor))
    return Response(status_code=204)


# --- executions ---


@router.create(EXECUTIONS, action="monitoring:StartMonitoringExecution")
def start_execution(
    request: Request, monitor: str, body: schemas.ExecutionStart
) -> schemas.Execution:
    """Run now over ``[start_time, end_time)``; a worker picks the execution up."""
    ctx = _ctx(request)
    assert ctx.caller is not None
    row = _monitor(request, monitor)
    execution = service.start_execution(
        ctx.session,
        row,
        trigger="manual",
        start=body.start_time,
        end=body.end_time,
        requested_by=ctx.caller.principal_name,
    )
    if body.run_inline:
        runtime = _runtime(request)
        execution_id = execution.id

        def run_now() -> None:
            jobs.run_one(runtime.session_factory, runtime.blobs, execution_id)

        ctx.after_commit.append(run_now)
    return service.execution_out(row, execution)


@router.read(EXECUTIONS, action="monitoring:ListMonitoringExecutions")
def list_executions(
    request: Request,
    monitor: str,
    page: PageParams,
    status: Annotated[schemas.ExecutionStatus | None, Query()] = None,
) -> Page[schemas.Execution]:
    """Newest first."""
    ctx = _ctx(request)
    row = _monitor(request, monitor)
    rows = service.list_executions(ctx.session, row, page, status.value if status else None)
    return Page[schemas.Execution](
        items=[service.execution_out(row, e) for e in rows[: page.page_size]],
        next_page_token=next_token(rows, page),
    )


@router.read(EXECUTION, action="monitoring:DescribeMonitoringExecution")
def describe_execution(request: Request, monitor: str, execution: str) -> schemas.Execution:
    ctx = _ctx(request)
    row = _monitor(request, monitor)
    return service.execution_out(row, service.get_execution(ctx.session, row, execution))


@router.post(EXECUTION + "/stop", action="monitoring:StopMonitoringExecution")
def stop_execution(request: Request, monitor: str, execution: str) -> schemas.Execution:
    ctx = _ctx(request)
    row = _monitor(request, monitor)
    found = service.get_execution(ctx.session, row, execution)
    return service.execution_out(row, service.stop_execution(ctx.session, row, found))


@router.read(
    EXECUTION + "/reports/{file}",
    action="monitoring:DownloadMonitoringReport",
    response_class=Response,
    openapi_extra=JSON_FILE,
)
def download_report(request: Request, monitor: str, execution: str, file: str) -> Response:
    ctx = _ctx(request)
    row = _monitor(request, monitor)
    found = service.get_execution(ctx.session, row, execution)
    return Response(
        service.report_file(_runtime(request).blobs, found, file), media_type="application/json"
    )
