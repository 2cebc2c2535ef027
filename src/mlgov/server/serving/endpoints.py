"""Serving routes: endpoints in an account, their invocations and their ground truth."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool

from mlgov.errors import MlgovError
from mlgov.server.identity import service as identity
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.errors import status_for
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.runtime import Runtime
from mlgov.server.serving import payloads, schemas, service

router = api_router(tags=["serving"])
PageParams = Annotated[PageRequest, Depends(page_request)]
ENDPOINTS = "/accounts/{account}/endpoints"
ENDPOINT = ENDPOINTS + "/{endpoint}"
DATA_BODY = {
    "requestBody": {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {}},
        }
    }
}


def _ctx(request: Request) -> RequestContext:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _out(row: object) -> schemas.Endpoint:
    return schemas.Endpoint.model_validate(row)


@router.create(ENDPOINTS, action="serving:CreateEndpoint")
async def create_endpoint(request: Request, body: schemas.EndpointCreate) -> schemas.Endpoint:
    """Deploy registry versions as an endpoint; its models load before the call answers."""
    ctx = _ctx(request)
    assert ctx.caller is not None

    def deploy() -> schemas.Endpoint:
        account = identity.get_account(ctx.session, ctx.account_id or "")
        assert ctx.caller is not None
        row = service.create_endpoint(ctx.session, account, ctx.caller, body)
        service.warm(_runtime(request).models, row.variants)
        return _out(row)

    return await run_in_threadpool(deploy)


@router.read(ENDPOINTS, action="serving:ListEndpoints")
def list_endpoints(request: Request, page: PageParams) -> Page[schemas.Endpoint]:
    ctx = _ctx(request)
    rows = service.list_endpoints(ctx.session, ctx.account_id or "", page)
    return Page[schemas.Endpoint](
        items=[_out(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, key="name"),
    )


@router.read(ENDPOINT, action="serving:DescribeEndpoint")
def describe_endpoint(request: Request, endpoint: str) -> schemas.Endpoint:
    ctx = _ctx(request)
    return _out(service.get_endpoint(ctx.session, ctx.account_id or "", endpoint))


@router.patch(ENDPOINT, action="serving:UpdateEndpoint")
async def update_endpoint(
    request: Request, endpoint: str, body: schemas.EndpointUpdate
) -> schemas.Endpoint:
    """Switch variants (blue/green: the new models load first), capture or description."""
    ctx = _ctx(request)

    def update() -> schemas.Endpoint:
        account = identity.get_account(ctx.session, ctx.account_id or "")
        row = service.get_endpoint(ctx.session, account.id, endpoint)
        assert ctx.caller is not None
        row = service.update_endpoint(ctx.session, account, row, ctx.caller, body)
        service.warm(_runtime(request).models, row.variants)
        return _out(row)

    return await run_in_threadpool(update)


@router.delete(ENDPOINT, action="serving:DeleteEndpoint")
def delete_endpoint(request: Request, endpoint: str) -> Response:
    ctx = _ctx(request)
    assert ctx.caller is not None
    row = service.get_endpoint(ctx.session, ctx.account_id or "", endpoint)
    service.delete_endpoint(ctx.session, row, ctx.caller)
    return Response(status_code=204)


@router.post(
    ENDPOINT + "/invocations",
    action="serving:InvokeEndpoint",
    data_body=True,
    openapi_extra=DATA_BODY,
    response_class=Response,
)
async def invoke_endpoint(
    request: Request,
    endpoint: str,
    content_type: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
    x_mlgov_inference_id: Annotated[str | None, Header(max_length=256)] = None,
    x_mlgov_target_variant: Annotated[str | None, Header(max_length=63)] = None,
) -> Response:
    """Score CSV or JSON rows with the endpoint's model; the answer is in the Accept type."""
    started = time.perf_counter()
    ctx = _ctx(request)
    runtime = _runtime(request)
    call = service.Invocation(
        body=await request.body(),
        content_type=payloads.media_type(content_type),
        accept=payloads.media_type(accept, default=payloads.media_type(content_type)),
        inference_id=x_mlgov_inference_id,
        target_variant=x_mlgov_target_variant,
    )

    def score() -> tuple[str, str, service.Answer | MlgovError]:
        """The endpoint's definition and the model's answer, in one trip to a worker thread."""
        row = service.get_endpoint(ctx.session, ctx.account_id or "", endpoint)
        try:
            answer = service.invoke(
                runtime.models, runtime.capture, row.account_id, row.name, row.variants,
                row.capture, call,
            )  # fmt: skip
        except MlgovError as error:  # counted in the endpoint's metrics, then answered
            return row.account_id, row.name, error
        return row.account_id, row.name, answer

    account_id, name, result = await run_in_threadpool(score)
    if isinstance(result, MlgovError):
        status = status_for(result)
        runtime.endpoint_metrics.record(account_id, name, call.target_variant or "-", status=status)
        raise result
    runtime.endpoint_metrics.record(
        account_id,
        name,
        result.variant,
        status=200,
        model_seconds=result.model_seconds,
        total_seconds=time.perf_counter() - started,
    )
    return Response(
        result.body,
        media_type=result.content_type,
        headers={
            "x-mlgov-variant": result.variant,
            "x-mlgov-event-id": result.event_id,
            "x-mlgov-captured": "true" if result.captured else "false",
        },
    )


@router.post(
    ENDPOINT + "/ground-truth",
    action="serving:PutGroundTruth",
    data_body=True,
    openapi_extra={"requestBody": {"content": {"application/x-ndjson": {}}}},
)
async def put_ground_truth(request: Request, endpoint: str) -> schemas.GroundTruthAccepted:
    """Ground-truth JSON lines (SageMaker layout), stored durably under the hour they arrived."""
    ctx = _ctx(request)
    body = await request.body()

    def store() -> schemas.GroundTruthAccepted:
        row = service.get_endpoint(ctx.session, ctx.account_id or "", endpoint)
        return service.put_ground_truth(
            _runtime(request).blobs, ctx.account_id or "", row.name, body
        )

    return await run_in_threadpool(store)
