"""Every training-job query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mlgov.server.kit.pagination import PageRequest
from mlgov.server.training.schemas import JobStatus
from mlgov.server.training.tables import TrainingJob


class TrainingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def job(self, account_id: str, name: str) -> TrainingJob | None:
        return self.session.execute(
            select(TrainingJob).where(
                TrainingJob.account_id == account_id, TrainingJob.name == name
            )
        ).scalar_one_or_none()

    def job_by_id(self, job_id: str) -> TrainingJob | None:
        return self.session.get(TrainingJob, job_id)

    def job_by_trigger(self, account_id: str, trigger_key: str) -> TrainingJob | None:
        return self.session.execute(
            select(TrainingJob).where(
                TrainingJob.account_id == account_id, TrainingJob.trigger_key == trigger_key
            )
        ).scalar_one_or_none()

    def jobs(
        self, account_id: str, page: PageRequest, *, status: str | None = None
    ) -> Sequence[TrainingJob]:
        query = (
            select(TrainingJob)
            .where(TrainingJob.account_id == account_id)
            .order_by(TrainingJob.id)
            .limit(page.page_size + 1)
        )
        if status is not None:
            query = query.where(TrainingJob.status == status)
        if page.after:
            query = query.where(TrainingJob.id > page.after)
        return self.session.execute(query).scalars().all()

    def claim_next(self, now: datetime) -> TrainingJob | None:
        """The oldest pending job, or a running one whose runner let its lease lapse; locked."""
        query = (
            select(TrainingJob)
            .where(
                or_(
                    TrainingJob.status == JobStatus.PENDING.value,
                    (TrainingJob.status == JobStatus.IN_PROGRESS.value)
                    & (TrainingJob.lease_expires_at < now),
                )
            )
            .order_by(TrainingJob.created_at, TrainingJob.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return self.session.execute(query).scalar_one_or_none()
