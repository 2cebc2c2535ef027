"""Every alarm query."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from mlgov.server.alarms.tables import Alarm, AlarmHistory
from mlgov.server.db.driver import binder, placeholder, placeholders, reader
from mlgov.server.kit.ids import new_id
from mlgov.server.kit.pagination import PageRequest


class EvaluatedAlarm(NamedTuple):
    """What evaluation reads of every metric alarm. A plain tuple rather than the ORM's Row:
    evaluation reads each field several times per alarm, and a Row's attribute lookup costs
    several times a tuple's."""

    id: str
    account_id: str
    series_hash: str
    unit: str | None
    statistic: str | None
    extended_statistic: str | None
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison_operator: str
    treat_missing_data: str
    state_value: str


class TransitionAlarm(NamedTuple):
    """What a state change reads of an alarm: its event carries the configuration and actions."""

    id: str
    account_id: str
    name: str
    kind: str
    description: str
    namespace: str | None
    metric_name: str | None
    dimensions: list[dict[str, Any]] | None
    unit: str | None
    statistic: str | None
    extended_statistic: str | None
    period: int | None
    evaluation_periods: int | None
    datapoints_to_alarm: int | None
    threshold: float | None
    comparison_operator: str | None
    treat_missing_data: str | None
    alarm_rule: str | None
    actions_enabled: bool
    alarm_actions: list[str]
    ok_actions: list[str]
    insufficient_data_actions: list[str]
    state_value: str
    state_reason: str
    state_reason_data: str | None
    state_updated_at: datetime


class NewState(NamedTuple):
    """One alarm's new state, for :meth:`AlarmsRepository.set_states`."""

    alarm_id: str
    value: str
    reason: str
    reason_data: str | None


# An evaluation round reads and writes thousands of alarms at once, and SQLAlchemy's handling of
# each row and its parameters added about half again to the database's own time. So these
# queries go to the driver, as the metrics repository's do, and values cross it as SQLAlchemy's
# column types would carry them (see _Reader and db/driver.py): a datetime as SQLite's text, a
# boolean as its integer, a JSON document serialized.

_JSON_FIELDS = {"dimensions", "alarm_actions", "ok_actions", "insufficient_data_actions"}
_HISTORY_FIELDS = ("id", "account_id", "alarm_name", "item_type", "summary", "data", "timestamp")


class _Reader:
    """Rows of alarm columns from the driver, with the values SQLAlchemy would give.

    Each column goes through its type's result processing, except the JSON ones: they are read as
    text and decoded once per distinct value, as most alarms share their action lists.
    """

    def __init__(self, connection: Connection, fields: Sequence[str]) -> None:
        self.connection = connection
        self.fields = fields
        self.selected = ", ".join(
            f"CAST({name} AS TEXT)" if name in _JSON_FIELDS else name for name in fields
        )
        self.documents = [i for i, name in enumerate(fields) if name in _JSON_FIELDS]
        self.processed: list[tuple[int, Callable[[Any], Any]]] | None = None
        self.decoded: dict[str | None, Any] = {None: None}

    def rows(self, where: str, params: tuple[Any, ...]) -> list[Sequence[Any]]:
        result = self.connection.exec_driver_sql(
            f"SELECT {self.selected} FROM {Alarm.__tablename__} WHERE {where}", params
        )
        if self.processed is None:
            self.processed = self._processors(result.cursor.description)
        rows: list[Sequence[Any]] = list(result.cursor.fetchall())
        result.close()
        if self.documents or self.processed:
            rows = [self._convert(list(row)) for row in rows]
        return rows

    def _processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        # The driver's type code of each column picks the processing, as in SQLAlchemy.
        processed: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(self.fields):
            if name in _JSON_FIELDS:
                continue
            process = reader(Alarm.__table__.c[name], self.connection, description[i][1])
            if process is not None:
                processed.append((i, process))
        return processed

    def _convert(self, values: list[Any]) -> list[Any]:
        decoded = self.decoded
        for i in self.documents:
            text = values[i]
            if text not in decoded:
                decoded[text] = json.loads(text)
            values[i] = decoded[text]
        for i, process in self.processed or ():
            values[i] = process(values[i])
        return values


class HistoryWriter:
    """State-update history items at one moment, written in one statement through the driver.

    Each item becomes its row when it is added, its document serialized then: a round that
    changes thousands of alarms holds rows, not documents. The rows are the ones the ORM writes
    for an :class:`AlarmHistory` (the tests hold the two paths to that).
    """

    def __init__(self, connection: Connection, moment: datetime) -> None:
        self.connection = connection
        self.document = binder(AlarmHistory.__table__.c.data, connection)
        self.moment = binder(AlarmHistory.__table__.c.timestamp, connection)(moment)
        self.rows: list[tuple[Any, ...]] = []

    def add(self, account_id: str, alarm_name: str, summary: str, data: dict[str, Any]) -> None:
        self.rows.append(
            (
                new_id("ah"),
                account_id,
                alarm_name,
                "StateUpdate",
                summary,
                self.document(data),
                self.moment,
            )
        )

    def write(self) -> None:
        if not self.rows:
            return
        marks = placeholders(self.connection, len(_HISTORY_FIELDS))
        self.connection.exec_driver_sql(
            f"INSERT INTO {AlarmHistory.__tablename__} ({', '.join(_HISTORY_FIELDS)}) "
            f"VALUES ({marks})",
            self.rows,
        )
        self.rows = []


class AlarmsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def alarm(self, account_id: str, name: str, *, for_update: bool = False) -> Alarm | None:
        query = select(Alarm).where(Alarm.account_id == account_id, Alarm.name == name)
        if for_update:
            query = query.with_for_update()
        return self.session.execute(query).scalar_one_or_none()

    def alarms(
        self,
        account_id: str,
        page: PageRequest,
        *,
        state: str | None = None,
        kind: str | None = None,
        name_prefix: str | None = None,
    ) -> Sequence[Alarm]:
        query = select(Alarm).where(Alarm.account_id == account_id).order_by(Alarm.name)
        if state:
            query = query.where(Alarm.state_value == state)
        if kind:
            query = query.where(Alarm.kind == kind)
        if name_prefix:
            query = query.where(Alarm.name.startswith(name_prefix, autoescape=True))
        if page.after:
            query = query.where(Alarm.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def composites(self, account_id: str | None = None) -> Sequence[Alarm]:
        query = select(Alarm).where(Alarm.kind == "composite").order_by(Alarm.id)
        if account_id is not None:
            query = query.where(Alarm.account_id == account_id)
        return self.session.execute(query).scalars().all()

    def names(self, account_id: str, names: Sequence[str]) -> dict[str, str]:
        """name -> kind of those of ``names`` that exist in the account."""
        if not names:
            return {}
        rows = self.session.execute(
            select(Alarm.name, Alarm.kind).where(
                Alarm.account_id == account_id, Alarm.name.in_(list(names))
            )
        )
        return dict(rows.tuples().all())

    def metric_alarm_rows(self) -> list[EvaluatedAlarm]:
        connection = self.session.connection()
        rows = _Reader(connection, EvaluatedAlarm._fields).rows(
            f"kind = {placeholder(connection)}", ("metric",)
        )
        return [EvaluatedAlarm._make(row) for row in rows]

    def states(self, account_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        if not account_ids:
            return {}
        rows = self.session.execute(
            select(Alarm.account_id, Alarm.name, Alarm.state_value).where(
                Alarm.account_id.in_(list(account_ids))
            )
        )
        return {(a, n): s for a, n, s in rows}

    def transition_rows(self, ids: Sequence[str]) -> dict[str, TransitionAlarm]:
        """These alarms as a state change reads them, by id; for many alarms at once.

        Locked in id order on PostgreSQL: of two evaluators in the same round, the second waits
        for the first, then reads the state it wrote and leaves the alarm alone (no second
        history item, no second event). SQLite's writers are serialized already.
        """
        connection = self.session.connection()
        reader = _Reader(connection, TransitionAlarm._fields)
        lock = " ORDER BY id FOR UPDATE" if connection.dialect.name == "postgresql" else ""
        ordered = sorted(ids)
        found: dict[str, TransitionAlarm] = {}
        for start in range(0, len(ordered), 500):
            part = tuple(ordered[start : start + 500])
            marks = placeholders(connection, len(part))
            for row in reader.rows(f"id IN ({marks}){lock}", part):
                alarm = TransitionAlarm._make(row)
                found[alarm.id] = alarm
        return found

    def set_states(self, states: Sequence[NewState], now: datetime) -> None:
        """Bulk state update, every alarm's at ``now`` (bound once, not per row)."""
        if not states:
            return
        connection = self.session.connection()
        mark = placeholder(connection)
        when = binder(Alarm.__table__.c.state_updated_at, connection)(now)
        connection.exec_driver_sql(
            f"UPDATE {Alarm.__tablename__} SET state_value = {mark}, state_reason = {mark}, "
            f"state_reason_data = {mark}, state_updated_at = {mark} WHERE id = {mark}",
            [(s.value, s.reason, s.reason_data, when, s.alarm_id) for s in states],
        )

    def history_writer(self, moment: datetime) -> HistoryWriter:
        return HistoryWriter(self.session.connection(), moment)

    def delete(self, alarm: Alarm) -> None:
        self.session.delete(alarm)
        self.session.flush()

    def history(
        self, account_id: str, name: str, page: PageRequest, item_type: str | None = None
    ) -> Sequence[AlarmHistory]:
        # Newest first, as CloudWatch lists it; ids sort by creation time.
        query = (
            select(AlarmHistory)
            .where(AlarmHistory.account_id == account_id, AlarmHistory.alarm_name == name)
            .order_by(AlarmHistory.id.desc())
            .limit(page.page_size + 1)
        )
        if item_type:
            query = query.where(AlarmHistory.item_type == item_type)
        if page.after:
            query = query.where(AlarmHistory.id < page.after)
        return self.session.execute(query).scalars().all()

    def expire_history(self, before: datetime) -> None:
        self.session.execute(delete(AlarmHistory).where(AlarmHistory.timestamp < before))
