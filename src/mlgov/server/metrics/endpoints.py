"""Metric routes: put datapoints, read statistics, list metrics; all inside one account."""

from __future__ import annotations

import email.message
import functools
import json
from typing import Annotated, Any

import pydantic_core
from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.routing import offload, prepared
from mlgov.server.metrics import batch as batches
from mlgov.server.metrics import schemas, service

router = api_router(tags=["metrics"])
PageParams = Annotated[PageRequest, Depends(page_request)]
METRICS = "/accounts/{account}/metrics"


def _ctx(request: Request) -> tuple[RequestContext, str]:
    ctx = context_of(request)
    assert ctx.account_id is not None
    return ctx, ctx.account_id


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with its ``$defs`` references replaced by the definitions themselves."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


_PUT_SCHEMA = schemas.PutMetricData.model_json_schema()
PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(_PUT_SCHEMA, _PUT_SCHEMA["$defs"])}},
    }
}


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """FastAPI's test of a JSON content type (``application/json``, ``application/*+json``)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _json_document(request: Request, body: bytes) -> Any:
    """The body as FastAPI would hand it to a model (same content-type rules, same errors)."""
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    content_type = request.headers.get("content-type")
    if content_type and not _is_json(content_type):
        return body  # not JSON: the model refuses it as FastAPI's would
    try:
        return pydantic_core.from_json(body)
    except ValueError:
        pass  # the standard parser decides, and words the error
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from exc


def _batch(request: Request, body: bytes) -> batches.Batch:
    """Columns straight from the JSON; the model validates (and words errors) when in doubt."""
    document = _json_document(request, body)
    decoded = batches.decode(document)
    if decoded is not None:
        return decoded
    try:
        model = schemas.PutMetricData.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc
    return batches.from_model(model)


@router.post(
    METRICS,
    action="metrics:PutMetricData",
    data_body=True,
    prepare=_batch,
    openapi_extra=PUT_BODY,
    response_model=schemas.PutMetricDataResult,
)
async def put_metric_data(request: Request) -> schemas.PutMetricDataResult:
    """Up to 1,000 datapoints; a bad one fails the batch with its index in the error.

    A data route: the audit record keeps the body's size and type, not the datapoints.
    """
    ctx, account_id = _ctx(request)
    data: batches.Batch = prepared(request)  # decoded by the route's prepare step (kit.routing)
    result: schemas.PutMetricDataResult = await offload(
        service.ingest, ctx.session, account_id, data
    )
    return result


@router.post(METRICS + "/statistics", action="metrics:GetMetricStatistics")
def get_metric_statistics(request: Request, body: schemas.StatisticsQuery) -> schemas.Statistics:
    """Statistics of one metric over epoch-aligned periods in [start_time, end_time)."""
    ctx, account_id = _ctx(request)
    return service.get_statistics(ctx.session, account_id, body)


@router.post(METRICS + "/data", action="metrics:GetMetricData")
def get_metric_data(request: Request, body: schemas.MetricDataRequest) -> schemas.MetricData:
    """Several metrics at once, and metric math over them (arithmetic, SUM/AVG/MIN/MAX, SEARCH)."""
    ctx, account_id = _ctx(request)
    return service.get_metric_data(ctx.session, account_id, body)


@router.read(METRICS, action="metrics:ListMetrics")
def list_metrics(
    request: Request,
    page: PageParams,
    namespace: Annotated[str | None, Query(max_length=255)] = None,
    metric_name: Annotated[str | None, Query(max_length=255)] = None,
    dimension: Annotated[
        list[str] | None,
        Query(max_length=30, description="NAME or NAME=VALUE; repeat for more."),
    ] = None,
) -> Page[schemas.MetricOut]:
    ctx, account_id = _ctx(request)
    rows = service.list_metrics(
        ctx.session,
        account_id,
        page,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimension or [],
    )
    return Page[schemas.MetricOut](
        items=[
            schemas.MetricOut(
                namespace=m.namespace,
                metric_name=m.name,
                dimensions=[schemas.Dimension(**d) for d in m.dimensions],
                unit=m.unit,
                last_timestamp=service.from_epoch(m.last_timestamp),
            )
            for m in rows[: page.page_size]
        ],
        next_page_token=next_token(rows, page),
    )
