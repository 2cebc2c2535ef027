"""Every event bus query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mlgov.server.events.tables import (
    ArchivedEvent,
    EventArchive,
    EventBus,
    EventBusPermission,
    EventDelivery,
    EventReplay,
    EventRule,
    EventTarget,
)
from mlgov.server.kit.pagination import PageRequest

PENDING = "PENDING"
SUCCEEDED = "SUCCEEDED"
DEAD = "DEAD"


class EventsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # buses
    def bus(self, account_id: str, name: str) -> EventBus | None:
        return self.session.execute(
            select(EventBus).where(EventBus.account_id == account_id, EventBus.name == name)
        ).scalar_one_or_none()

    def bus_by_id(self, bus_id: str) -> EventBus | None:
        return self.session.get(EventBus, bus_id)

    def buses(self, account_id: str, page: PageRequest) -> Sequence[EventBus]:
        query = select(EventBus).where(EventBus.account_id == account_id).order_by(EventBus.name)
        if page.after:
            query = query.where(EventBus.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def permission(self, bus_id: str, grantee_account_id: str) -> EventBusPermission | None:
        return self.session.execute(
            select(EventBusPermission).where(
                EventBusPermission.bus_id == bus_id,
                EventBusPermission.grantee_account_id == grantee_account_id,
            )
        ).scalar_one_or_none()

    def permissions(self, bus_id: str) -> Sequence[EventBusPermission]:
        return (
            self.session.execute(
                select(EventBusPermission)
                .where(EventBusPermission.bus_id == bus_id)
                .order_by(EventBusPermission.grantee_account_id)
            )
            .scalars()
            .all()
        )

    # rules and targets
    def rule(self, bus_id: str, name: str) -> EventRule | None:
        return self.session.execute(
            select(EventRule).where(EventRule.bus_id == bus_id, EventRule.name == name)
        ).scalar_one_or_none()

    def rules(self, bus_id: str, page: PageRequest) -> Sequence[EventRule]:
        query = select(EventRule).where(EventRule.bus_id == bus_id).order_by(EventRule.name)
        if page.after:
            query = query.where(EventRule.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def enabled_rules(self, bus_id: str, names: Sequence[str] | None = None) -> Sequence[EventRule]:
        query = select(EventRule).where(EventRule.bus_id == bus_id, EventRule.state == "ENABLED")
        if names is not None:
            query = query.where(EventRule.name.in_(names))
        return self.session.execute(query.order_by(EventRule.name)).scalars().all()

    def targets(self, rule_ids: Sequence[str]) -> Sequence[EventTarget]:
        if not rule_ids:
            return []
        return (
            self.session.execute(
                select(EventTarget)
                .where(EventTarget.rule_id.in_(rule_ids))
                .order_by(EventTarget.rule_id, EventTarget.target_id)
            )
            .scalars()
            .all()
        )

    def target(self, rule_id: str, target_id: str) -> EventTarget | None:
        return self.session.execute(
            select(EventTarget).where(
                EventTarget.rule_id == rule_id, EventTarget.target_id == target_id
            )
        ).scalar_one_or_none()

    def target_by_id(self, row_id: str) -> EventTarget | None:
        return self.session.get(EventTarget, row_id)

    # deliveries
    def claim_due(self, now: datetime, limit: int) -> Sequence[EventDelivery]:
        """Due deliveries, locked against other workers until this transaction ends."""
        return (
            self.session.execute(
                select(EventDelivery)
                .where(EventDelivery.status == PENDING, EventDelivery.next_attempt_at <= now)
                .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )

    def deliveries(self, ids: Sequence[str]) -> Sequence[EventDelivery]:
        if not ids:
            return []
        return (
            self.session.execute(select(EventDelivery).where(EventDelivery.id.in_(ids)))
            .scalars()
            .all()
        )

    def dead_letters(
        self, account_id: str, page: PageRequest, rule_name: str | None = None
    ) -> Sequence[EventDelivery]:
        query = select(EventDelivery).where(
            EventDelivery.account_id == account_id, EventDelivery.status == DEAD
        )
        if rule_name:
            query = query.where(EventDelivery.rule_name == rule_name)
        if page.after:
            query = query.where(EventDelivery.id > page.after)
        return (
            self.session.execute(query.order_by(EventDelivery.id).limit(page.page_size + 1))
            .scalars()
            .all()
        )

    def redrive(
        self, account_id: str, now: datetime, ids: Sequence[str] | None, rule_name: str | None
    ) -> int:
        statement = update(EventDelivery).where(
            EventDelivery.account_id == account_id, EventDelivery.status == DEAD
        )
        if ids is not None:
            statement = statement.where(EventDelivery.id.in_(ids))
        if rule_name:
            statement = statement.where(EventDelivery.rule_name == rule_name)
        result = self.session.execute(
            statement.values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                error_code=None,
                error_message=None,
                exhausted_condition=None,
                finished_at=None,
            ).execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # archives and replays
    def archive(self, account_id: str, name: str) -> EventArchive | None:
        return self.session.execute(
            select(EventArchive).where(
                EventArchive.account_id == account_id, EventArchive.name == name
            )
        ).scalar_one_or_none()

    def archives(self, account_id: str, page: PageRequest) -> Sequence[EventArchive]:
        query = (
            select(EventArchive)
            .where(EventArchive.account_id == account_id)
            .order_by(EventArchive.name)
        )
        if page.after:
            query = query.where(EventArchive.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def archives_of_bus(self, bus_id: str) -> Sequence[EventArchive]:
        return (
            self.session.execute(select(EventArchive).where(EventArchive.bus_id == bus_id))
            .scalars()
            .all()
        )

    def archives_with_retention(self) -> Sequence[EventArchive]:
        return (
            self.session.execute(
                select(EventArchive).where(EventArchive.retention_days.is_not(None))
            )
            .scalars()
            .all()
        )

    def event_counts(self, archive_ids: Sequence[str]) -> dict[str, int]:
        if not archive_ids:
            return {}
        rows = self.session.execute(
            select(ArchivedEvent.archive_id, func.count())
            .where(ArchivedEvent.archive_id.in_(archive_ids))
            .group_by(ArchivedEvent.archive_id)
        )
        return {row[0]: int(row[1]) for row in rows}

    def purge_archive(self, archive_id: str, before: datetime) -> int:
        result = self.session.execute(
            delete(ArchivedEvent).where(
                ArchivedEvent.archive_id == archive_id, ArchivedEvent.event_time < before
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def archived_events(
        self, archive_id: str, start: datetime, end: datetime, after: int, limit: int
    ) -> Sequence[ArchivedEvent]:
        return (
            self.session.execute(
                select(ArchivedEvent)
                .where(
                    ArchivedEvent.archive_id == archive_id,
                    ArchivedEvent.event_time >= start,
                    ArchivedEvent.event_time < end,
                    ArchivedEvent.position > after,
                )
                .order_by(ArchivedEvent.position)
                .limit(limit)
            )
            .scalars()
            .all()
        )

    def replay(self, account_id: str, name: str) -> EventReplay | None:
        return self.session.execute(
            select(EventReplay).where(
                EventReplay.account_id == account_id, EventReplay.name == name
            )
        ).scalar_one_or_none()

    def replays(self, account_id: str, page: PageRequest) -> Sequence[EventReplay]:
        query = (
            select(EventReplay)
            .where(EventReplay.account_id == account_id)
            .order_by(EventReplay.name)
        )
        if page.after:
            query = query.where(EventReplay.name > page.after)
        return self.session.execute(query.limit(page.page_size + 1)).scalars().all()

    def active_replays(self, limit: int = 10) -> Sequence[EventReplay]:
        return (
            self.session.execute(
                select(EventReplay)
                .where(EventReplay.state.in_(("STARTING", "RUNNING")))
                .order_by(EventReplay.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
