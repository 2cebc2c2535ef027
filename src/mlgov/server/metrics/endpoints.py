"""Metric routes: put datapoints, read statistics, list metrics; all inside one account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request
from mlgov.server.kit.routing import Router
from mlgov.server.metrics import schemas, service

router = Router(tags=["metrics"])
PageParams = Annotated[PageRequest, Depends(page_request)]
METRICS = "/accounts/{account}/metrics"


def _ctx(request: Request) -> tuple[RequestContext, str]:
    ctx = context_of(request)
    assert ctx.account_id is not None
    return ctx, ctx.account_id


@router.post(METRICS, action="metrics:PutMetricData")
def put_metric_data(request: Request, body: schemas.PutMetricData) -> schemas.PutMetricDataResult:
    """Up to 1,000 datapoints; a bad one fails the batch with its index in the error."""
    ctx, account_id = _ctx(request)
    return service.put_metric_data(ctx.session, account_id, body)


@router.post(METRICS + "/statistics", action="metrics:GetMetricStatistics")
def get_metric_statistics(request: Request, body: schemas.StatisticsQuery) -> schemas.Statistics:
    """Statistics of one metric over epoch-aligned periods in [start_time, end_time)."""
    ctx, account_id = _ctx(request)
    return service.get_statistics(ctx.session, account_id, body)


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
