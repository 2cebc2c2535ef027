"""Batch transform routes: create a job, follow it, download its output, label its rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from mlgov.errors import Conflict, ErrorCode
from mlgov.server.batch import schemas, service
from mlgov.server.identity import service as identity
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.runtime import Runtime
from mlgov.server.serving.schemas import GroundTruthAccepted

router = api_router(tags=["batch"])
PageParams = Annotated[PageRequest, Depends(page_request)]
JOBS = "/accounts/{account}/transform-jobs"
JOB = JOBS + "/{transform_job}"


def _ctx(request: Request) -> RequestContext:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx


@router.create(JOBS, action="serving:CreateTransformJob")
def create_job(request: Request, body: schemas.TransformJobCreate) -> schemas.TransformJob:
    """Queue a job; a worker runs it (status Pending -> InProgress -> Completed or Failed)."""
    ctx = _ctx(request)
    assert ctx.caller is not None
    account = identity.get_account(ctx.session, ctx.account_id or "")
    return schemas.TransformJob.model_validate(
        service.create_job(ctx.session, account, ctx.caller, body)
    )


@router.read(JOBS, action="serving:ListTransformJobs")
def list_jobs(request: Request, page: PageParams) -> Page[schemas.TransformJob]:
    ctx = _ctx(request)
    rows = service.list_jobs(ctx.session, ctx.account_id or "", page)
    return Page[schemas.TransformJob](
        items=[schemas.TransformJob.model_validate(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, key="name"),
    )


@router.read(JOB, action="serving:DescribeTransformJob")
def describe_job(request: Request, transform_job: str) -> schemas.TransformJob:
    ctx = _ctx(request)
    return schemas.TransformJob.model_validate(
        service.get_job(ctx.session, ctx.account_id or "", transform_job)
    )


@router.read(
    JOB + "/output", action="serving:DownloadTransformOutput", response_class=StreamingResponse
)
async def download_output(request: Request, transform_job: str) -> StreamingResponse:
    """The output as Parquet: inference_id, the input columns, the prediction(s)."""
    ctx = _ctx(request)
    row = await run_in_threadpool(service.get_job, ctx.session, ctx.account_id or "", transform_job)
    if row.output_sha256 is None:
        raise Conflict(
            f"transform job {transform_job} is {row.status}: it has no output yet",
            code=ErrorCode.CONFLICT,
        )
    runtime: Runtime = request.app.state.runtime
    return StreamingResponse(
        runtime.blobs.open_verified(row.output_sha256),
        media_type="application/vnd.apache.parquet",
        headers={
            "content-length": str(row.output_size),
            "x-mlgov-sha256": row.output_sha256,
            "content-disposition": f'attachment; filename="{transform_job}.parquet"',
        },
    )


@router.post(
    JOB + "/ground-truth",
    action="serving:PutTransformJobGroundTruth",
    data_body=True,
    openapi_extra={"requestBody": {"content": {"application/x-ndjson": {}}}},
)
async def put_ground_truth(request: Request, transform_job: str) -> GroundTruthAccepted:
    """Ground-truth JSON lines (SageMaker layout) for the job's captured rows, joined on their
    inference ids (``<job>-<row>``), stored durably under the hour they arrived."""
    ctx = _ctx(request)
    body = await request.body()
    runtime: Runtime = request.app.state.runtime

    def store() -> GroundTruthAccepted:
        return service.put_ground_truth(
            ctx.session, runtime.blobs, ctx.account_id or "", transform_job, body
        )

    return await run_in_threadpool(store)
