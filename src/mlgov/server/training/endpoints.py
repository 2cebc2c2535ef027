"""Training job routes: thin, each naming its action; all live inside one account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.runtime import Runtime
from mlgov.server.training import schemas, service
from mlgov.server.training import targets as _targets  # noqa: F401  (registers the event targets)

router = api_router(tags=["training"])
PageParams = Annotated[PageRequest, Depends(page_request)]
JOBS = "/accounts/{account}/training-jobs"
JOB = JOBS + "/{job}"


def _ctx(request: Request) -> RequestContext:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.create(JOBS, action="training:CreateTrainingJob")
def create_job(request: Request, body: schemas.TrainingJobCreate) -> schemas.TrainingJob:
    """Queue a job; the job runner starts it, and registers its model when it succeeds."""
    ctx = _ctx(request)
    assert ctx.caller is not None
    job = service.create_job(ctx.session, ctx.account_id or "", ctx.caller.principal_id, body)
    return schemas.TrainingJob.model_validate(job)


@router.read(JOBS, action="training:ListTrainingJobs")
def list_jobs(
    request: Request, page: PageParams, status: schemas.JobStatus | None = None
) -> Page[schemas.TrainingJob]:
    ctx = _ctx(request)
    rows = service.list_jobs(ctx.session, ctx.account_id or "", page, status)
    return Page[schemas.TrainingJob](
        items=[schemas.TrainingJob.model_validate(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page),
    )


@router.read(JOB, action="training:DescribeTrainingJob")
def describe_job(request: Request, job: str) -> schemas.TrainingJob:
    ctx = _ctx(request)
    return schemas.TrainingJob.model_validate(
        service.get_job(ctx.session, ctx.account_id or "", job)
    )


@router.post(JOB + "/stop", action="training:StopTrainingJob")
def stop_job(request: Request, job: str) -> schemas.TrainingJob:
    """A pending job stops at once; a running one is killed by its runner within a second."""
    ctx = _ctx(request)
    row = service.get_job(ctx.session, ctx.account_id or "", job)
    return schemas.TrainingJob.model_validate(service.stop_job(ctx.session, row))


@router.read(
    JOB + "/logs",
    action="training:GetTrainingJobLogs",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def get_logs(
    request: Request, job: str, stream: schemas.LogStream = schemas.LogStream.STDOUT
) -> Response:
    """The job's stdout or stderr (the last bytes of a long log); empty until it finishes."""
    ctx = _ctx(request)

    def read() -> bytes:
        row = service.get_job(ctx.session, ctx.account_id or "", job)
        return service.logs(_runtime(request).blobs, row, stream)

    return Response(await run_in_threadpool(read), media_type="text/plain; charset=utf-8")


@router.read(JOB + "/comparison", action="training:GetTrainingJobComparison")
def get_comparison(request: Request, job: str) -> schemas.Comparison:
    """The new model against the champion on the evaluation data; ``report`` once Completed."""
    ctx = _ctx(request)
    row = service.get_job(ctx.session, ctx.account_id or "", job)
    return service.comparison(_runtime(request).blobs, row)
