"""Alarm routes: put metric and composite alarms, describe, history, set state, actions, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response
from pydantic import TypeAdapter, ValidationError

from mlgov.errors import InvalidRequest
from mlgov.server.alarms import schemas, service
from mlgov.server.alarms.evaluation import State
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request

router = api_router(tags=["alarms"])
PageParams = Annotated[PageRequest, Depends(page_request)]
ALARMS = "/accounts/{account}/alarms"
ALARM = ALARMS + "/{alarm}"
_ALARM_NAME: TypeAdapter[str] = TypeAdapter(schemas.AlarmName)


def _ctx(request: Request) -> tuple[RequestContext, str]:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx, ctx.account_id


@router.put(ALARM, action="alarms:PutMetricAlarm")
def put_metric_alarm(request: Request, alarm: str, body: schemas.MetricAlarmPut) -> schemas.Alarm:
    """Create or replace a metric alarm; replacing keeps its state."""
    ctx, account_id = _ctx(request)
    assert ctx.caller is not None
    name = _name(alarm)
    return service.to_schema(
        service.put_metric_alarm(ctx.session, account_id, name, ctx.caller, body)
    )


@router.put("/accounts/{account}/composite-alarms/{alarm}", action="alarms:PutCompositeAlarm")
def put_composite_alarm(
    request: Request, alarm: str, body: schemas.CompositeAlarmPut
) -> schemas.Alarm:
    """Create or replace a composite alarm over alarms of the same account."""
    ctx, account_id = _ctx(request)
    assert ctx.caller is not None
    name = _name(alarm)
    return service.to_schema(
        service.put_composite_alarm(ctx.session, account_id, name, ctx.caller, body)
    )


@router.read(ALARMS, action="alarms:DescribeAlarms")
def describe_alarms(
    request: Request,
    page: PageParams,
    state: State | None = None,
    kind: schemas.AlarmKind | None = None,
    name_prefix: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[schemas.Alarm]:
    ctx, account_id = _ctx(request)
    rows = service.list_alarms(
        ctx.session, account_id, page, state=state, kind=kind, name_prefix=name_prefix
    )
    return Page[schemas.Alarm](
        items=[service.to_schema(a) for a in rows[: page.page_size]],
        next_page_token=next_token(rows, page, key="name"),
    )


@router.read(ALARM, action="alarms:DescribeAlarm")
def describe_alarm(request: Request, alarm: str) -> schemas.Alarm:
    ctx, account_id = _ctx(request)
    return service.to_schema(service.get_alarm(ctx.session, account_id, alarm))


@router.read(ALARM + "/history", action="alarms:DescribeAlarmHistory")
def describe_alarm_history(
    request: Request,
    alarm: str,
    page: PageParams,
    item_type: Annotated[str | None, Query(pattern="^(StateUpdate|ConfigurationUpdate)$")] = None,
) -> Page[schemas.HistoryItem]:
    """Newest first; kept for two weeks, also after the alarm is deleted."""
    ctx, account_id = _ctx(request)
    rows = service.history(ctx.session, account_id, alarm, page, item_type)
    return Page[schemas.HistoryItem](
        items=[schemas.HistoryItem.model_validate(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page),
    )


@router.post(ALARM + "/state", action="alarms:SetAlarmState")
def set_alarm_state(request: Request, alarm: str, body: schemas.SetAlarmState) -> schemas.Alarm:
    """Force a state until the next evaluation; a change emits the event like any other."""
    ctx, account_id = _ctx(request)
    return service.to_schema(service.set_state(ctx.session, account_id, alarm, body))


@router.post(ALARM + "/enable-actions", action="alarms:EnableAlarmActions")
def enable_alarm_actions(request: Request, alarm: str) -> schemas.Alarm:
    ctx, account_id = _ctx(request)
    return service.to_schema(service.set_actions_enabled(ctx.session, account_id, alarm, True))


@router.post(ALARM + "/disable-actions", action="alarms:DisableAlarmActions")
def disable_alarm_actions(request: Request, alarm: str) -> schemas.Alarm:
    ctx, account_id = _ctx(request)
    return service.to_schema(service.set_actions_enabled(ctx.session, account_id, alarm, False))


@router.delete(ALARM, action="alarms:DeleteAlarm")
def delete_alarm(request: Request, alarm: str) -> Response:
    ctx, account_id = _ctx(request)
    service.delete_alarm(ctx.session, account_id, alarm)
    return Response(status_code=204)


def _name(alarm: str) -> str:
    try:
        return _ALARM_NAME.validate_python(alarm)
    except ValidationError as exc:
        raise InvalidRequest(
            "alarm names are 1-255 characters without control characters, '/' or '\"'"
        ) from exc
