"""Every alarm query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from mlgov.server.alarms.tables import Alarm, AlarmHistory
from mlgov.server.kit.pagination import PageRequest

# What evaluation reads of every metric alarm: plain rows, no ORM identity map.
EVALUATED_COLUMNS = (
    Alarm.id,
    Alarm.account_id,
    Alarm.series_hash,
    Alarm.unit,
    Alarm.statistic,
    Alarm.extended_statistic,
    Alarm.period,
    Alarm.evaluation_periods,
    Alarm.datapoints_to_alarm,
    Alarm.threshold,
    Alarm.comparison_operator,
    Alarm.treat_missing_data,
    Alarm.state_value,
)


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

    def metric_alarm_rows(self) -> Sequence[Row[Any]]:
        return self.session.execute(select(*EVALUATED_COLUMNS).where(Alarm.kind == "metric")).all()

    def states(self, account_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        if not account_ids:
            return {}
        rows = self.session.execute(
            select(Alarm.account_id, Alarm.name, Alarm.state_value).where(
                Alarm.account_id.in_(list(account_ids))
            )
        )
        return {(a, n): s for a, n, s in rows}

    def rows_by_ids(self, ids: Sequence[str]) -> dict[str, Row[Any]]:
        """Every column of these alarms as plain rows (no ORM identity map), by id."""
        table = Alarm.__table__
        found: dict[str, Row[Any]] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            for row in self.session.execute(select(table).where(table.c.id.in_(part))):
                found[row.id] = row
        return found

    def set_states(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk state update: dicts of ``b_id`` and the four state columns."""
        if not rows:
            return
        table = Alarm.__table__
        assert isinstance(table, Table)
        self.session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                state_value=bindparam("state_value"),
                state_reason=bindparam("state_reason"),
                state_reason_data=bindparam("state_reason_data"),
                state_updated_at=bindparam("state_updated_at"),
            ),
            list(rows),
        )

    def add_history(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(AlarmHistory), list(rows))

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
