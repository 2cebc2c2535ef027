"""Event bus routes: thin, each naming its action; all live inside one account."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from mlgov.errors import InvalidRequest
from mlgov.server.events import schemas, service
from mlgov.server.events.tables import EventBus, EventRule
from mlgov.server.identity import service as identity
from mlgov.server.identity.auth import api_router
from mlgov.server.kit.context import RequestContext, context_of
from mlgov.server.kit.pagination import Page, PageRequest, next_token, page_request

router = api_router(tags=["events"])
PageParams = Annotated[PageRequest, Depends(page_request)]
ACCOUNT = "/accounts/{account}"
BUS = ACCOUNT + "/event-buses/{bus}"
RULE = BUS + "/rules/{rule}"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")


def _ctx(request: Request) -> tuple[RequestContext, str]:
    ctx = context_of(request)
    assert ctx.caller is not None
    assert ctx.account_id is not None
    return ctx, ctx.account_id


def _bus(request: Request, bus: str) -> EventBus:
    ctx, account_id = _ctx(request)
    return service.get_bus(ctx.session, account_id, bus)


def _rule(request: Request, bus: str, rule: str) -> EventRule:
    return service.get_rule(_ctx(request)[0].session, _bus(request, bus), rule)


def _rule_out(request: Request, row: EventRule, bus: str) -> schemas.Rule:
    return schemas.Rule.model_validate(
        {
            **{
                c: getattr(row, c)
                for c in (
                    "id",
                    "account_id",
                    "name",
                    "description",
                    "event_pattern",
                    "state",
                    "created_by",
                    "created_at",
                    "updated_at",
                )
            },
            "event_bus": bus,
            "arn": service.rule_arn(row.account_id, bus, row.name),
        }
    )


# --- buses and permissions ---


@router.create(ACCOUNT + "/event-buses", action="events:CreateEventBus")
def create_bus(request: Request, body: schemas.EventBusCreate) -> schemas.EventBus:
    ctx, account_id = _ctx(request)
    return schemas.EventBus.model_validate(service.create_bus(ctx.session, account_id, body))


@router.read(ACCOUNT + "/event-buses", action="events:ListEventBuses")
def list_buses(request: Request, page: PageParams) -> Page[schemas.EventBus]:
    ctx, account_id = _ctx(request)
    rows = service.list_buses(ctx.session, account_id, page)
    return Page[schemas.EventBus](
        items=[schemas.EventBus.model_validate(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, "name"),
    )


@router.read(BUS, action="events:DescribeEventBus")
def describe_bus(request: Request, bus: str) -> schemas.EventBus:
    return schemas.EventBus.model_validate(_bus(request, bus))


@router.delete(BUS, action="events:DeleteEventBus")
def delete_bus(request: Request, bus: str) -> Response:
    service.delete_bus(_ctx(request)[0].session, _bus(request, bus))
    return Response(status_code=204)


@router.put(BUS + "/permissions/{grantee}", action="events:PutEventBusPermission")
def put_permission(
    request: Request, bus: str, grantee: str, body: schemas.PermissionPut
) -> schemas.Permission:
    """Let rules of account ``grantee`` target this bus (EventBridge's bus resource policy)."""
    ctx, _ = _ctx(request)
    assert ctx.caller is not None
    found = _bus(request, bus)
    row = service.put_permission(
        ctx.session, found, identity.get_account(ctx.session, grantee), ctx.caller
    )
    return schemas.Permission.model_validate(row)


@router.delete(BUS + "/permissions/{grantee}", action="events:DeleteEventBusPermission")
def delete_permission(request: Request, bus: str, grantee: str) -> Response:
    ctx, _ = _ctx(request)
    found = _bus(request, bus)
    service.delete_permission(ctx.session, found, identity.get_account(ctx.session, grantee))
    return Response(status_code=204)


@router.read(BUS + "/permissions", action="events:ListEventBusPermissions")
def list_permissions(request: Request, bus: str) -> list[schemas.Permission]:
    ctx, _ = _ctx(request)
    return [
        schemas.Permission.model_validate(p)
        for p in service.list_permissions(ctx.session, _bus(request, bus))
    ]


# --- events ---


@router.post(ACCOUNT + "/events", action="events:PutEvents")
def put_events(request: Request, body: schemas.PutEventsRequest) -> schemas.PutEventsResponse:
    """Up to 10 entries; each gets an event id or an error code, in order (PutEvents)."""
    ctx, account_id = _ctx(request)
    return service.put_events(ctx.session, account_id, body.entries)


@router.post(ACCOUNT + "/events/test-pattern", action="events:TestEventPattern")
def test_pattern(request: Request, body: schemas.TestPatternRequest) -> schemas.TestPatternResponse:
    return schemas.TestPatternResponse(result=service.test_pattern(body))


# --- rules ---


@router.put(RULE, action="events:PutRule")
def put_rule(request: Request, bus: str, rule: str, body: schemas.RulePut) -> schemas.Rule:
    ctx, _ = _ctx(request)
    assert ctx.caller is not None
    if not _NAME.fullmatch(rule):
        raise InvalidRequest(f"rule name {rule!r} must match {_NAME.pattern}")
    found = _bus(request, bus)
    return _rule_out(request, service.put_rule(ctx.session, found, rule, body, ctx.caller), bus)


@router.read(BUS + "/rules", action="events:ListRules")
def list_rules(request: Request, bus: str, page: PageParams) -> Page[schemas.Rule]:
    ctx, _ = _ctx(request)
    rows = service.list_rules(ctx.session, _bus(request, bus), page)
    return Page[schemas.Rule](
        items=[_rule_out(request, r, bus) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, "name"),
    )


@router.read(RULE, action="events:DescribeRule")
def describe_rule(request: Request, bus: str, rule: str) -> schemas.Rule:
    return _rule_out(request, _rule(request, bus, rule), bus)


@router.delete(RULE, action="events:DeleteRule")
def delete_rule(request: Request, bus: str, rule: str) -> Response:
    service.delete_rule(_ctx(request)[0].session, _rule(request, bus, rule))
    return Response(status_code=204)


@router.post(RULE + "/enable", action="events:EnableRule")
def enable_rule(request: Request, bus: str, rule: str) -> schemas.Rule:
    row = service.set_rule_state(
        _ctx(request)[0].session, _rule(request, bus, rule), schemas.RuleState.ENABLED
    )
    return _rule_out(request, row, bus)


@router.post(RULE + "/disable", action="events:DisableRule")
def disable_rule(request: Request, bus: str, rule: str) -> schemas.Rule:
    row = service.set_rule_state(
        _ctx(request)[0].session, _rule(request, bus, rule), schemas.RuleState.DISABLED
    )
    return _rule_out(request, row, bus)


# --- targets ---


@router.put(RULE + "/targets", action="events:PutTargets")
def put_targets(
    request: Request, bus: str, rule: str, body: schemas.TargetsPut
) -> list[schemas.Target]:
    """Add or replace targets by id; a generated webhook secret is shown here, once."""
    ctx, _ = _ctx(request)
    written = service.put_targets(ctx.session, _rule(request, bus, rule), body.targets)
    return [service.target_out(w.row, w.generated_secret) for w in written]


@router.read(RULE + "/targets", action="events:ListTargetsByRule")
def list_targets(request: Request, bus: str, rule: str) -> list[schemas.Target]:
    ctx, _ = _ctx(request)
    return [
        service.target_out(t) for t in service.list_targets(ctx.session, _rule(request, bus, rule))
    ]


@router.delete(RULE + "/targets/{target_id}", action="events:RemoveTargets")
def remove_target(request: Request, bus: str, rule: str, target_id: str) -> Response:
    ctx, _ = _ctx(request)
    service.remove_target(ctx.session, _rule(request, bus, rule), target_id)
    return Response(status_code=204)


# --- dead letters ---


@router.read(ACCOUNT + "/dead-letters", action="events:ListDeadLetters")
def list_dead_letters(
    request: Request,
    page: PageParams,
    rule: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[schemas.DeadLetter]:
    ctx, account_id = _ctx(request)
    rows = service.list_dead_letters(ctx.session, account_id, page, rule)
    return Page[schemas.DeadLetter](
        items=[service.dead_letter_out(r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page),
    )


@router.post(ACCOUNT + "/dead-letters/redrive", action="events:RedriveDeadLetters")
def redrive(request: Request, body: schemas.Redrive) -> schemas.RedriveResult:
    ctx, account_id = _ctx(request)
    return schemas.RedriveResult(redriven=service.redrive(ctx.session, account_id, body))


# --- archives and replays ---


@router.create(ACCOUNT + "/event-archives", action="events:CreateArchive")
def create_archive(request: Request, body: schemas.ArchiveCreate) -> schemas.Archive:
    ctx, account_id = _ctx(request)
    assert ctx.caller is not None
    row = service.create_archive(ctx.session, account_id, body, ctx.caller)
    return service.archives_out(ctx.session, [row])[0]


@router.read(ACCOUNT + "/event-archives", action="events:ListArchives")
def list_archives(request: Request, page: PageParams) -> Page[schemas.Archive]:
    ctx, account_id = _ctx(request)
    rows = service.list_archives(ctx.session, account_id, page)
    return Page[schemas.Archive](
        items=service.archives_out(ctx.session, rows[: page.page_size]),
        next_page_token=next_token(rows, page, "name"),
    )


@router.read(ACCOUNT + "/event-archives/{archive}", action="events:DescribeArchive")
def describe_archive(request: Request, archive: str) -> schemas.Archive:
    ctx, account_id = _ctx(request)
    row = service.get_archive(ctx.session, account_id, archive)
    return service.archives_out(ctx.session, [row])[0]


@router.delete(ACCOUNT + "/event-archives/{archive}", action="events:DeleteArchive")
def delete_archive(request: Request, archive: str) -> Response:
    ctx, account_id = _ctx(request)
    service.delete_archive(ctx.session, service.get_archive(ctx.session, account_id, archive))
    return Response(status_code=204)


@router.create(ACCOUNT + "/event-replays", action="events:StartReplay")
def start_replay(request: Request, body: schemas.ReplayStart) -> schemas.Replay:
    """Replay archived events of a time range to the bus's rules; the worker carries it out."""
    ctx, account_id = _ctx(request)
    assert ctx.caller is not None
    row = service.start_replay(ctx.session, account_id, body, ctx.caller)
    return service.replay_out(ctx.session, row)


@router.read(ACCOUNT + "/event-replays", action="events:ListReplays")
def list_replays(request: Request, page: PageParams) -> Page[schemas.Replay]:
    ctx, account_id = _ctx(request)
    rows = service.list_replays(ctx.session, account_id, page)
    return Page[schemas.Replay](
        items=[service.replay_out(ctx.session, r) for r in rows[: page.page_size]],
        next_page_token=next_token(rows, page, "name"),
    )


@router.read(ACCOUNT + "/event-replays/{replay}", action="events:DescribeReplay")
def describe_replay(request: Request, replay: str) -> schemas.Replay:
    ctx, account_id = _ctx(request)
    return service.replay_out(ctx.session, service.get_replay(ctx.session, account_id, replay))
