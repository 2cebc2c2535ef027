"""An evaluation round writes its state changes in bulk, through the driver; the rows must be the
ones the single-alarm path (``transition``, through the ORM and ``outbox.emit``) writes."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlgov import Client
from mlgov.formats.events import Event
from mlgov.server.alarms import schemas
from mlgov.server.alarms import service as alarms
from mlgov.server.alarms.evaluation import State
from mlgov.server.alarms.tables import Alarm, AlarmHistory
from mlgov.server.db.engine import unit_of_work
from mlgov.server.kit import outbox
from mlgov.server.kit.outbox import OutboxEvent
from mlgov.server.metrics import schemas as metric_schemas
from mlgov.server.metrics import service as metrics

NS = "Fraud/Inference"
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)


@pytest.fixture
def account(admin: Client) -> str:
    account_id = str(admin.identity.create_account("fraud-dev", "dev")["id"])
    admin.events.put_rule(account_id, "pager", {"source": ["com.example.nobody"]})
    admin.alarms.put_metric_alarm(
        account_id,
        "latency-high",
        namespace=NS,
        metric_name="latency",
        dimensions={"Model": "fraud", "Région": "eu"},
        statistic="Average",
        period=60,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        threshold=100.0,
        comparison_operator="GreaterThanThreshold",
        description="Latenz über 100 ms",
        alarm_actions=[f"mlgov:events:{account_id}:rule/default/pager"],
    )
    return account_id


def put(app: FastAPI, account: str, minute: int, value: float) -> None:
    data = metric_schemas.PutMetricData.model_validate(
        {
            "namespace": NS,
            "metric_data": [
                {
                    "metric_name": "latency",
                    "value": value,
                    "timestamp": (T0 + timedelta(minutes=minute, seconds=10)).isoformat(),
                    "dimensions": [
                        {"name": "Model", "value": "fraud"},
                        {"name": "Région", "value": "eu"},
                    ],
                }
            ],
        }
    )
    with unit_of_work(app.state.runtime.session_factory) as session:
        metrics.put_metric_data(session, account, data, T0 + timedelta(minutes=minute, seconds=30))


def written(session: Session, account: str, since: int) -> dict[str, Any]:
    """What the last state change wrote: the alarm's state, its history item, its event."""
    alarm = session.execute(
        select(Alarm).where(Alarm.account_id == account, Alarm.name == "latency-high")
    ).scalar_one()
    session.refresh(alarm)
    history = session.execute(
        select(AlarmHistory)
        .where(AlarmHistory.account_id == account, AlarmHistory.item_type == "StateUpdate")
        .order_by(AlarmHistory.id.desc())
        .limit(1)
    ).scalar_one()
    [event] = session.execute(
        select(OutboxEvent).where(OutboxEvent.position > since).order_by(OutboxEvent.position)
    ).scalars()
    return {
        "state": (
            alarm.state_value,
            alarm.state_reason,
            alarm.state_reason_data,
            alarm.state_updated_at,
        ),
        "history": (history.summary, history.data, history.timestamp),
        "event": (
            event.account_id,
            event.source,
            event.detail_type,
            event.event_time,
            event.bus_name,
            event.dispatched_at,
            event.body.replace(event.event_id, "<id>"),
        ),
    }


def last_position(session: Session) -> int:
    return session.execute(select(func.max(OutboxEvent.position))).scalar_one() or 0


def bulk_then_single(app: FastAPI, account: str, minute: int) -> None:
    """Evaluate at ``minute`` and roll back; then make the same change with SetAlarmState."""
    factory = app.state.runtime.session_factory
    now = T0 + timedelta(minutes=minute, seconds=1)
    with factory() as session:
        since = last_position(session)
        report = alarms.evaluate_all(session, now)
        assert len(report.transitions) == 1
        bulk = written(session, account, since)
        session.rollback()
    value, reason, reason_data, _at = bulk["state"]
    with unit_of_work(factory) as session:
        change = schemas.SetAlarmState(
            state_value=State(value), state_reason=reason, state_reason_data=reason_data
        )
        alarms.set_state(session, account, "latency-high", change, now)
    with factory() as session:
        single = written(session, account, since)
    assert bulk == single


def test_a_round_writes_what_a_single_transition_writes(app: FastAPI, account: str) -> None:
    for minute, value in enumerate([50.0, 150.0, 40.0, 160.0]):
        put(app, account, minute, value)
    bulk_then_single(app, account, 4)  # INSUFFICIENT_DATA -> ALARM, with an action
    for minute in (4, 5, 6):
        put(app, account, minute, 10.0)
    bulk_then_single(app, account, 7)  # ALARM -> OK: the previous state has reason data


class Colour(StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    "detail",
    [
        {"n": 1, "x": 0.1, "text": "Grüße", "nested": {"b": [1.5, None, True], "a": []}},
        # Values JSON has no form for: converted as the model's JSON conversion converts them.
        {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
        {"nan": float("nan"), "inf": [float("inf")]},
        {"colour": Colour.RED, "pair": (1, 2)},
    ],
)
def test_emitted_bodies_are_the_event_models_json(app: FastAPI, detail: dict[str, Any]) -> None:
    # emit and the EventWriter fill an envelope template instead of validating and dumping the
    # Event model per event: the bytes must be the model's all the same.
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    event = ("acct-1", "mlgov.test", "Tested", detail, ["model/x"], moment, "audit")
    with unit_of_work(app.state.runtime.session_factory) as session:
        one = outbox.emit(
            session,
            account_id="acct-1",
            source="mlgov.test",
            detail_type="Tested",
            detail=detail,
            resources=["model/x"],
            time=moment,
            bus="audit",
        )
        writer = outbox.EventWriter(session)
        many = [writer.add(*event), writer.add(*event)]
        writer.write()
    with app.state.runtime.session_factory() as session:
        rows = outbox.pending(session)
    assert [row.event_id for row in rows] == [one, *many]
    for row in rows:
        model = Event(
            id=row.event_id,
            detail_type="Tested",
            source="mlgov.test",
            account="acct-1",
            time=moment,
            resources=["model/x"],
            detail=detail,
        )
        assert row.body == outbox.envelope_json(model.envelope())
        assert (row.account_id, row.source, row.detail_type, row.bus_name) == (
            "acct-1",
            "mlgov.test",
            "Tested",
            "audit",
        )
        assert row.event_time == moment


def test_an_event_writer_keeps_each_events_own_time_zone(app: FastAPI) -> None:
    utc = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    plus_one = utc.astimezone(timezone(timedelta(hours=1)))  # the same instant
    with unit_of_work(app.state.runtime.session_factory) as session:
        writer = outbox.EventWriter(session)
        for moment in (utc, plus_one):
            writer.add("acct-1", "mlgov.test", "Tested", {}, time=moment)
        writer.write()
    with app.state.runtime.session_factory() as session:
        times = [json.loads(row.body)["time"] for row in outbox.pending(session)]
    assert times == ["2026-01-02T03:04:05Z", "2026-01-02T04:04:05+01:00"]


def test_a_writers_events_take_their_places_when_written(app: FastAPI) -> None:
    """The outbox's order is the order of the writes: an event emitted while a writer holds its
    rows goes ahead of them."""
    with unit_of_work(app.state.runtime.session_factory) as session:
        writer = outbox.EventWriter(session)
        writer.add("acct-1", "mlgov.test", "Second", {})
        outbox.emit(
            session, account_id="acct-1", source="mlgov.test", detail_type="First", detail={}
        )
        writer.write()
    with app.state.runtime.session_factory() as session:
        assert [row.detail_type for row in outbox.pending(session)] == ["First", "Second"]


def test_two_evaluators_in_the_same_round_write_each_transition_once(
    app: FastAPI, account: str
) -> None:
    """Every server (and worker) evaluates at the same minute boundary. On PostgreSQL their
    rounds run at once: the second must find the state the first wrote, not write it again."""
    for minute, value in enumerate([150.0, 160.0, 170.0]):
        put(app, account, minute, value)
    factory = app.state.runtime.session_factory
    now = T0 + timedelta(minutes=3, seconds=1)
    with factory() as session:
        since = last_position(session)
    barrier = threading.Barrier(2)
    reports: list[alarms.EvaluationReport] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            with unit_of_work(factory) as session:
                barrier.wait()
                reports.append(alarms.evaluate_all(session, now))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(len(r.transitions) for r in reports) == [0, 1]
    with factory() as session:
        history = session.scalar(
            select(func.count())
            .select_from(AlarmHistory)
            .where(AlarmHistory.account_id == account, AlarmHistory.item_type == "StateUpdate")
        )
        events = session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(
                OutboxEvent.position > since,
                OutboxEvent.detail_type == alarms.STATE_CHANGE,
            )
        )
    assert (history, events) == (1, 1)
