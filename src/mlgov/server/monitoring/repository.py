"""Every monitoring query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mlgov.server.kit.pagination import PageRequest
from mlgov.server.monitoring.schemas import ExecutionStatus, MonitorStatus
from mlgov.server.monitoring.tables import Baseline, Monitor, MonitoringExecution


class MonitoringRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # --- baselines ---

    def baseline(self, account_id: str, name: str) -> Baseline | None:
        return self.session.execute(
            select(Baseline).where(Baseline.account_id == account_id, Baseline.name == name)
        ).scalar_one_or_none()

    def baseline_by_id(self, baseline_id: str) -> Baseline | None:
        return self.session.get(Baseline, baseline_id)

    def baselines(self, account_id: str, page: PageRequest) -> Sequence[Baseline]:
        query = select(Baseline).where(Baseline.account_id == account_id).order_by(Baseline.name)
        if page.after:
            query = query.where(Baseline.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def monitors_using(self, baseline_id: str) -> list[str]:
        return list(
            self.session.execute(
                select(Monitor.name).where(Monitor.baseline_id == baseline_id)
            ).scalars()
        )

    # --- monitors ---

    def monitor(self, account_id: str, name: str) -> Monitor | None:
        return self.session.execute(
            select(Monitor).where(Monitor.account_id == account_id, Monitor.name == name)
        ).scalar_one_or_none()

    def monitor_by_id(self, monitor_id: str) -> Monitor | None:
        return self.session.get(Monitor, monitor_id)

    def monitors(
        self,
        account_id: str,
        page: PageRequest,
        endpoint: str | None = None,
        transform_job: str | None = None,
    ) -> Sequence[Monitor]:
        query = select(Monitor).where(Monitor.account_id == account_id).order_by(Monitor.name)
        if endpoint:
            query = query.where(Monitor.endpoint_name == endpoint)
        if transform_job:
            query = query.where(Monitor.transform_job_name == transform_job)
        if page.after:
            query = query.where(Monitor.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def claim_due_monitors(self, now: datetime, limit: int) -> Sequence[Monitor]:
        """Scheduled monitors whose next run is due, locked (skipped by other workers)."""
        query = (
            select(Monitor)
            .where(
                Monitor.status == MonitorStatus.SCHEDULED.value,
                Monitor.next_run_at.is_not(None),
                Monitor.next_run_at <= now,
            )
            .order_by(Monitor.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self.session.execute(query).scalars().all()

    # --- executions ---

    def execution(self, monitor_id: str, execution_id: str) -> MonitoringExecution | None:
        return self.session.execute(
            select(MonitoringExecution).where(
                MonitoringExecution.monitor_id == monitor_id,
                MonitoringExecution.id == execution_id,
            )
        ).scalar_one_or_none()

    def execution_by_id(
        self, execution_id: str, *, for_update: bool = False
    ) -> MonitoringExecution | None:
        query = select(MonitoringExecution).where(MonitoringExecution.id == execution_id)
        if for_update:
            query = query.with_for_update()
        return self.session.execute(query).scalar_one_or_none()

    def executions(
        self, monitor_id: str, page: PageRequest, status: str | None = None
    ) -> Sequence[MonitoringExecution]:
        # Newest first: ids are time-ordered.
        query = (
            select(MonitoringExecution)
            .where(MonitoringExecution.monitor_id == monitor_id)
            .order_by(MonitoringExecution.id.desc())
        )
        if status:
            query = query.where(MonitoringExecution.status == status)
        if page.after:
            query = query.where(MonitoringExecution.id < page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def claim_runnable(self, now: datetime, limit: int) -> Sequence[MonitoringExecution]:
        """Pending executions, and InProgress ones whose worker's lease ran out, locked."""
        query = (
            select(MonitoringExecution)
            .where(
                or_(
                    MonitoringExecution.status == ExecutionStatus.PENDING.value,
                    and_(
                        MonitoringExecution.status.in_(
                            [ExecutionStatus.IN_PROGRESS.value, ExecutionStatus.STOPPING.value]
                        ),
                        MonitoringExecution.lease_until < now,
                    ),
                )
            )
            .order_by(MonitoringExecution.created_at, MonitoringExecution.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return self.session.execute(query).scalars().all()

    def execution_requested(self, monitor_id: str, requested_by: str) -> bool:
        return (
            self.session.execute(
                select(MonitoringExecution.id).where(
                    MonitoringExecution.monitor_id == monitor_id,
                    MonitoringExecution.requested_by == requested_by,
                )
            ).first()
            is not None
        )
