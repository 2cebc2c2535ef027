"""Alarm logic: configuration, state changes with history and events, and evaluation.

Every state transition (evaluation or SetAlarmState) writes a history item and an ``Alarm State
Change`` event (source ``mlgov.alarms``) into the outbox in the same transaction. The event carries
the alarm's actions for the new state (event rule ARNs, checked when the alarm is put; empty while
actions are disabled); the event bus's dispatcher delivers the event to those rules' targets as it
does for rules that match (:func:`mlgov.server.events.service.route_directed`). Services never
commit.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from datasketches import kll_doubles_sketch
from sqlalchemy.orm import Session

from mlgov.errors import Conflict, ErrorCode, InvalidRequest, NotFound
from mlgov.server.alarms import rules, schemas
from mlgov.server.alarms.evaluation import (
    PHRASE,
    ComparisonOperator,
    MinuteRows,
    Outcome,
    State,
    TreatMissingData,
    decide,
    evaluation_range,
    period_points,
)
from mlgov.server.alarms.repository import AlarmsRepository, NewState
from mlgov.server.alarms.tables import Alarm, AlarmHistory
from mlgov.server.db.base import utc_now
from mlgov.server.db.engine import write_json
from mlgov.server.events import service as event_bus
from mlgov.server.kit import outbox
from mlgov.server.kit.context import Caller
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest
from mlgov.server.metrics import service as metrics

SOURCE = "mlgov.alarms"
STATE_CHANGE = "Alarm State Change"
INITIAL_REASON = "Unchecked: Initial alarm creation"
HISTORY_DAYS = 14
MINUTE = 60


def alarm_arn(account_id: str, name: str) -> str:
    return f"mlgov:alarms:{account_id}:alarm/{name}"


def cw_time(moment: datetime) -> str:
    """CloudWatch's event timestamp: ``2019-10-02T17:04:40.989+0000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def get_alarm(session: Session, account_id: str, name: str, *, for_update: bool = False) -> Alarm:
    alarm = AlarmsRepository(session).alarm(account_id, name, for_update=for_update)
    if alarm is None:
        raise NotFound(f"alarm {name} does not exist", code=ErrorCode.ALARM_NOT_FOUND)
    return alarm


def to_schema(alarm: Alarm) -> schemas.Alarm:
    return schemas.Alarm.model_validate(
        {
            **{c.key: getattr(alarm, c.key) for c in Alarm.__table__.columns},
            "arn": alarm_arn(alarm.account_id, alarm.name),
        }
    )


# --- configuration ---------------------------------------------------------------------------


def _validate_metric_alarm(data: schemas.MetricAlarmPut) -> int:
    """The datapoints-to-alarm M (defaults to N); raises for configurations CloudWatch refuses."""
    if (data.statistic is None) == (data.extended_statistic is None):
        raise InvalidRequest("give exactly one of statistic and extended_statistic")
    if data.extended_statistic is not None:
        metrics.percentile_rank(data.extended_statistic)
    if data.period % MINUTE:
        raise InvalidRequest(
            "period must be a multiple of 60 seconds (metrics are stored per minute)",
            code=ErrorCode.INVALID_QUERY,
        )
    window = data.period * data.evaluation_periods
    limit = 86_400 if data.period < 3600 else 604_800
    if window > limit:
        raise InvalidRequest(
            f"period x evaluation_periods is {window} s; the limit is {limit} s",
            code=ErrorCode.INVALID_QUERY,
        )
    m = data.datapoints_to_alarm or data.evaluation_periods
    if m > data.evaluation_periods:
        raise InvalidRequest(
            "datapoints_to_alarm cannot exceed evaluation_periods", code=ErrorCode.INVALID_QUERY
        )
    return m


@dataclass(frozen=True)
class _Actions:
    enabled: bool
    alarm: list[str]
    ok: list[str]
    insufficient_data: list[str]


def _check_actions(session: Session, account_id: str, data: schemas.AlarmActions) -> _Actions:
    """Every action must be the ARN of an existing event rule this account may send to: its
    targets receive the state change, through the event bus's delivery (retries, dead letters).
    Returned canonical (account ids) and without duplicates; raises 400 ``INVALID_TARGET`` or
    403 ``CROSS_ACCOUNT_TARGET_DENIED``."""

    def check(field_name: str, refs: list[str]) -> list[str]:
        checked = [
            event_bus.check_action(session, account_id, ref, f"{field_name}[{i}]")
            for i, ref in enumerate(refs)
        ]
        return list(dict.fromkeys(checked))

    return _Actions(
        enabled=data.actions_enabled,
        alarm=check("alarm_actions", data.alarm_actions),
        ok=check("ok_actions", data.ok_actions),
        insufficient_data=check("insufficient_data_actions", data.insufficient_data_actions),
    )


def _configuration_dump(data: schemas.AlarmActions, actions: _Actions) -> dict[str, Any]:
    return {
        **data.model_dump(mode="json"),
        "alarm_actions": actions.alarm,
        "ok_actions": actions.ok,
        "insufficient_data_actions": actions.insufficient_data,
    }


def _apply_actions(alarm: Alarm, actions: _Actions) -> None:
    alarm.actions_enabled = actions.enabled
    alarm.alarm_actions = actions.alarm
    alarm.ok_actions = actions.ok
    alarm.insufficient_data_actions = actions.insufficient_data


def _new_alarm(account_id: str, name: str, kind: str, caller: Caller, now: datetime) -> Alarm:
    return Alarm(
        id=new_id("al"),
        account_id=account_id,
        name=name,
        kind=kind,
        state_value=State.INSUFFICIENT_DATA.value,
        state_reason=INITIAL_REASON,
        state_reason_data=None,
        state_updated_at=now,
        created_by=caller.principal_id,
        created_at=now,
        updated_at=now,
    )


def _history(
    session: Session,
    alarm: Alarm,
    item_type: str,
    summary: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        AlarmHistory(
            id=new_id("ah"),
            account_id=alarm.account_id,
            alarm_name=alarm.name,
            item_type=item_type,
            summary=summary,
            data=data,
            timestamp=now,
        )
    )


def _existing(session: Session, account_id: str, name: str, kind: str) -> Alarm | None:
    alarm = AlarmsRepository(session).alarm(account_id, name, for_update=True)
    if alarm is not None and alarm.kind != kind:
        raise Conflict(
            f"alarm {name} is a {alarm.kind} alarm; delete it first to reuse the name",
            code=ErrorCode.ALREADY_EXISTS,
        )
    return alarm


def put_metric_alarm(
    session: Session,
    account_id: str,
    name: str,
    caller: Caller,
    data: schemas.MetricAlarmPut,
    now: datetime | None = None,
) -> Alarm:
    """Create or replace; replacing keeps the current state, as PutMetricAlarm does."""
    now = now or utc_now()
    m = _validate_metric_alarm(data)
    actions = _check_actions(session, account_id, data)
    alarm = _existing(session, account_id, name, "metric")
    created = alarm is None
    if alarm is None:
        alarm = _new_alarm(account_id, name, "metric", caller, now)
    dims = sorted((d.name, d.value) for d in data.dimensions)
    alarm.description = data.description
    alarm.namespace = data.namespace
    alarm.metric_name = data.metric_name
    alarm.dimensions = [{"name": n, "value": v} for n, v in dims]
    alarm.series_hash = metrics.series_hash(data.namespace, data.metric_name, dims)
    alarm.unit = data.unit.value if data.unit else None
    alarm.statistic = data.statistic.value if data.statistic else None
    alarm.extended_statistic = data.extended_statistic
    alarm.period = data.period
    alarm.evaluation_periods = data.evaluation_periods
    alarm.datapoints_to_alarm = m
    alarm.threshold = data.threshold
    alarm.comparison_operator = data.comparison_operator.value
    alarm.treat_missing_data = data.treat_missing_data.value
    _apply_actions(alarm, actions)
    alarm.updated_at = now
    if created:
        session.add(alarm)
    _history(
        session,
        alarm,
        "ConfigurationUpdate",
        f'Alarm "{name}" {"created" if created else "updated"}',
        {"configuration": _configuration_dump(data, actions)},
        now,
    )
    session.flush()
    return alarm


def _resolve_rule(account_id: str, name: str, text: str) -> tuple[rules.Expr, set[str]]:
    try:
        expr = rules.parse(text)
    except rules.RuleError as exc:
        raise InvalidRequest(
            f"alarm_rule: {exc}",
            code=ErrorCode.INVALID_ALARM_RULE,
            details={"position": exc.position},
        ) from exc
    prefix = alarm_arn(account_id, "")
    renames: dict[str, str] = {}
    for ref in rules.alarm_names(expr):
        if ref.startswith("mlgov:alarms:"):
            if not ref.startswith(prefix):
                raise InvalidRequest(
                    f"alarm_rule: {ref} is not an alarm of this account",
                    code=ErrorCode.INVALID_ALARM_RULE,
                )
            renames[ref] = ref[len(prefix) :]
    expr = rules.rename(expr, renames)
    names = rules.alarm_names(expr)
    if name in names:
        raise InvalidRequest(
            "alarm_rule: a composite alarm cannot name itself", code=ErrorCode.INVALID_ALARM_RULE
        )
    return expr, names


def _reaches(graph: dict[str, set[str]], start: set[str], target: str) -> bool:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


def put_composite_alarm(
    session: Session,
    account_id: str,
    name: str,
    caller: Caller,
    data: schemas.CompositeAlarmPut,
    now: datetime | None = None,
) -> Alarm:
    now = now or utc_now()
    _expr, names = _resolve_rule(account_id, name, data.alarm_rule)
    repo = AlarmsRepository(session)
    known = repo.names(account_id, sorted(names))
    missing = sorted(names - set(known))
    if missing:
        raise InvalidRequest(
            f"alarm_rule names alarms that do not exist: {', '.join(missing)}",
            code=ErrorCode.INVALID_ALARM_RULE,
            details={"missing": missing},
        )
    graph = {
        c.name: _resolve_rule(account_id, c.name, c.alarm_rule or "FALSE")[1]
        for c in repo.composites(account_id)
        if c.name != name
    }
    if _reaches(graph, names, name):
        raise InvalidRequest(
            "alarm_rule would make a cycle of composite alarms", code=ErrorCode.INVALID_ALARM_RULE
        )
    actions = _check_actions(session, account_id, data)
    alarm = _existing(session, account_id, name, "composite")
    created = alarm is None
    if alarm is None:
        alarm = _new_alarm(account_id, name, "composite", caller, now)
    alarm.description = data.description
    alarm.alarm_rule = data.alarm_rule
    _apply_actions(alarm, actions)
    alarm.updated_at = now
    if created:
        session.add(alarm)
    _history(
        session,
        alarm,
        "ConfigurationUpdate",
        f'Alarm "{name}" {"created" if created else "updated"}',
        {"configuration": _configuration_dump(data, actions)},
        now,
    )
    session.flush()
    return alarm


def delete_alarm(session: Session, account_id: str, name: str, now: datetime | None = None) -> None:
    alarm = get_alarm(session, account_id, name, for_update=True)
    repo = AlarmsRepository(session)
    users = sorted(
        c.name
        for c in repo.composites(account_id)
        if c.name != name and name in _resolve_rule(account_id, c.name, c.alarm_rule or "FALSE")[1]
    )
    if users:
        raise Conflict(
            f"alarm {name} is named by composite alarms {', '.join(users)}; change them first",
            code=ErrorCode.ALARM_IN_USE,
            details={"composites": users},
        )
    _history(session, alarm, "ConfigurationUpdate", f'Alarm "{name}" deleted', {}, now or utc_now())
    repo.delete(alarm)


def list_alarms(
    session: Session,
    account_id: str,
    page: PageRequest,
    *,
    state: State | None = None,
    kind: schemas.AlarmKind | None = None,
    name_prefix: str | None = None,
) -> Sequence[Alarm]:
    return AlarmsRepository(session).alarms(
        account_id,
        page,
        state=state.value if state else None,
        kind=kind.value if kind else None,
        name_prefix=name_prefix,
    )


def history(
    session: Session, account_id: str, name: str, page: PageRequest, item_type: str | None = None
) -> Sequence[AlarmHistory]:
    """History outlives the alarm (two weeks), so a deleted alarm's history is still readable."""
    return AlarmsRepository(session).history(account_id, name, page, item_type)


def set_actions_enabled(session: Session, account_id: str, name: str, enabled: bool) -> Alarm:
    alarm = get_alarm(session, account_id, name, for_update=True)
    alarm.actions_enabled = enabled
    session.flush()
    return alarm


# --- state changes ---------------------------------------------------------------------------


def _configuration(alarm: Alarm) -> dict[str, Any]:
    if alarm.kind == "composite":
        return {"description": alarm.description, "alarmRule": alarm.alarm_rule}
    stat = alarm.statistic or alarm.extended_statistic
    metric_stat: dict[str, Any] = {
        "metric": {
            "namespace": alarm.namespace,
            "name": alarm.metric_name,
            "dimensions": {d["name"]: d["value"] for d in alarm.dimensions or []},
        },
        "period": alarm.period,
        "stat": stat,
    }
    if alarm.unit:
        metric_stat["unit"] = alarm.unit
    return {
        "description": alarm.description,
        "metrics": [{"id": "m1", "metricStat": metric_stat, "returnData": True}],
        "threshold": alarm.threshold,
        "comparisonOperator": alarm.comparison_operator,
        "evaluationPeriods": alarm.evaluation_periods,
        "datapointsToAlarm": alarm.datapoints_to_alarm,
        "treatMissingData": alarm.treat_missing_data,
    }


_ACTIONS_OF_STATE = {
    State.ALARM.value: "alarm_actions",
    State.OK.value: "ok_actions",
    State.INSUFFICIENT_DATA.value: "insufficient_data_actions",
}


def actions_for(alarm: Alarm, state: str) -> list[str]:
    if not alarm.actions_enabled:
        return []
    return list(getattr(alarm, _ACTIONS_OF_STATE[state]) or [])


def _state_change(
    alarm: Any,
    state: str,
    reason: str,
    reason_data: str | None,
    now: datetime,
    times: _TimeLabels,
) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """What moving ``alarm`` (an Alarm or a row of its columns) to the state ``state`` (a
    State's value) writes: its history item's summary and document, and its event's resource
    (the alarm's ARN) and detail."""
    previous = {
        "value": alarm.state_value,
        "reason": alarm.state_reason,
        "timestamp": times.cw(alarm.state_updated_at),
    }
    if alarm.state_reason_data:
        previous["reasonData"] = alarm.state_reason_data
    current: dict[str, Any] = {"value": state, "reason": reason, "timestamp": times.cw(now)}
    if reason_data:
        current["reasonData"] = reason_data
    arn = alarm_arn(alarm.account_id, alarm.name)
    detail = {
        "alarmName": alarm.name,
        "alarmArn": arn,
        "alarmKind": alarm.kind,
        "state": current,
        "previousState": previous,
        "configuration": _configuration(alarm),
        "actions": {"enabled": alarm.actions_enabled, "targets": actions_for(alarm, state)},
    }
    summary = f"Alarm updated from {previous['value']} to {state}"
    return summary, {"oldState": previous, "newState": current}, arn, detail


def transition(
    session: Session,
    alarm: Alarm,
    state: State,
    reason: str,
    reason_data: str | None,
    now: datetime,
) -> bool:
    """Move the alarm to ``state`` with history and an event; False when it is already there."""
    if alarm.state_value == state.value:
        return False
    summary, data, arn, detail = _state_change(
        alarm, state.value, reason, reason_data, now, _TimeLabels()
    )
    alarm.state_value = state.value
    alarm.state_reason = reason
    alarm.state_reason_data = reason_data
    alarm.state_updated_at = now
    _history(session, alarm, "StateUpdate", summary, data, now)
    outbox.emit(
        session,
        account_id=alarm.account_id,
        source=SOURCE,
        detail_type=STATE_CHANGE,
        resources=[arn],
        time=now,
        detail=detail,
    )
    return True


def set_state(
    session: Session,
    account_id: str,
    name: str,
    data: schemas.SetAlarmState,
    now: datetime | None = None,
) -> Alarm:
    """Force a state until the next evaluation (for testing actions and routing)."""
    if data.state_reason_data is not None:
        try:
            json.loads(data.state_reason_data)
        except ValueError as exc:
            raise InvalidRequest("state_reason_data must be a JSON document") from exc
    alarm = get_alarm(session, account_id, name, for_update=True)
    transition(
        session,
        alarm,
        data.state_value,
        data.state_reason,
        data.state_reason_data,
        now or utc_now(),
    )
    session.flush()
    return alarm


# --- evaluation ------------------------------------------------------------------------------


# Transitions are written as they are found, this many at a time: memory stays bounded however
# many alarms change.
_WRITE_CHUNK = 500
_OPERATORS = {op.value: op for op in ComparisonOperator}
_TREATMENTS = {treat.value: treat for treat in TreatMissingData}


@dataclass
class EvaluationReport:
    evaluated: int = 0
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # arn, from, to


def _fmt(value: float) -> str:
    return repr(round(value, 6)) if math.isfinite(value) else str(value)


class _TimeLabels:
    """Memoized time labels: one evaluation round formats the same few instants many times."""

    def __init__(self) -> None:
        self._cw: dict[int, str] = {}
        self._short: dict[int, str] = {}
        # By instant and zone: equal instants in two zones are equal datetimes, not equal labels.
        self._moments: dict[tuple[datetime, Any], str] = {}

    def cw(self, moment: datetime) -> str:
        key = (moment, moment.tzinfo)
        label = self._moments.get(key)
        if label is None:
            label = self._moments[key] = cw_time(moment)
        return label

    def cw_epoch(self, seconds: int) -> str:
        label = self._cw.get(seconds)
        if label is None:
            label = self._cw[seconds] = cw_time(metrics.from_epoch(seconds))
        return label

    def short(self, seconds: int) -> str:
        label = self._short.get(seconds)
        if label is None:
            label = self._short[seconds] = metrics.from_epoch(seconds).strftime("%d/%m/%y %H:%M:%S")
        return label


def _reason(
    outcome: Outcome,
    row: Any,
    newest_first: list[tuple[float | None, int]],
    previous: str,
    times: _TimeLabels,
) -> str:
    """``newest_first``: the evaluation range's points with their period starts."""
    op = _OPERATORS[row.comparison_operator]
    n, m = row.evaluation_periods, row.datapoints_to_alarm
    treat = row.treat_missing_data
    if outcome.kind == "no-data":
        if outcome.state is State.INSUFFICIENT_DATA:
            return f"Insufficient Data: {n} datapoint{'s were' if n > 1 else ' was'} unknown."
        label = "Breaching" if treat == TreatMissingData.BREACHING else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {n} period{'s' if n > 1 else ''} "
            f"and {n} missing datapoint{'s were' if n > 1 else ' was'} treated as [{label}]."
        )
    shown = ", ".join(f"{_fmt(p)} ({times.short(s)})" for p, s in newest_first if p is not None)
    if outcome.kind == "premature":
        return (
            f"Threshold Crossed: the datapoints [{shown}] were {PHRASE[op]} the threshold "
            f"({_fmt(row.threshold)}) and newer datapoints are missing (premature alarm rule, "
            f"minimum {m} datapoint{'s' if m > 1 else ''})."
        )
    new = outcome.state.value if outcome.state else previous
    if outcome.state is State.ALARM:
        verb, count = PHRASE[op], outcome.breaching
    else:
        verb, count = f"not {PHRASE[op]}", outcome.evaluated - outcome.breaching
    filled = f" ({outcome.filled} missing treated as {treat})" if outcome.filled else ""
    return (
        f"Threshold Crossed: {count} out of the last {outcome.evaluated} datapoints [{shown}]"
        f"{filled} {'was' if count == 1 else 'were'} {verb} the threshold ({_fmt(row.threshold)}) "
        f"(minimum {m} datapoint{'s' if m > 1 else ''} for {previous} -> {new} transition)."
    )


def _percentile_points(
    blobs: list[tuple[int, bytes | None, float]],
    *,
    end: int,
    period: int,
    periods: int,
    rank: float,
) -> list[float | None]:
    start = end - periods * period
    merged: list[kll_doubles_sketch | None] = [None] * periods
    lows = [math.inf] * periods
    broken = [False] * periods
    for bucket, blob, low in blobs:
        if bucket < start or bucket >= end:
            continue
        i = (bucket - start) // period
        lows[i] = min(lows[i], low)
        if blob is None:
            broken[i] = True
            continue
        sketch = merged[i] or metrics.new_sketch()
        sketch.merge(kll_doubles_sketch.deserialize(blob))
        merged[i] = sketch
    return [
        None if broken[i] else metrics.quantile(merged[i], rank, lows[i]) for i in range(periods)
    ]


def evaluate_all(session: Session, now: datetime | None = None) -> EvaluationReport:
    """Evaluate every alarm once at ``now`` (metric alarms, then composites); see evaluation.py.

    Periods slide: each ends at the last whole minute before ``now``, so an alarm with a
    5-minute period evaluated every minute sees minutes 1-5, then 2-6, as in CloudWatch.
    """
    now = now or utc_now()
    report = EvaluationReport()
    end = metrics.epoch(now) - metrics.epoch(now) % MINUTE
    repo = AlarmsRepository(session)
    rows = repo.metric_alarm_rows()
    if rows:
        _evaluate_metric_alarms(session, rows, end, now, report)
    _evaluate_composites(session, now, report)
    return report


def _evaluate_metric_alarms(
    session: Session, rows: Sequence[Any], end: int, now: datetime, report: EvaluationReport
) -> None:
    """Every metric alarm from one read of the window: scalar statistics for all alarms of a
    period at once (:func:`period_points`), sketches merged only for percentile alarms."""
    metrics_repo = metrics.settled(session)
    series: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for metric_id, account_id, series_hash, unit in metrics_repo.all_series():
        series[(account_id, series_hash)].append((metric_id, unit))

    def ids_of(row: Any) -> list[int]:
        found = series.get((row.account_id, row.series_hash), [])
        return [mid for mid, unit in found if row.unit is None or unit == row.unit]

    watched = [ids_of(r) for r in rows]
    lookback = max(evaluation_range(r.evaluation_periods) * r.period for r in rows)
    minute_rows = MinuteRows(*metrics_repo.minute_columns(end - lookback, end))
    percentile_ids = sorted(
        {mid for r, ids in zip(rows, watched, strict=True) if r.extended_statistic for mid in ids}
    )
    blobs: dict[int, list[tuple[int, bytes | None, float]]] = defaultdict(list)
    for metric_id, bucket, low, blob in metrics_repo.minute_sketches(
        percentile_ids, end - lookback, end
    ):
        blobs[metric_id].append((bucket, blob, low))

    points_of: dict[int, list[float | None]] = {}
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        periods = evaluation_range(row.evaluation_periods)
        if row.extended_statistic:
            points_of[i] = _percentile_points(
                [b for mid in watched[i] for b in blobs.get(mid, ())],
                end=end,
                period=row.period,
                periods=periods,
                rank=metrics.percentile_rank(row.extended_statistic),
            )
        else:
            groups[(row.period, periods)].append(i)
    for (period, periods), members in groups.items():
        matrix = period_points(
            minute_rows,
            [watched[i] for i in members],
            [rows[i].statistic for i in members],
            end=end,
            period=period,
            periods=periods,
        )
        for i, values in zip(members, matrix.tolist(), strict=True):
            points_of[i] = [None if v != v else v for v in values]  # NaN: no data

    changes: list[_Change] = []
    times = _TimeLabels()
    query_date = times.cw(now)
    for i, row in enumerate(rows):
        report.evaluated += 1
        points = points_of[i]
        outcome = decide(
            points,
            evaluation_periods=row.evaluation_periods,
            datapoints_to_alarm=row.datapoints_to_alarm,
            threshold=row.threshold,
            comparison=_OPERATORS[row.comparison_operator],
            treat_missing=_TREATMENTS[row.treat_missing_data],
        )
        if outcome.state is None or outcome.state == row.state_value:  # StrEnum: equals its value
            continue
        periods = len(points)
        starts = [end - (periods - k) * row.period for k in range(periods)]
        newest_first = list(zip(points, starts, strict=True))[::-1]
        reason_data = write_json(
            {
                "version": "1.0",
                "queryDate": query_date,
                "startDate": times.cw_epoch(starts[0]),
                "statistic": row.statistic or row.extended_statistic,
                "period": row.period,
                "recentDatapoints": [p for p in points if p is not None],
                "threshold": row.threshold,
                "evaluatedDatapoints": [
                    {"timestamp": times.cw_epoch(s), "value": p}
                    if p is not None
                    else {"timestamp": times.cw_epoch(s)}
                    for p, s in newest_first
                ],
            }
        )
        reason = _reason(outcome, row, newest_first, row.state_value, times)
        changes.append(_Change(row.id, outcome.state.value, reason, reason_data))
        if len(changes) == _WRITE_CHUNK:
            _apply(session, changes, now, times, report)
            changes = []
    if changes:
        _apply(session, changes, now, times, report)


@dataclass(slots=True)
class _Change:
    alarm_id: str
    state: str  # a State's value
    reason: str
    reason_data: str


def _apply(
    session: Session,
    changes: list[_Change],
    now: datetime,
    times: _TimeLabels,
    report: EvaluationReport,
) -> None:
    """Many transitions in bulk: one statement each for alarms, history and outbox events.

    Writes what :func:`transition` writes for each. The alarms are read again first, so the
    state compared against is the stored one, as on the single-alarm path; that read also brings
    what the events carry and evaluation does not need (names, configuration, actions). Each
    change's documents are serialized as soon as they are built, so they do not pile up.
    """
    repo = AlarmsRepository(session)
    current = repo.transition_rows([c.alarm_id for c in changes])
    # Changes made through the ORM earlier in the transaction go first, as they happened first.
    session.flush()
    history = repo.history_writer(now)
    events = outbox.EventWriter(session)
    states: list[NewState] = []
    for change in changes:
        alarm = current.get(change.alarm_id)
        if alarm is None or alarm.state_value == change.state:
            continue
        summary, data, arn, detail = _state_change(
            alarm, change.state, change.reason, change.reason_data, now, times
        )
        history.add(alarm.account_id, alarm.name, summary, data)
        events.add(alarm.account_id, SOURCE, STATE_CHANGE, detail, [arn], now)
        states.append(NewState(alarm.id, change.state, change.reason, change.reason_data))
        report.transitions.append((arn, alarm.state_value, change.state))
    repo.set_states(states, now)
    history.write()
    events.write()


def _evaluate_composites(session: Session, now: datetime, report: EvaluationReport) -> None:
    repo = AlarmsRepository(session)
    composites = repo.composites()
    if not composites:
        return
    scopes: dict[str, dict[str, str]] = defaultdict(dict)
    for (account_id, name), value in repo.states(
        sorted({c.account_id for c in composites})
    ).items():
        scopes[account_id][name] = value
    parsed: dict[tuple[str, str], rules.Expr] = {}
    for composite in composites:
        try:
            expr, _names = _resolve_rule(
                composite.account_id, composite.name, composite.alarm_rule or "FALSE"
            )
        except InvalidRequest:
            continue  # stored rules were validated; a broken one is skipped, never fatal
        parsed[(composite.account_id, composite.name)] = expr
    by_key = {(c.account_id, c.name): c for c in composites}
    done: set[tuple[str, str]] = set()
    visiting: set[tuple[str, str]] = set()

    def visit(key: tuple[str, str]) -> None:
        if key in done or key not in parsed:
            return
        if key in visiting:  # a cycle halts evaluation of its members, as in CloudWatch
            return
        visiting.add(key)
        account_id = key[0]
        expr = parsed[key]
        for name in rules.alarm_names(expr):
            visit((account_id, name))
        visiting.discard(key)
        done.add(key)
        composite = by_key[key]
        report.evaluated += 1
        scope = scopes[account_id]
        firing = rules.evaluate(expr, scope)
        state = State.ALARM if firing else State.OK
        if state.value == composite.state_value:
            return
        triggering = [
            {
                "arn": alarm_arn(account_id, name),
                "state": {"value": scope.get(name, State.INSUFFICIENT_DATA.value)},
            }
            for name in sorted(rules.alarm_names(expr))
            if scope.get(name) == State.ALARM.value
        ]
        if triggering:
            reason = ", ".join(f"{t['arn']} is in ALARM" for t in triggering)
        else:
            reason = "the alarm rule evaluated to " + ("TRUE" if firing else "FALSE")
        previous = composite.state_value
        if transition(
            session,
            composite,
            state,
            reason,
            json.dumps({"triggeringAlarms": triggering}, separators=(",", ":")),
            now,
        ):
            scope[composite.name] = state.value
            report.transitions.append(
                (alarm_arn(account_id, composite.name), previous, state.value)
            )

    for key in parsed:
        visit(key)


def expire_history(session: Session, now: datetime | None = None) -> None:
    AlarmsRepository(session).expire_history((now or utc_now()) - timedelta(days=HISTORY_DAYS))
