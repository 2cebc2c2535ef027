"""The dashboard's reads: one query per kind of thing, over every account the caller may see."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlgov.server.alarms.tables import Alarm
from mlgov.server.identity.tables import Account
from mlgov.server.monitoring.tables import Monitor, MonitoringExecution
from mlgov.server.registry.repository import RegistryRepository
from mlgov.server.registry.tables import ModelVersion
from mlgov.server.serving.tables import Endpoint


class DashboardRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def endpoints(self, account_ids: Sequence[str] | None) -> Sequence[tuple[Endpoint, Account]]:
        query = select(Endpoint, Account).join(Account, Account.id == Endpoint.account_id)
        if account_ids is not None:
            query = query.where(Endpoint.account_id.in_(account_ids))
        rows = self.session.execute(query.order_by(Account.name, Endpoint.name)).all()
        return [(endpoint, account) for endpoint, account in rows]

    def versions(self, version_ids: Sequence[str]) -> dict[str, ModelVersion]:
        if not version_ids:
            return {}
        rows = self.session.execute(select(ModelVersion).where(ModelVersion.id.in_(version_ids)))
        return {v.id: v for v in rows.scalars()}

    def aliases(self, version_ids: Sequence[str]) -> dict[str, list[str]]:
        return RegistryRepository(self.session).aliases_of(version_ids) if version_ids else {}

    def monitors(self, account_ids: Sequence[str]) -> Sequence[Monitor]:
        if not account_ids:
            return []
        query = select(Monitor).where(Monitor.account_id.in_(account_ids)).order_by(Monitor.name)
        return self.session.execute(query).scalars().all()

    def latest_executions(self, monitor_ids: Sequence[str]) -> dict[str, MonitoringExecution]:
        if not monitor_ids:
            return {}
        newest = (
            select(
                MonitoringExecution.monitor_id,
                func.max(MonitoringExecution.created_at).label("created_at"),
            )
            .where(MonitoringExecution.monitor_id.in_(monitor_ids))
            .group_by(MonitoringExecution.monitor_id)
            .subquery()
        )
        rows = self.session.execute(
            select(MonitoringExecution).join(
                newest,
                (MonitoringExecution.monitor_id == newest.c.monitor_id)
                & (MonitoringExecution.created_at == newest.c.created_at),
            )
        ).scalars()
        return {row.monitor_id: row for row in rows}

    def alarms(self, account_ids: Sequence[str]) -> Sequence[Alarm]:
        if not account_ids:
            return []
        query = select(Alarm).where(Alarm.account_id.in_(account_ids)).order_by(Alarm.name)
        return self.session.execute(query).scalars().all()
